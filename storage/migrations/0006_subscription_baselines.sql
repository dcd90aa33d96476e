-- A subscription's baseline: the direction's price when the subscription was made (or, if the
-- direction had none yet, its first price after). A subscription never mailed compares the
-- direction's newest price with it, so that its first change is mailed the same day.
ALTER TABLE subscriptions ADD COLUMN baseline_price REAL;
ALTER TABLE subscriptions ADD COLUMN baseline_currency TEXT;

-- Subscriptions made before this and never mailed keep what they compared with until now: the
-- direction's price on the day before its newest (or its only price, if it has one day).
UPDATE subscriptions
SET (baseline_price, baseline_currency) = (
    SELECT price, currency FROM (
        SELECT price, currency, day FROM direction_prices
        WHERE direction_id = subscriptions.direction_id ORDER BY day DESC LIMIT 2)
    ORDER BY day LIMIT 1)
WHERE notified_price IS NULL;

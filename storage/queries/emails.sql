-- Emails of the subscriptions family (channel 'email'), read for storage/emails.py: the price
-- changes that become price-change emails, and which queued ones must not go out. (Writing them is
-- storage/messages.py's.) A message's `payload` is the JSON it is rendered from:
-- {"kind": "confirmation" | "price_change", "to": ..., "subscriber_id": ..., "subscription_id": ...,
-- "price": ..., "currency": ..., ...}.

-- name: price_changes_to_email
-- Active subscriptions of confirmed subscribers whose direction's newest price differs from the
-- baseline: the price last emailed to them, else the subscription's own baseline (the direction's
-- price when it was made, or its first price after), else the direction's price on the previous
-- day it has. Changes that already have an email (not a cancelled one) are left out. The dedupe
-- key is made here, so that its text form of the price is always SQLite's.
WITH changes AS (
    SELECT s.id AS subscription_id, s.subscriber_id, s.qkey, sb.email, sb.contact_id,
           cur.day, cur.price, cur.currency, cur.details,
           coalesce(s.notified_price, s.baseline_price, prev.price) AS old_price,
           CASE WHEN s.notified_price IS NOT NULL THEN s.notified_currency
                WHEN s.baseline_price IS NOT NULL THEN s.baseline_currency
                ELSE prev.currency END AS old_currency
    FROM subscriptions s
    JOIN subscribers sb ON sb.id = s.subscriber_id
    JOIN direction_prices cur ON cur.direction_id = s.direction_id AND cur.day = (
        SELECT max(day) FROM direction_prices WHERE direction_id = s.direction_id)
    LEFT JOIN direction_prices prev ON prev.direction_id = s.direction_id AND prev.day = (
        SELECT max(day) FROM direction_prices WHERE direction_id = s.direction_id AND day < cur.day)
    WHERE s.unsubscribed_at IS NULL AND sb.confirmed_at IS NOT NULL AND sb.email IS NOT NULL
      AND (:email IS NULL OR sb.email = :email)
)
SELECT c.*,
       'price:' || c.subscription_id || ':' || c.day || ':' || c.price || ':' || c.currency
           AS dedupe_key
FROM changes c
WHERE c.old_price IS NOT NULL
  AND (round(c.old_price, 2) <> round(c.price, 2) OR c.old_currency IS NOT c.currency)
  AND NOT EXISTS (
      SELECT 1 FROM messages m
      WHERE m.dedupe_key = 'price:' || c.subscription_id || ':' || c.day || ':' || c.price
                           || ':' || c.currency
        AND m.status <> 'cancelled')
ORDER BY c.subscription_id;

-- name: superseded_price_emails
-- Price emails not sent yet whose price is no longer the direction's newest: the subscriber gets
-- the newest change instead (or none, if the price went back to what they were last told).
SELECT m.id, json_extract(m.payload, '$.subscriber_id') AS subscriber_id
FROM messages m
WHERE m.channel = 'email' AND m.mailing_id IS NULL AND m.status = 'pending'
  AND json_extract(m.payload, '$.kind') = 'price_change'
  AND (:email IS NULL OR lower(json_extract(m.payload, '$.to')) = :email)
  AND NOT EXISTS (
      SELECT 1 FROM subscriptions s
      JOIN direction_prices dp ON dp.direction_id = s.direction_id
      WHERE s.id = json_extract(m.payload, '$.subscription_id')
        AND dp.day = (SELECT max(day) FROM direction_prices WHERE direction_id = s.direction_id)
        AND round(dp.price, 2) = round(json_extract(m.payload, '$.price'), 2)
        AND dp.currency = json_extract(m.payload, '$.currency'))
ORDER BY m.next_attempt_at, m.id;

-- name: undeliverable_emails
-- Of the messages :ids, the price emails whose subscription was unsubscribed or whose subscriber
-- is not confirmed: they are cancelled instead of sent.
SELECT m.id FROM messages m
WHERE m.id IN (SELECT value FROM json_each(:ids))
  AND json_extract(m.payload, '$.kind') = 'price_change'
  AND NOT EXISTS (
      SELECT 1 FROM subscriptions s JOIN subscribers sb ON sb.id = s.subscriber_id
      WHERE s.id = json_extract(m.payload, '$.subscription_id')
        AND s.unsubscribed_at IS NULL AND sb.confirmed_at IS NOT NULL);

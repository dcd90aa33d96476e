-- Emails of the subscriptions family (channel 'email'): the outbox's claims and outcomes, and
-- the price changes that become price-change emails. A message's `payload` is the JSON it is
-- rendered from: {"kind": "confirmation" | "price_change", "to": ..., "subscriber_id": ...,
-- "subscription_id": ..., "price": ..., "currency": ..., ...}.

-- name: reset_sending_emails
-- After a crash: emails left in flight go back to pending, due now.
UPDATE messages SET status = 'pending', next_attempt_at = :now, updated_at = :now
WHERE channel = 'email' AND status = 'sending';

-- name: count_due_emails
SELECT count(*) FROM messages m
WHERE m.channel = 'email' AND m.status = 'pending' AND m.next_attempt_at <= :now
  AND (:to IS NULL OR lower(json_extract(m.payload, '$.to')) = :to);

-- name: due_emails
-- `deliverable` is 0 for a price email whose subscription was unsubscribed or whose subscriber
-- is not confirmed: such an email is cancelled instead of sent.
SELECT m.id, m.contact_id, m.attempts, m.payload,
       json_extract(m.payload, '$.kind') IS NOT 'price_change' OR EXISTS (
           SELECT 1 FROM subscriptions s JOIN subscribers sb ON sb.id = s.subscriber_id
           WHERE s.id = json_extract(m.payload, '$.subscription_id')
             AND s.unsubscribed_at IS NULL AND sb.confirmed_at IS NOT NULL) AS deliverable
FROM messages m
WHERE m.channel = 'email' AND m.status = 'pending' AND m.next_attempt_at <= :now
  AND (:to IS NULL OR lower(json_extract(m.payload, '$.to')) = :to)
ORDER BY m.next_attempt_at, m.id
LIMIT :limit;

-- name: mark_emails_sending
UPDATE messages SET status = 'sending', updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending';

-- name: cancel_undeliverable_emails
UPDATE messages
SET status = 'cancelled', last_error = :reason, next_attempt_at = NULL, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending';

-- name: mark_subscription_notified
-- The price a subscriber was last told: the baseline of the next price-change email.
UPDATE subscriptions
SET notified_price = :price, notified_currency = :currency, updated_at = :now
WHERE id = :subscription_id;

-- name: next_email_due
SELECT min(next_attempt_at) FROM messages WHERE channel = 'email' AND status = 'pending';

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

-- name: cancel_superseded_price_emails
-- Price emails not sent yet whose price is no longer the direction's newest: the subscriber gets
-- the newest change instead (or none, if the price went back to what they were last told).
UPDATE messages
SET status = 'cancelled', last_error = 'superseded: the price changed again before it was sent',
    next_attempt_at = NULL, updated_at = :now
WHERE channel = 'email' AND status = 'pending'
  AND json_extract(payload, '$.kind') = 'price_change'
  AND (:email IS NULL OR lower(json_extract(payload, '$.to')) = :email)
  AND NOT EXISTS (
      SELECT 1 FROM subscriptions s
      JOIN direction_prices dp ON dp.direction_id = s.direction_id
      WHERE s.id = json_extract(messages.payload, '$.subscription_id')
        AND dp.day = (SELECT max(day) FROM direction_prices WHERE direction_id = s.direction_id)
        AND round(dp.price, 2) = round(json_extract(messages.payload, '$.price'), 2)
        AND dp.currency = json_extract(messages.payload, '$.currency'))
RETURNING id, json_extract(payload, '$.subscriber_id') AS subscriber_id;

-- name: insert_price_email
-- One email per change: a second run finds the key taken and changes nothing, unless the email
-- of that change was cancelled (superseded, or unsubscribed before a re-subscription): then it
-- is due again.
INSERT INTO messages (contact_id, channel, direction, status, attempts, next_attempt_at, payload,
                      dedupe_key, created_at, updated_at)
VALUES (:contact_id, 'email', 'out', 'pending', 0, :now, :payload, :dedupe_key, :now, :now)
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO UPDATE
SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at,
    payload = excluded.payload, last_error = NULL, updated_at = excluded.updated_at
WHERE messages.status = 'cancelled';

-- name: total_changes
SELECT total_changes();

-- Subscribers and their subscriptions (seed 001), as the subscription API reads and writes them.

-- name: subscriber_by_id
SELECT * FROM subscribers WHERE id = :id;

-- name: subscriber_by_passportuid
SELECT * FROM subscribers WHERE passportuid = :passportuid;

-- name: subscriber_by_email
SELECT * FROM subscribers WHERE email = :email;

-- name: insert_subscriber
INSERT INTO subscribers (id, contact_id, email, passportuid, session_sha256, created_at, updated_at)
VALUES (:id, :contact_id, :email, :passportuid, :session_sha256, :now, :now);

-- name: update_subscriber_identity
-- A changed email is a new, unconfirmed address (and maybe another contact's: see subscribers.py).
UPDATE subscribers
SET contact_id = :contact_id,
    passportuid = coalesce(:passportuid, passportuid),
    session_sha256 = coalesce(:session_sha256, session_sha256),
    confirmed_at = CASE WHEN email IS :email THEN confirmed_at END,
    confirmation_sent_at = CASE WHEN email IS :email THEN confirmation_sent_at END,
    email = :email,
    updated_at = :now
WHERE id = :id;

-- name: passports_without_email
SELECT sb.id, sb.passportuid FROM subscribers sb
WHERE sb.email IS NULL AND sb.passportuid IS NOT NULL
  AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.subscriber_id = sb.id AND s.unsubscribed_at IS NULL)
ORDER BY sb.created_at, sb.id;

-- name: set_passport_email
-- The account's own address: confirmed by the account service, not by a link.
UPDATE subscribers SET email = :email, contact_id = :contact_id, confirmed_at = :now, updated_at = :now
WHERE id = :id AND email IS NULL;

-- name: mark_confirmed
UPDATE subscribers SET confirmed_at = coalesce(confirmed_at, :now), updated_at = :now WHERE id = :id;

-- name: mark_confirmation_sent
UPDATE subscribers SET confirmation_sent_at = :now, updated_at = :now WHERE id = :id;

-- name: upsert_direction
INSERT INTO directions (qkey, date_range, filter, created_at) VALUES (:qkey, :date_range, :filter, :now)
ON CONFLICT (qkey, date_range, filter) DO UPDATE SET qkey = excluded.qkey
RETURNING id;

-- name: upsert_subscription
-- Subscribing again to the same qkey updates the subscription (and revives an unsubscribed one);
-- the price last emailed and the baseline only carry over while the direction stays the same.
-- The baseline is the direction's newest price now (NULL if it has none yet: then the price
-- updates set it from its first price).
INSERT INTO subscriptions (subscriber_id, direction_id, qkey, date_range, filter, filter_url_postfix,
                           email_source, baseline_price, baseline_currency, created_at, updated_at)
SELECT :subscriber_id, :direction_id, :qkey, :date_range, :filter, :filter_url_postfix, :email_source,
       latest.price, latest.currency, :now, :now
FROM (SELECT 1) LEFT JOIN (
    SELECT price, currency FROM direction_prices WHERE direction_id = :direction_id
    ORDER BY day DESC LIMIT 1) latest
WHERE true
ON CONFLICT (subscriber_id, qkey) DO UPDATE
SET notified_price = CASE WHEN direction_id = excluded.direction_id THEN notified_price END,
    notified_currency = CASE WHEN direction_id = excluded.direction_id THEN notified_currency END,
    baseline_price = CASE WHEN direction_id = excluded.direction_id AND baseline_price IS NOT NULL
                          THEN baseline_price ELSE excluded.baseline_price END,
    baseline_currency = CASE WHEN direction_id = excluded.direction_id AND baseline_price IS NOT NULL
                             THEN baseline_currency ELSE excluded.baseline_currency END,
    direction_id = excluded.direction_id, date_range = excluded.date_range, filter = excluded.filter,
    filter_url_postfix = excluded.filter_url_postfix, email_source = excluded.email_source,
    updated_at = excluded.updated_at, unsubscribed_at = NULL;

-- name: active_subscriptions
SELECT qkey, date_range, filter_url_postfix FROM subscriptions
WHERE subscriber_id = :subscriber_id AND unsubscribed_at IS NULL
ORDER BY id;

-- name: subscription_to_qkey
-- With the point names of the direction's newest price, for the unsubscribe page.
SELECT s.qkey, s.unsubscribed_at,
       CASE WHEN json_valid(p.details) THEN json_extract(p.details, '$.point_from') END AS point_from,
       CASE WHEN json_valid(p.details) THEN json_extract(p.details, '$.point_to') END AS point_to
FROM subscriptions s
LEFT JOIN direction_prices p ON p.direction_id = s.direction_id AND p.day = (
    SELECT max(day) FROM direction_prices WHERE direction_id = s.direction_id)
WHERE s.subscriber_id = :subscriber_id AND s.qkey = :qkey;

-- name: unsubscribe_all
UPDATE subscriptions SET unsubscribed_at = :now, updated_at = :now
WHERE subscriber_id = :subscriber_id AND unsubscribed_at IS NULL;

-- name: unsubscribe_qkey
UPDATE subscriptions SET unsubscribed_at = coalesce(unsubscribed_at, :now), updated_at = :now
WHERE subscriber_id = :subscriber_id AND qkey = :qkey;

-- name: mark_subscription_notified
-- The price a subscriber was last told: the baseline of the next price-change email.
UPDATE subscriptions
SET notified_price = :price, notified_currency = :currency, updated_at = :now
WHERE id = :subscription_id;

-- name: move_subscribers
-- A merge of two contacts that are one person: the other's subscribers become this one's.
UPDATE subscribers SET contact_id = :to_id, updated_at = :now WHERE contact_id = :from_id;

-- name: subscription_state
-- Whether the subscriber has this subscription, and whether it is active (unsubscribed_at NULL).
SELECT unsubscribed_at FROM subscriptions WHERE subscriber_id = :subscriber_id AND qkey = :qkey;

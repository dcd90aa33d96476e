-- What the admin UI's subscription pages read (storage/subscriptions_admin.py): subscribers,
-- directions and their prices, the emails of the subscriptions family, the jobs' last runs. Only
-- reads: each table keeps its one writer. Lists are keyset pages (newest first, below a cursor)
-- that stop at :limit rows; a count on a list is capped at :cap + 1 (shown as "more than :cap").

-- name: subs_admin_subscribers_page
-- Newest first below (:before_at, :before_id), of one state ('' any: confirmed, waiting = an
-- address not confirmed yet, no_email = a passport whose address is not known) and, if :pattern
-- is not NULL, an email LIKE :pattern; with the number of directions each is subscribed to now.
SELECT sb.id, sb.contact_id, sb.email, sb.passportuid, sb.confirmed_at, sb.confirmation_sent_at, sb.created_at,
       (SELECT count(*) FROM subscriptions s WHERE s.subscriber_id = sb.id AND s.unsubscribed_at IS NULL)
           AS directions
FROM subscribers sb INDEXED BY subscribers_created
WHERE (sb.created_at, sb.id) < (:before_at, :before_id)
  AND (:state = '' OR (:state = 'confirmed' AND sb.confirmed_at IS NOT NULL)
       OR (:state = 'waiting' AND sb.confirmed_at IS NULL AND sb.email IS NOT NULL)
       OR (:state = 'no_email' AND sb.email IS NULL))
  AND (:pattern IS NULL OR sb.email LIKE :pattern ESCAPE '\')
ORDER BY sb.created_at DESC, sb.id DESC LIMIT :limit;

-- name: subs_admin_directions_page
-- Directions someone is subscribed to now, newest first below id :before, whose qkey contains :q
-- ('' any): subscribers (capped), the newest day's price and when the price index was last asked.
SELECT d.id, d.qkey, d.date_range, d.filter, d.created_at, d.checked_at,
       (SELECT count(*) FROM (SELECT 1 FROM subscriptions s INDEXED BY subscriptions_direction
                              WHERE s.direction_id = d.id AND s.unsubscribed_at IS NULL LIMIT :cap + 1))
           AS subscribers,
       p.day, p.price, p.currency, p.updated_at
FROM directions d
LEFT JOIN direction_prices p ON p.direction_id = d.id AND p.day = (
    SELECT max(day) FROM direction_prices WHERE direction_id = d.id)
WHERE d.id < :before
  AND EXISTS (SELECT 1 FROM subscriptions s INDEXED BY subscriptions_direction
              WHERE s.direction_id = d.id AND s.unsubscribed_at IS NULL)
  AND (:q = '' OR instr(d.qkey, :q) > 0)
ORDER BY d.id DESC LIMIT :limit;

-- name: subs_admin_direction
-- One direction: its subscribers now (counted, from the index) and the point names of its newest price.
SELECT d.id, d.qkey, d.date_range, d.filter, d.created_at, d.checked_at,
       (SELECT count(*) FROM subscriptions s INDEXED BY subscriptions_direction
        WHERE s.direction_id = d.id AND s.unsubscribed_at IS NULL) AS subscribers,
       CASE WHEN json_valid(p.details) THEN json_extract(p.details, '$.point_from') END AS point_from,
       CASE WHEN json_valid(p.details) THEN json_extract(p.details, '$.point_to') END AS point_to
FROM directions d
LEFT JOIN direction_prices p ON p.direction_id = d.id AND p.day = (
    SELECT max(day) FROM direction_prices WHERE direction_id = d.id)
WHERE d.id = :id;

-- name: subs_admin_direction_prices
-- A direction's minimum price per day, the newest :limit days, newest first (the primary key's order).
SELECT day, price, currency, updated_at FROM direction_prices
WHERE direction_id = :id ORDER BY day DESC LIMIT :limit;

-- name: subs_admin_direction_subscribers
-- The newest :limit active subscriptions of a direction, with their subscriber.
SELECT s.id, s.created_at, s.email_source, s.notified_price, s.notified_currency, s.baseline_price,
       s.baseline_currency, sb.id AS subscriber_id, sb.contact_id, sb.email, sb.passportuid, sb.confirmed_at,
       sb.confirmation_sent_at
FROM subscriptions s INDEXED BY subscriptions_direction
JOIN subscribers sb ON sb.id = s.subscriber_id
WHERE s.direction_id = :id AND s.unsubscribed_at IS NULL
ORDER BY s.id DESC LIMIT :limit;

-- name: subs_admin_emails_page
-- The family's emails newest first below id :before; a price email with its subscription's direction.
SELECT m.id, m.status, m.attempts, m.created_at, m.sent_at, m.last_error,
       json_extract(m.payload, '$.kind') AS kind, json_extract(m.payload, '$.to') AS recipient,
       json_extract(m.payload, '$.subscriber_id') AS subscriber_id,
       json_extract(m.payload, '$.price') AS price, json_extract(m.payload, '$.currency') AS currency,
       s.direction_id, s.qkey
FROM messages m INDEXED BY messages_emails
LEFT JOIN subscriptions s ON s.id = json_extract(m.payload, '$.subscription_id')
WHERE m.channel = 'email' AND m.id < :before
ORDER BY m.id DESC LIMIT :limit;

-- name: subs_admin_emails_of_status_page
-- The same, of one status.
SELECT m.id, m.status, m.attempts, m.created_at, m.sent_at, m.last_error,
       json_extract(m.payload, '$.kind') AS kind, json_extract(m.payload, '$.to') AS recipient,
       json_extract(m.payload, '$.subscriber_id') AS subscriber_id,
       json_extract(m.payload, '$.price') AS price, json_extract(m.payload, '$.currency') AS currency,
       s.direction_id, s.qkey
FROM messages m INDEXED BY messages_emails_status
LEFT JOIN subscriptions s ON s.id = json_extract(m.payload, '$.subscription_id')
WHERE m.channel = 'email' AND m.status = :status AND m.id < :before
ORDER BY m.id DESC LIMIT :limit;

-- name: subs_admin_job_run
-- When a recurring job's lease was last taken and given back (finished_at NULL: a run is going).
SELECT started_at, finished_at FROM job_runs WHERE job = :job;

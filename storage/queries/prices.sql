-- Minimum prices of directions: which directions to ask the price index about, and its answers
-- per direction and day. A direction's forward date is the qkey's third part
-- (<from>_<to>_<YYYY-MM-DD>_...); its latest acceptable day is that date plus its date range.

-- name: prices_directions_to_update
-- Directions someone is still subscribed to and that can still be flown; `since` (or NULL) leaves
-- out those asked at or after that time, so an interrupted run can be resumed.
SELECT d.id, d.qkey, d.date_range, d.filter
FROM (SELECT *, substr(qkey, instr(qkey, '_') + 1) AS tail FROM directions) d
WHERE EXISTS (SELECT 1 FROM subscriptions s WHERE s.direction_id = d.id AND s.unsubscribed_at IS NULL)
  AND date(substr(d.tail, instr(d.tail, '_') + 1, 10), '+' || d.date_range || ' days') >= :today
  AND (:since IS NULL OR d.checked_at IS NULL OR d.checked_at < :since)
ORDER BY d.id;

-- name: prices_directions_to_preheat
-- Directions of subscriptions made since :created_since that have no price at all yet.
SELECT d.id, d.qkey, d.date_range, d.filter
FROM (SELECT *, substr(qkey, instr(qkey, '_') + 1) AS tail FROM directions
      WHERE id IN (SELECT direction_id FROM subscriptions
                   WHERE created_at >= :created_since AND unsubscribed_at IS NULL)) d
WHERE NOT EXISTS (SELECT 1 FROM direction_prices p WHERE p.direction_id = d.id)
  AND date(substr(d.tail, instr(d.tail, '_') + 1, 10), '+' || d.date_range || ' days') >= :today
ORDER BY d.id;

-- name: prices_upsert
-- The price index's answer of the day; a later answer the same day replaces it.
INSERT INTO direction_prices (direction_id, day, price, currency, details, updated_at)
VALUES (:direction_id, :day, :price, :currency, :details, :now)
ON CONFLICT (direction_id, day) DO UPDATE
SET price = excluded.price, currency = excluded.currency, details = excluded.details,
    updated_at = excluded.updated_at;

-- name: prices_set_first_baselines
-- A subscription made before its direction had any price starts from the first one stored.
UPDATE subscriptions SET baseline_price = :price, baseline_currency = :currency
WHERE direction_id = :direction_id AND baseline_price IS NULL AND unsubscribed_at IS NULL;

-- name: prices_mark_checked
UPDATE directions SET checked_at = :now WHERE id IN (SELECT value FROM json_each(:ids));

-- name: prices_insert_direction
INSERT INTO directions (qkey, date_range, filter, created_at)
VALUES (:qkey, :date_range, :filter, :now)
ON CONFLICT (qkey, date_range, filter) DO NOTHING;

-- name: prices_direction_id
SELECT id FROM directions WHERE qkey = :qkey AND date_range = :date_range AND filter = :filter;

-- name: prices_filtered_directions
SELECT id, qkey, date_range, filter FROM directions WHERE qkey = :qkey AND filter != '' ORDER BY id;

-- name: prices_of_direction
SELECT direction_id, day, price, currency, details, updated_at
FROM direction_prices WHERE direction_id = :direction_id ORDER BY day;

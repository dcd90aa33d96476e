-- Mailings of the notification service and the queries behind their statistics.

-- name: insert_mailing
INSERT INTO mailings (datetime_start, datetime_end, message_text, filter_tags, filter_op_codes,
                      window_start, window_end, created_at, updated_at)
VALUES (:datetime_start, :datetime_end, :message_text, :filter_tags, :filter_op_codes,
        :window_start, :window_end, :now, :now)
RETURNING id;

-- name: get_mailing_row
SELECT * FROM mailings WHERE id = :id AND deleted_at IS NULL;

-- name: get_mailing
SELECT * FROM api_mailings WHERE id = :id;

-- name: list_mailings
SELECT * FROM api_mailings ORDER BY id LIMIT :limit OFFSET :offset;

-- name: list_mailings_with_counts
-- statuses: a JSON object {status: count} of the statuses the mailing has messages in.
SELECT a.*, (SELECT json_group_object(status, count) FROM mailing_status_counts
             WHERE mailing_id = a.id AND count > 0) AS statuses
FROM api_mailings a ORDER BY a.id LIMIT :limit OFFSET :offset;

-- name: get_mailing_with_counts
SELECT a.*, (SELECT json_group_object(status, count) FROM mailing_status_counts
             WHERE mailing_id = a.id AND count > 0) AS statuses
FROM api_mailings a WHERE a.id = :id;

-- name: count_mailings
SELECT count(*) FROM mailings WHERE deleted_at IS NULL;

-- name: update_mailing
UPDATE mailings
SET datetime_start = :datetime_start, datetime_end = :datetime_end, message_text = :message_text,
    filter_tags = :filter_tags, filter_op_codes = :filter_op_codes,
    window_start = :window_start, window_end = :window_end, updated_at = :now
WHERE id = :id AND deleted_at IS NULL;

-- name: soft_delete_mailing
UPDATE mailings SET deleted_at = :now, updated_at = :now WHERE id = :id AND deleted_at IS NULL;

-- name: mark_fanned_out
UPDATE mailings SET fanned_out_at = :now WHERE id = :id;

-- name: list_mailing_messages
SELECT m.id, m.contact_id AS client_id, c.phone_number, m.status, m.attempts,
       m.created_at, m.sent_at, m.last_error
FROM messages m JOIN contacts c ON c.id = m.contact_id
WHERE m.mailing_id = :id
ORDER BY m.id
LIMIT :limit OFFSET :offset;

-- name: message_totals
SELECT status, sum(count) AS count FROM mailing_status_counts GROUP BY status;

-- name: mailings_to_fan_out
SELECT id FROM mailings
WHERE deleted_at IS NULL AND fanned_out_at IS NULL AND datetime_start <= :now AND datetime_end > :now;

-- name: running_mailings
SELECT m.* FROM mailings m
WHERE m.deleted_at IS NULL AND m.fanned_out_at IS NOT NULL
  AND m.datetime_start <= :now AND m.datetime_end > :now
  AND EXISTS (SELECT 1 FROM messages WHERE mailing_id = m.id AND status = 'pending');

-- name: next_mailing_start
-- Fanned-out mailings count too: an edit may have moved a running mailing's start ahead.
SELECT min(datetime_start) FROM mailings
WHERE deleted_at IS NULL AND datetime_start > :now;

-- name: active_mailings_with_counts
-- The mailings not ended yet (running, then those due), soonest start first, with their counts.
SELECT a.*, (SELECT json_group_object(status, count) FROM mailing_status_counts
             WHERE mailing_id = a.id AND count > 0) AS statuses
FROM api_mailings a JOIN mailings m ON m.id = a.id
WHERE m.datetime_end > :now
ORDER BY m.datetime_start, m.id LIMIT :limit;

-- name: admin_mailings_page
-- The admin UI's list: newest first, a page at a time after :before (an id; keyset, no offset),
-- by state at :now (running, due, ended; '' all) and text containing :q ('' any).
SELECT a.*, m.fanned_out_at, (SELECT json_group_object(status, count) FROM mailing_status_counts
             WHERE mailing_id = a.id AND count > 0) AS statuses
FROM mailings m JOIN api_mailings a ON a.id = m.id
WHERE m.deleted_at IS NULL AND m.id < :before
  AND (:state = '' OR (:state = 'running' AND m.datetime_start <= :now AND m.datetime_end > :now)
       OR (:state = 'due' AND m.datetime_start > :now) OR (:state = 'ended' AND m.datetime_end <= :now))
  AND (:q = '' OR instr(lower(m.message_text), lower(:q)) > 0)
ORDER BY m.id DESC LIMIT :limit;

-- name: admin_mailing_messages_page
-- A mailing's messages in id order, after :after (keyset), of one status ('' any).
SELECT m.id, m.contact_id AS client_id, c.phone_number, m.status, m.attempts,
       m.created_at, m.sent_at, m.next_attempt_at, m.last_error
FROM messages m JOIN contacts c ON c.id = m.contact_id
WHERE m.mailing_id = :id AND m.id > :after AND (:status = '' OR m.status = :status)
ORDER BY m.id LIMIT :limit;

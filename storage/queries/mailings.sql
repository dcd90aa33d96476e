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

-- name: cancel_mailing_messages
UPDATE messages SET status = 'cancelled', updated_at = :now
WHERE mailing_id = :id AND status = 'pending';

-- name: fan_out
-- One message per recipient; a message cancelled by an earlier filter edit comes back.
INSERT INTO messages (contact_id, mailing_id, channel, status, next_attempt_at, created_at, updated_at)
SELECT contact_id, mailing_id, 'sms', 'pending', :now, :now, :now
FROM mailing_recipients WHERE mailing_id = :id
ON CONFLICT (mailing_id, contact_id) DO UPDATE
SET status = 'pending', next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at
WHERE status = 'cancelled';

-- name: cancel_unmatched
UPDATE messages SET status = 'cancelled', updated_at = :now
WHERE mailing_id = :id AND status = 'pending'
  AND contact_id NOT IN (SELECT contact_id FROM mailing_recipients WHERE mailing_id = :id);

-- name: fan_out_to_client
-- A client created or edited while mailings run: it joins those it now matches...
INSERT INTO messages (contact_id, mailing_id, channel, status, next_attempt_at, created_at, updated_at)
SELECT r.contact_id, r.mailing_id, 'sms', 'pending', :now, :now, :now
FROM mailing_recipients r JOIN mailings m ON m.id = r.mailing_id
WHERE r.contact_id = :id AND m.deleted_at IS NULL AND m.fanned_out_at IS NOT NULL AND m.datetime_end > :now
ON CONFLICT (mailing_id, contact_id) DO UPDATE
SET status = 'pending', next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at
WHERE status = 'cancelled';

-- name: cancel_unmatched_for_client
-- ...and leaves, for what is not sent yet, those it no longer matches.
UPDATE messages SET status = 'cancelled', updated_at = :now
WHERE contact_id = :id AND status = 'pending'
  AND mailing_id NOT IN (SELECT mailing_id FROM mailing_recipients WHERE contact_id = :id);

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

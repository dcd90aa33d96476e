-- The dispatch engine's view of mailings and their SMS messages.

-- name: reset_in_flight
-- After a crash: what was in flight is sent again, unless its mailing was deleted meanwhile.
UPDATE messages
SET status = CASE WHEN mailing_id IN (SELECT id FROM mailings WHERE deleted_at IS NOT NULL)
                  THEN 'cancelled' ELSE 'pending' END,
    updated_at = :now
WHERE status = 'sending' AND channel = 'sms';

-- name: mailings_to_fan_out
SELECT id FROM mailings
WHERE deleted_at IS NULL AND fanned_out_at IS NULL AND datetime_start <= :now AND datetime_end > :now;

-- name: expire_ended
UPDATE messages SET status = 'expired', updated_at = :now
WHERE status = 'pending' AND mailing_id IN (
    SELECT id FROM mailings WHERE deleted_at IS NULL AND datetime_end <= :now)
RETURNING mailing_id;

-- name: running_mailings
SELECT m.* FROM mailings m
WHERE m.deleted_at IS NULL AND m.fanned_out_at IS NOT NULL
  AND m.datetime_start <= :now AND m.datetime_end > :now
  AND EXISTS (SELECT 1 FROM messages WHERE mailing_id = m.id AND status = 'pending');

-- name: contact_timezones
SELECT DISTINCT timezone FROM contacts;

-- name: due_messages
SELECT msg.id, msg.mailing_id, msg.contact_id, msg.attempts, c.phone_number, c.timezone
FROM messages msg JOIN contacts c ON c.id = msg.contact_id
WHERE msg.mailing_id = :mailing_id AND msg.status = 'pending' AND msg.next_attempt_at <= :now
  AND c.deleted_at IS NULL
  AND (:zones IS NULL OR c.timezone IN (SELECT value FROM json_each(:zones)))
ORDER BY msg.next_attempt_at
LIMIT :limit;

-- name: mark_sending
UPDATE messages SET status = 'sending', updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending';

-- name: next_mailing_start
-- Fanned-out mailings count too: an edit may have moved a running mailing's start ahead.
SELECT min(datetime_start) FROM mailings
WHERE deleted_at IS NULL AND datetime_start > :now;

-- name: next_retry
SELECT min(next_attempt_at) FROM messages
WHERE mailing_id = :mailing_id AND status = 'pending' AND next_attempt_at > :now;

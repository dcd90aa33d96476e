-- Statements every sending engine shares (SMS dispatch, email outbox).

-- name: record_send_result
-- The outcome of one attempt at a claimed message; a message no longer `sending` is left alone.
UPDATE messages
SET status = :status, attempts = attempts + :tried, body = coalesce(:body, body),
    sent_at = :sent_at, next_attempt_at = :next_attempt_at,
    last_error = CASE WHEN :status = 'sent' THEN NULL ELSE coalesce(:last_error, last_error) END,
    updated_at = :now
WHERE id = :id AND status = 'sending';


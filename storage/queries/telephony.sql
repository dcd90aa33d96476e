-- The telephony family (storage/telephony.py): commands, webhooks as received, calls.

-- name: insert_command
INSERT INTO telephony_commands (command_id, endpoint, mango_path, request, message_id, created_at)
VALUES (:command_id, :endpoint, :mango_path, :request, :message_id, :now)
ON CONFLICT (command_id) DO NOTHING;

-- name: command_answered
UPDATE telephony_commands SET answer_status = :status, answer = :answer, answered_at = :now
WHERE command_id = :command_id;

-- name: command_message
UPDATE telephony_commands SET message_id = :message_id WHERE command_id = :command_id;

-- name: command_completed
-- The result webhook of a command: the first one counts (a repeat changes nothing).
UPDATE telephony_commands SET result = :result, outcome = :outcome, completed_at = :now
WHERE command_id = :command_id AND completed_at IS NULL
RETURNING id, message_id;

-- name: command_by_command_id
-- A command with the SMS it sent, if it sent one: where that stands in the message log.
SELECT c.command_id, c.endpoint, c.mango_path, c.request, c.answer_status, c.answer, c.result, c.outcome,
       CASE WHEN m.id IS NOT NULL
            THEN json_object('id', m.id, 'contact_id', m.contact_id, 'status', m.status, 'last_error', m.last_error)
       END AS message,
       c.created_at, c.answered_at, c.completed_at
FROM telephony_commands AS c LEFT JOIN messages AS m ON m.id = c.message_id
WHERE c.command_id = :command_id;

-- name: message_of_command
SELECT message_id FROM telephony_commands WHERE command_id = :command_id AND message_id IS NOT NULL;

-- name: insert_telephony_event
INSERT INTO telephony_events (kind, path, body, digest, entry_id, call_id, seq, command_id, received_at)
VALUES (:kind, :path, :body, :digest, :entry_id, :call_id, :seq, :command_id, :now)
ON CONFLICT (digest) DO NOTHING
RETURNING id;

-- name: upsert_call_event
-- A call event: the call is created by its first event (whichever that is); its state and
-- parties are those of the event with the highest seq; its start is its earliest event, its
-- answer the earliest Connected one.
INSERT INTO calls (entry_id, state, last_seq, from_number, from_extension, to_number, to_extension, line_number,
                   answered_by, started_at, answered_at, ended_at, created_at, updated_at)
VALUES (:entry_id, :state, :seq, :from_number, :from_extension, :to_number, :to_extension, :line_number,
        CASE WHEN :state = 'Connected' THEN :to_extension END, :at,
        CASE WHEN :state = 'Connected' THEN :at END, CASE WHEN :state = 'Disconnected' THEN :at END, :now, :now)
ON CONFLICT (entry_id) DO UPDATE SET
    state = CASE WHEN excluded.last_seq >= coalesce(last_seq, -1) THEN excluded.state ELSE state END,
    last_seq = max(coalesce(last_seq, -1), excluded.last_seq),
    from_number = coalesce(from_number, excluded.from_number),
    from_extension = coalesce(from_extension, excluded.from_extension),
    to_number = coalesce(to_number, excluded.to_number),
    to_extension = CASE WHEN excluded.last_seq >= coalesce(last_seq, -1)
                        THEN coalesce(excluded.to_extension, to_extension) ELSE coalesce(to_extension, excluded.to_extension) END,
    line_number = coalesce(line_number, excluded.line_number),
    answered_by = CASE WHEN excluded.answered_at IS NOT NULL AND (answered_at IS NULL OR excluded.answered_at < answered_at)
                       THEN excluded.answered_by ELSE answered_by END,
    started_at = min(coalesce(started_at, excluded.started_at), excluded.started_at),
    answered_at = CASE WHEN answered_at IS NULL THEN excluded.answered_at
                       ELSE min(answered_at, coalesce(excluded.answered_at, answered_at)) END,
    ended_at = coalesce(ended_at, excluded.ended_at),
    updated_at = excluded.updated_at
RETURNING id, contact_id;

-- name: close_call
-- The summary: the call's final record.
INSERT INTO calls (entry_id, direction, from_number, from_extension, to_number, to_extension, line_number,
                   started_at, answered_at, ended_at, talk_seconds, answered, disconnect_reason, summary,
                   created_at, updated_at)
VALUES (:entry_id, :direction, :from_number, :from_extension, :to_number, :to_extension, :line_number,
        :started_at, :answered_at, :ended_at, :talk_seconds, :answered, :disconnect_reason, :summary, :now, :now)
ON CONFLICT (entry_id) DO UPDATE SET
    direction = excluded.direction,
    from_number = coalesce(excluded.from_number, from_number),
    from_extension = coalesce(excluded.from_extension, from_extension),
    to_number = coalesce(excluded.to_number, to_number),
    to_extension = coalesce(to_extension, excluded.to_extension),
    line_number = coalesce(excluded.line_number, line_number),
    started_at = coalesce(excluded.started_at, started_at),
    answered_at = coalesce(answered_at, excluded.answered_at),
    ended_at = coalesce(excluded.ended_at, ended_at),
    talk_seconds = excluded.talk_seconds,
    answered = excluded.answered,
    disconnect_reason = excluded.disconnect_reason,
    summary = excluded.summary,
    updated_at = excluded.updated_at
WHERE summary IS NULL
RETURNING id, contact_id, answered_by, to_extension;

-- name: set_call_contact
UPDATE calls SET contact_id = :contact_id WHERE id = :id;

-- name: list_calls
-- Newest first; each filter applies when given (a number matches either party, as does an extension).
SELECT id FROM calls
WHERE (:number IS NULL OR from_number = :number OR to_number = :number)
  AND (:extension IS NULL OR from_extension = :extension OR to_extension = :extension OR answered_by = :extension)
  AND (:since IS NULL OR started_at >= :since)
  AND (:until IS NULL OR started_at < :until)
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: call_by_id
SELECT id, entry_id, state, direction, from_number, from_extension, to_number, to_extension, line_number,
       answered_by, started_at, answered_at, ended_at, talk_seconds, answered, disconnect_reason, contact_id,
       created_at, updated_at
FROM calls WHERE id = :id;

-- name: calls_by_ids
SELECT id, entry_id, state, direction, from_number, from_extension, to_number, to_extension, line_number,
       answered_by, started_at, answered_at, ended_at, talk_seconds, answered, disconnect_reason, contact_id,
       created_at, updated_at
FROM calls WHERE id IN (SELECT value FROM json_each(:ids)) ORDER BY id DESC;

-- name: events_of_call
SELECT id, kind, body, received_at FROM telephony_events
WHERE entry_id = :entry_id ORDER BY seq IS NULL, seq, id;

-- name: events_of_command
SELECT id, kind, body, received_at FROM telephony_events
WHERE command_id = :command_id ORDER BY id;

-- The admin UI's pages (handlers/admin_telephony.py): newest first, :limit of them below the id
-- :before (keyset: no count, no offset), each filter on an index of its own (0016, 0018).

-- name: admin_calls
SELECT id, entry_id, state, direction, from_number, from_extension, to_number, to_extension, line_number,
       answered_by, started_at, answered_at, ended_at, talk_seconds, answered, disconnect_reason, contact_id
FROM calls WHERE id < :before ORDER BY id DESC LIMIT :limit;

-- name: admin_calls_of_number
-- Either party's number: the newest :limit of each side, merged. With an :extension (NULL: any),
-- only the calls where either party's extension, or the one that answered, is it; that walks the
-- number's calls until enough match (storage/telephony.py reads it on the thread reader).
SELECT id, entry_id, state, direction, from_number, from_extension, to_number, to_extension, line_number,
       answered_by, started_at, answered_at, ended_at, talk_seconds, answered, disconnect_reason, contact_id
FROM calls WHERE id IN (
    SELECT id FROM (SELECT id FROM calls
                    WHERE from_number = :number AND id < :before
                      AND (:extension IS NULL OR from_extension = :extension OR to_extension = :extension
                           OR answered_by = :extension)
                    ORDER BY id DESC LIMIT :limit)
    UNION ALL
    SELECT id FROM (SELECT id FROM calls
                    WHERE to_number = :number AND id < :before
                      AND (:extension IS NULL OR from_extension = :extension OR to_extension = :extension
                           OR answered_by = :extension)
                    ORDER BY id DESC LIMIT :limit))
ORDER BY id DESC LIMIT :limit;

-- name: admin_calls_of_extension
-- Either party's extension, or the one that answered: the newest :limit of each, merged.
SELECT id, entry_id, state, direction, from_number, from_extension, to_number, to_extension, line_number,
       answered_by, started_at, answered_at, ended_at, talk_seconds, answered, disconnect_reason, contact_id
FROM calls WHERE id IN (
    SELECT id FROM (SELECT id FROM calls WHERE from_extension = :extension AND id < :before
                    ORDER BY id DESC LIMIT :limit)
    UNION ALL
    SELECT id FROM (SELECT id FROM calls WHERE to_extension = :extension AND id < :before
                    ORDER BY id DESC LIMIT :limit)
    UNION ALL
    SELECT id FROM (SELECT id FROM calls WHERE answered_by = :extension AND id < :before
                    ORDER BY id DESC LIMIT :limit))
ORDER BY id DESC LIMIT :limit;

-- name: admin_commands
SELECT id, command_id, endpoint, mango_path, answer_status, result, message_id, created_at, answered_at,
       completed_at
FROM telephony_commands WHERE id < :before ORDER BY id DESC LIMIT :limit;

-- name: admin_commands_of_endpoint
SELECT id, command_id, endpoint, mango_path, answer_status, result, message_id, created_at, answered_at,
       completed_at
FROM telephony_commands WHERE endpoint = :endpoint AND id < :before ORDER BY id DESC LIMIT :limit;

-- name: admin_webhooks
-- Each with the call of its entry_id and whether its command_id is a stored command (the SMS
-- engine's own SMS have none), to link to them.
SELECT e.id, e.kind, e.path, e.body, e.received_at, e.entry_id, e.command_id,
       (SELECT c.id FROM calls AS c WHERE c.entry_id = e.entry_id) AS call,
       EXISTS (SELECT 1 FROM telephony_commands AS t WHERE t.command_id = e.command_id) AS command_stored
FROM telephony_events AS e WHERE e.id < :before ORDER BY e.id DESC LIMIT :limit;

-- name: admin_webhooks_of_kind
SELECT e.id, e.kind, e.path, e.body, e.received_at, e.entry_id, e.command_id,
       (SELECT c.id FROM calls AS c WHERE c.entry_id = e.entry_id) AS call,
       EXISTS (SELECT 1 FROM telephony_commands AS t WHERE t.command_id = e.command_id) AS command_stored
FROM telephony_events AS e WHERE e.kind = :kind AND e.id < :before ORDER BY e.id DESC LIMIT :limit;

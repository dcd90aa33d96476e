-- The message log: every statement that writes `messages` is here, run by storage/messages.py.
-- A message goes pending -> sending -> sent or failed (or pending again, to retry); one not yet
-- sent may become expired (its mailing ended) or cancelled. A mailing's messages are claimed per
-- mailing; every other message per channel (the index messages_channel_due).

-- name: enqueue_message
-- A message that must exist once (one per dedupe key; one per mailing and contact) is not made
-- twice: enqueuing it again changes nothing, unless it was cancelled: then it is due again.
INSERT INTO messages (contact_id, mailing_id, channel, direction, status, body, payload, sender, dedupe_key,
                      attempts, next_attempt_at, created_at, updated_at)
VALUES (:contact_id, :mailing_id, :channel, 'out', 'pending', :body, :payload, :sender, :dedupe_key,
        0, :now, :now, :now)
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO UPDATE
SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, body = excluded.body,
    payload = excluded.payload, sender = excluded.sender, last_error = NULL, updated_at = excluded.updated_at
WHERE messages.status = 'cancelled'
ON CONFLICT (mailing_id, contact_id) WHERE mailing_id IS NOT NULL DO UPDATE
SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, body = excluded.body,
    payload = excluded.payload, sender = excluded.sender, last_error = NULL, updated_at = excluded.updated_at
WHERE messages.status = 'cancelled'
RETURNING id;

-- name: enqueue_mailing
-- One message per recipient (those with a contact id in (:after, :upto], or all when both are
-- NULL); a message cancelled by an earlier filter edit comes back.
INSERT INTO messages (contact_id, mailing_id, channel, status, next_attempt_at, created_at, updated_at)
SELECT contact_id, mailing_id, :channel, 'pending', :now, :now, :now
FROM mailing_recipients
WHERE mailing_id = :id AND (:after IS NULL OR contact_id > :after) AND (:upto IS NULL OR contact_id <= :upto)
ON CONFLICT (mailing_id, contact_id) WHERE mailing_id IS NOT NULL DO UPDATE
SET status = 'pending', next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at
WHERE status = 'cancelled';

-- name: enqueue_for_contact
-- A contact created or edited while mailings run joins those it now matches...
INSERT INTO messages (contact_id, mailing_id, channel, status, next_attempt_at, created_at, updated_at)
SELECT r.contact_id, r.mailing_id, :channel, 'pending', :now, :now, :now
FROM mailing_recipients r JOIN mailings m ON m.id = r.mailing_id
WHERE r.contact_id = :id AND m.deleted_at IS NULL AND m.datetime_end > :now
  AND (m.fanned_out_at IS NOT NULL OR m.datetime_start <= :now)  -- also one whose fan-out runs now
ON CONFLICT (mailing_id, contact_id) WHERE mailing_id IS NOT NULL DO UPDATE
SET status = 'pending', next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at
WHERE status = 'cancelled';

-- name: cancel_unmatched_for_contact
-- ...and leaves, for what is not sent yet, those it no longer matches.
UPDATE messages SET status = 'cancelled', updated_at = :now
WHERE contact_id = :id AND status = 'pending' AND mailing_id IS NOT NULL
  AND mailing_id NOT IN (SELECT mailing_id FROM mailing_recipients WHERE contact_id = :id);

-- name: cancel_unmatched_of_mailing
-- A mailing's messages not sent yet to contacts its filters no longer match.
UPDATE messages SET status = 'cancelled', updated_at = :now
WHERE mailing_id = :id AND status = 'pending'
  AND contact_id NOT IN (SELECT contact_id FROM mailing_recipients WHERE mailing_id = :id);

-- name: cancel_messages
UPDATE messages
SET status = 'cancelled', next_attempt_at = NULL, last_error = coalesce(:reason, last_error), updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending';

-- name: cancel_mailing_messages
UPDATE messages INDEXED BY messages_due
SET status = 'cancelled', next_attempt_at = NULL, last_error = coalesce(:reason, last_error), updated_at = :now
WHERE mailing_id = :id AND status = 'pending';

-- name: cancel_contact_messages
UPDATE messages
SET status = 'cancelled', next_attempt_at = NULL, last_error = coalesce(:reason, last_error), updated_at = :now
WHERE contact_id = :id AND status = 'pending';

-- name: due_messages_of_mailing
-- Due messages of one mailing to live contacts (in the :zones JSON list of zones, if not NULL).
SELECT msg.id, msg.mailing_id, msg.contact_id, msg.attempts, msg.body, msg.payload,
       c.phone_number, c.email, c.timezone
FROM messages msg JOIN contacts c ON c.id = msg.contact_id
WHERE msg.mailing_id = :mailing_id AND msg.status = 'pending' AND msg.next_attempt_at <= :now
  AND c.deleted_at IS NULL
  AND (:zones IS NULL OR c.timezone IN (SELECT value FROM json_each(:zones)))
ORDER BY msg.next_attempt_at
LIMIT :limit;

-- name: due_messages_of_channel
-- Due messages of a channel that belong to no mailing, oldest first; :to (or NULL) keeps only
-- those whose payload's `to` is that address.
SELECT msg.id, msg.mailing_id, msg.contact_id, msg.attempts, msg.body, msg.payload,
       c.phone_number, c.email, c.timezone
FROM messages msg LEFT JOIN contacts c ON c.id = msg.contact_id
WHERE msg.channel = :channel AND msg.mailing_id IS NULL AND msg.status = 'pending'
  AND msg.next_attempt_at <= :now
  AND (:to IS NULL OR lower(json_extract(msg.payload, '$.to')) = :to)
ORDER BY msg.next_attempt_at, msg.id
LIMIT :limit;

-- name: count_due_of_channel
SELECT count(*) FROM messages msg
WHERE msg.channel = :channel AND msg.mailing_id IS NULL AND msg.status = 'pending'
  AND msg.next_attempt_at <= :now
  AND (:to IS NULL OR lower(json_extract(msg.payload, '$.to')) = :to);

-- name: mark_sending
UPDATE messages SET status = 'sending', updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending';

-- name: record_send_result
-- The outcome of one attempt at a claimed message; a message no longer `sending` is left alone.
UPDATE messages
SET status = :status, attempts = attempts + :tried, body = coalesce(:body, body),
    sent_at = :sent_at, next_attempt_at = :next_attempt_at,
    last_error = CASE WHEN :status = 'sent' THEN NULL ELSE coalesce(:last_error, last_error) END,
    updated_at = :now
WHERE id = :id AND status = 'sending';

-- name: put_back_in_flight
-- After a crash: what was in flight is due again (and sent with the same id), unless its mailing
-- was deleted meanwhile.
UPDATE messages
SET status = CASE WHEN mailing_id IN (SELECT id FROM mailings WHERE deleted_at IS NOT NULL)
                  THEN 'cancelled' ELSE 'pending' END,
    next_attempt_at = min(coalesce(next_attempt_at, :now), :now),
    updated_at = :now
WHERE status = 'sending' AND channel = :channel;

-- name: expire_ended
-- Along messages_due (the pending ones alone): without INDEXED BY SQLite walks every message of
-- every ended mailing (270 ms with a million, on each of the engine's passes: bench/api.py).
UPDATE messages INDEXED BY messages_due SET status = 'expired', updated_at = :now
WHERE status = 'pending' AND mailing_id IN (
    SELECT id FROM mailings WHERE deleted_at IS NULL AND datetime_end <= :now)
RETURNING mailing_id;

-- name: next_due_of_mailing
SELECT min(next_attempt_at) FROM messages
WHERE mailing_id = :mailing_id AND status = 'pending' AND next_attempt_at > :after;

-- name: next_due_of_channel
SELECT min(next_attempt_at) FROM messages
WHERE channel = :channel AND mailing_id IS NULL AND status = 'pending' AND next_attempt_at > :after;

-- name: contact_history
-- Newest first, a page after the keyset :before (the last id seen): one range of messages_contact.
SELECT id, channel, direction, status, mailing_id, sender, body, payload, attempts, last_error,
       created_at, sent_at, updated_at
FROM messages
WHERE contact_id = :contact_id AND id < :before
ORDER BY id DESC
LIMIT :limit;

-- name: chat_templates_of_contacts
-- The templates each contact in the JSON list :contacts holds, as "<id>,<id>,...": those of the
-- chatbot's messages to them (dedupe key `chat:<template>:<contact>`) neither failed (a failed
-- one has let go of its key) nor cancelled. Every sender's: template ids are Herald's own, each
-- of one profile. Read from messages_contact alone, one range per contact; a row per contact.
SELECT contact_id, group_concat(substr(dedupe_key, 6, instr(substr(dedupe_key, 6), ':') - 1)) FROM messages
WHERE contact_id IN (SELECT value FROM json_each(:contacts)) AND status != 'cancelled'
  AND dedupe_key >= 'chat:' AND dedupe_key < 'chat;'
GROUP BY contact_id;

-- name: enqueue_chat_messages
-- The chatbot's choices, one pending message per row of the JSON list :rows ({contact_id, body,
-- payload, dedupe_key}), in one statement: enqueue_message's rule for a dedupe key already taken
-- (nothing, unless that message was cancelled: then it is due again). Returns the keys written.
INSERT INTO messages (contact_id, channel, direction, status, body, payload, sender, dedupe_key,
                      attempts, next_attempt_at, created_at, updated_at)
SELECT json_extract(value, '$.contact_id'), 'chat', 'out', 'pending', json_extract(value, '$.body'),
       json_extract(value, '$.payload'), :sender, json_extract(value, '$.dedupe_key'), 0, :now, :now, :now
FROM json_each(:rows) WHERE true
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO UPDATE
SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, body = excluded.body,
    payload = excluded.payload, sender = excluded.sender, last_error = NULL, updated_at = excluded.updated_at
WHERE messages.status = 'cancelled'
RETURNING dedupe_key;

-- name: chat_message_reported
-- The chatbot's message the site has already reported under its own id :site_id.
SELECT id, status FROM messages
WHERE contact_id = :contact_id AND channel = 'chat' AND json_extract(payload, '$.site_message_id') = :site_id;

-- name: chat_message_pending
-- The oldest pending chatbot message of this sender to this contact with this text.
SELECT id, payload FROM messages
WHERE contact_id = :contact_id AND channel = 'chat' AND status = 'pending' AND sender = :sender AND body = :body
ORDER BY id LIMIT 1;

-- name: report_chat_message
-- The site's report: `sent` when it sent it (at :sent_at), or `failed` (with the site's :errors),
-- which lets go of the dedupe key, so that the template may be given to this contact again.
UPDATE messages
SET status = :status, sent_at = :sent_at, last_error = :errors, next_attempt_at = NULL,
    attempts = attempts + 1, dedupe_key = CASE WHEN :status = 'failed' THEN NULL ELSE dedupe_key END,
    payload = json_set(coalesce(payload, '{}'), '$.site_message_id', :site_id), updated_at = :now
WHERE id = :id AND status = 'pending';

-- name: insert_event
-- A state change of the contact's (subscribed, order created, tag added, ...): in the log as a
-- message of channel 'system' that is done the moment it is written.
INSERT INTO messages (contact_id, channel, direction, status, body, sender, created_at, sent_at, updated_at)
VALUES (:contact_id, 'system', 'out', 'sent', :body, :sender, :now, :now, :now)
RETURNING id;

-- The CRM's history of an account (seed 002): its messages but the cancelled ones, newest first,
-- one page read from the index messages_contact (ids and statuses), then its rows by id, rendered by
-- SQLite as the JSON array the API answers with (the view crm_history_items, migration 0014).

-- name: live_account
-- An account: a live contact that is not a chatbot sender profile (a platform user's contact).
SELECT c.id FROM contacts c
WHERE c.id = :id AND c.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM platform_users u WHERE u.contact_id = c.id);

-- name: account_history_total
SELECT coalesce((SELECT count FROM history_counts WHERE contact_id = :contact_id), 0);

-- name: account_history_page
-- The page (offset from the newest), how many it holds, and how many the whole history holds
-- (history_counts), in one statement (one snapshot). Read from the newest end.
SELECT coalesce(json_group_array(json(item)), '[]') AS items, count(*) AS count,
       coalesce((SELECT count FROM history_counts WHERE contact_id = :contact_id), 0) AS total
FROM (
    SELECT h.item
    FROM (SELECT id FROM messages WHERE contact_id = :contact_id AND status != 'cancelled'
          ORDER BY id DESC LIMIT :limit OFFSET :offset) page
    JOIN crm_history_items h ON h.id = page.id
    ORDER BY page.id DESC);

-- name: account_history_page_from_oldest
-- The same page read from the oldest end: a page past the middle of a long history skips what
-- is older than it, not what is newer, so the last page is as short a walk as the first.
WITH total(n) AS (SELECT coalesce((SELECT count FROM history_counts WHERE contact_id = :contact_id), 0))
SELECT coalesce(json_group_array(json(item)), '[]') AS items, count(*) AS count, (SELECT n FROM total) AS total
FROM (
    SELECT h.item
    FROM (SELECT id FROM messages WHERE contact_id = :contact_id AND status != 'cancelled'
          ORDER BY id ASC
          LIMIT max(0, min(:limit, (SELECT n FROM total) - :offset))
          OFFSET max(0, (SELECT n FROM total) - :offset - :limit)) page
    JOIN crm_history_items h ON h.id = page.id
    ORDER BY page.id DESC);

-- name: account_history_item
SELECT item FROM crm_history_items WHERE id = :id;

-- name: account_last_message_at
-- lastMessageTime: one seek at the end of the account's range of messages_contact.
SELECT created_at FROM messages WHERE contact_id = :contact_id AND status != 'cancelled'
ORDER BY id DESC LIMIT 1;

-- name: insert_incoming
-- What the person sent: in the log as received (`sent`), unread until an operator marks it.
INSERT INTO messages (contact_id, channel, direction, status, body, created_at, sent_at, updated_at)
VALUES (:contact_id, :channel, 'in', 'sent', :body, :now, :now, :now)
RETURNING id;

-- name: mark_read_ids
UPDATE messages SET read_at = :now, updated_at = :now
WHERE contact_id = :contact_id AND direction = 'in' AND read_at IS NULL
  AND id IN (SELECT value FROM json_each(:ids));

-- name: mark_read_all
UPDATE messages SET read_at = :now, updated_at = :now
WHERE contact_id = :contact_id AND direction = 'in' AND read_at IS NULL;

-- Merging two accounts (storage/merge.py): the other's messages become this one's.

-- name: drop_duplicate_mailing_messages
-- Both got the same mailing (one message per mailing and contact): the one that got further is
-- kept (sent, sending, pending, failed, expired, cancelled, in that order; ties: this account's).
DELETE FROM messages WHERE id IN (
    SELECT CASE WHEN (CASE a.status WHEN 'sent' THEN 5 WHEN 'sending' THEN 4 WHEN 'pending' THEN 3
                                    WHEN 'failed' THEN 2 WHEN 'expired' THEN 1 ELSE 0 END)
                  >= (CASE b.status WHEN 'sent' THEN 5 WHEN 'sending' THEN 4 WHEN 'pending' THEN 3
                                    WHEN 'failed' THEN 2 WHEN 'expired' THEN 1 ELSE 0 END)
                THEN b.id ELSE a.id END
    FROM messages a JOIN messages b ON b.mailing_id = a.mailing_id AND b.contact_id = :from_id
    WHERE a.contact_id = :to_id AND a.mailing_id IS NOT NULL);

-- name: rekey_moved_chat_messages
-- A chatbot message holds its template for its man (`chat:<template>:<contact>`): the key follows
-- him to this account, unless this account holds that template already (then the moved message
-- lets go of its key: the template stays given once). :from_key and :to_key are ':<contact id>'.
UPDATE messages
SET dedupe_key = CASE
    WHEN EXISTS (SELECT 1 FROM messages held
                 WHERE held.dedupe_key = substr(messages.dedupe_key, 1, length(messages.dedupe_key)
                                                - length(:from_key)) || :to_key)
    THEN NULL
    ELSE substr(dedupe_key, 1, length(dedupe_key) - length(:from_key)) || :to_key END
WHERE contact_id = :from_id AND dedupe_key LIKE 'chat:%' || :from_key;

-- name: move_contact_messages
UPDATE messages SET contact_id = :to_id WHERE contact_id = :from_id;

-- name: insert_reply
-- An operator's reply: due at once (:due_at) when a Herald engine sends it (SMS); else NULL, so
-- that no engine claims it: it waits, pending, for its channel's integration.
INSERT INTO messages (contact_id, channel, direction, status, body, sender, attempts, next_attempt_at,
                      created_at, updated_at)
VALUES (:contact_id, :channel, 'out', 'pending', :body, :sender, 0, :due_at, :now, :now)
RETURNING id;

-- name: insert_pbx_sms
-- An SMS the PBX accepted (telephony's /send_sms): sent as far as Herald can tell, until its result says otherwise.
INSERT INTO messages (contact_id, channel, direction, status, body, payload, sender, attempts, created_at, sent_at, updated_at)
VALUES (:contact_id, 'sms', 'out', :status, :body, :payload, :sender, 1, :now, CASE WHEN :status = 'sent' THEN :now END, :now)
RETURNING id;

-- name: pbx_sms_outcome
-- The PBX's result for an SMS of the message log: failed unless it succeeded.
UPDATE messages
SET status = CASE WHEN :ok THEN 'sent' ELSE 'failed' END,
    last_error = CASE WHEN :ok THEN NULL ELSE :error END,
    payload = json_set(coalesce(payload, '{}'), :key, :code),
    sent_at = CASE WHEN :ok THEN coalesce(sent_at, :now) ELSE sent_at END,
    updated_at = :now
WHERE id = :id;

-- name: pbx_try_outcome
-- The PBX's result of one try (:attempt) at an SMS the engine sends: sent once on a success, from
-- whatever status; failed only while that try is on the wire (attempts not yet counted) or is the
-- last one made and awaited (pending). A mailing's text is its body if no try recorded it yet.
UPDATE messages
SET status = CASE WHEN :ok THEN 'sent' ELSE 'failed' END,
    last_error = CASE WHEN :ok THEN NULL ELSE :error END,
    body = coalesce(body, (SELECT message_text FROM mailings WHERE mailings.id = messages.mailing_id)),
    payload = json_set(coalesce(payload, '{}'), '$.result', :code),
    sent_at = CASE WHEN :ok THEN :now ELSE sent_at END,
    next_attempt_at = NULL,
    updated_at = :now
WHERE id = :id AND channel = 'sms' AND direction = 'out' AND status <> 'sent'
  AND (:ok OR (status = 'sending' AND attempts = :attempt - 1) OR (status = 'pending' AND attempts = :attempt));

-- name: pbx_report
UPDATE messages SET payload = json_set(coalesce(payload, '{}'), :key, :code), updated_at = :now
WHERE id = :id AND channel = 'sms' AND direction = 'out';

-- name: retry_failed_of_mailing
-- An operator's "try again": the failed messages of a mailing that has not ended, pending now with
-- their attempts anew (the last error stays until a try replaces it).
UPDATE messages SET status = 'pending', attempts = 0, next_attempt_at = :now, updated_at = :now
WHERE mailing_id = :id AND status = 'failed'
  AND mailing_id IN (SELECT id FROM mailings WHERE deleted_at IS NULL AND datetime_end > :now);

-- name: message_minutes_since
-- The dashboard's chart: outcomes per minute from :since (UTC minute text) on, every channel.
SELECT minute, channel, outcome, count, last_error FROM message_minutes WHERE minute >= :since ORDER BY minute;

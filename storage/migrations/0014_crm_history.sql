-- The CRM's history of an account (seed 002, chat-messages): the account's messages on every
-- channel but those cancelled (never sent, never will be), newest first, paged by offset. The
-- partial index holds exactly those, so counting them and skipping to the last page of 10,000 is a
-- walk of one index range, never a read of the rows skipped; the page's rows are read by id after.
-- `status` is in it only so that it covers those reads (SQLite 3.40 would read each row for it).

CREATE INDEX messages_history ON messages (contact_id, id, status) WHERE status != 'cancelled';

-- One message as the CRM shows it, said once (the page and a single message read it):
-- type: channel 'system' -> SYSTEM_MESSAGE; direction 'in' -> FRIEND_MESSAGE; sender 'user:<id>'
-- (an operator) -> YOUR_MESSAGE; anything else that went out -> BOT_MESSAGE. What went out is read;
-- what came in is read once an operator marked it. A message an operator made (a reply, or a state
-- change they caused) links to them: links.createdBy {type: "users", id}.
CREATE VIEW crm_history_items AS
SELECT m.id, m.contact_id,
       CASE WHEN m.sender LIKE 'user:%'
            THEN json_set(item, '$.links', json_object('createdBy',
                          json_object('type', 'users', 'id', substr(m.sender, 6))))
            ELSE item END AS item
FROM (SELECT m.*, json_object(
          'id', CAST(m.id AS TEXT),
          'text', coalesce(m.body, ''),
          'type', CASE WHEN m.channel = 'system' THEN 'SYSTEM_MESSAGE'
                       WHEN m.direction = 'in' THEN 'FRIEND_MESSAGE'
                       WHEN m.sender LIKE 'user:%' THEN 'YOUR_MESSAGE'
                       ELSE 'BOT_MESSAGE' END,
          'read', json(CASE WHEN m.direction = 'out' OR m.read_at IS NOT NULL THEN 'true' ELSE 'false' END),
          'createdAt', m.created_at,
          'updatedAt', m.updated_at,
          'channel', m.channel,
          'status', m.status) AS item
      FROM messages m) m;

-- How many messages each contact's history holds (all but the cancelled), kept by triggers as
-- mailing_status_counts is, so that totalCount costs one lookup and the last page of a long
-- history is read from its oldest end, as short a walk as the first page's.
CREATE TABLE history_counts (
    contact_id INTEGER PRIMARY KEY,
    count      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER history_counts_insert AFTER INSERT ON messages
WHEN NEW.contact_id IS NOT NULL AND NEW.status != 'cancelled'
BEGIN
    INSERT INTO history_counts (contact_id, count) VALUES (NEW.contact_id, 1)
    ON CONFLICT (contact_id) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER history_counts_leave AFTER UPDATE OF status, contact_id ON messages
WHEN OLD.contact_id IS NOT NULL AND OLD.status != 'cancelled'
 AND (NEW.status = 'cancelled' OR NEW.contact_id IS NOT OLD.contact_id)
BEGIN
    UPDATE history_counts SET count = count - 1 WHERE contact_id = OLD.contact_id;
END;

CREATE TRIGGER history_counts_join AFTER UPDATE OF status, contact_id ON messages
WHEN NEW.contact_id IS NOT NULL AND NEW.status != 'cancelled'
 AND (OLD.status = 'cancelled' OR NEW.contact_id IS NOT OLD.contact_id)
BEGIN
    INSERT INTO history_counts (contact_id, count) VALUES (NEW.contact_id, 1)
    ON CONFLICT (contact_id) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER history_counts_delete AFTER DELETE ON messages
WHEN OLD.contact_id IS NOT NULL AND OLD.status != 'cancelled'
BEGIN
    UPDATE history_counts SET count = count - 1 WHERE contact_id = OLD.contact_id;
END;

INSERT INTO history_counts (contact_id, count)
SELECT contact_id, count(*) FROM messages WHERE contact_id IS NOT NULL AND status != 'cancelled'
GROUP BY contact_id;

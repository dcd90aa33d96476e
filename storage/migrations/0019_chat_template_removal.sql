-- A chatbot template can be removed (the admin UI), and how often it was handed out is kept:
-- * `removed_at`: when an operator removed it. A removed template is never given again, but it
--   stays, with its messages and the men who hold it: adding its text again brings it back, and
--   those men still never get it twice;
-- * `handed`: how many times a mailing gave it, failed sends too (`given` counts those not
--   failed: the men who hold it). Filled here from the log: `given`, plus its failed messages.
-- The profile page lists a profile's templates newest first and most handed first along the two
-- indexes (the rowid ends each index's entries), a page at a time, never sorting them all.

ALTER TABLE chat_templates ADD COLUMN removed_at TEXT;
ALTER TABLE chat_templates ADD COLUMN handed INTEGER NOT NULL DEFAULT 0;

UPDATE chat_templates SET handed = given;
UPDATE chat_templates SET handed = handed + failed.n
FROM (SELECT json_extract(payload, '$.template_id') AS template_id, count(*) AS n FROM messages
      WHERE channel = 'chat' AND status = 'failed' AND payload IS NOT NULL GROUP BY 1) AS failed
WHERE failed.template_id = chat_templates.id;

CREATE INDEX chat_templates_profile ON chat_templates (profile_contact_id);
CREATE INDEX chat_templates_most_handed ON chat_templates (profile_contact_id, handed);

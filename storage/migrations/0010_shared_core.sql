-- The shared core in code, not only in the schema: a contact any family may keep (where it came
-- from, its ids in other systems, the family's own attributes), one contact per email address as
-- there is one per phone number, who sent a message, and due messages outside mailings found per
-- channel (emails, and any channel that is not a mailing's).

ALTER TABLE contacts ADD COLUMN source TEXT;                                -- the family or system it came from
ALTER TABLE contacts ADD COLUMN external_ids TEXT NOT NULL DEFAULT '{}';   -- JSON object: {"victoriabrides": "123"}
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';     -- JSON object

UPDATE contacts SET source = 'subscriptions' WHERE id IN (SELECT contact_id FROM subscribers);
UPDATE contacts SET source = 'notifications' WHERE source IS NULL AND phone_number IS NOT NULL;

-- Emails are kept lower-cased, as subscribers' are.
CREATE UNIQUE INDEX contacts_email ON contacts (email) WHERE deleted_at IS NULL AND email IS NOT NULL;

ALTER TABLE messages ADD COLUMN sender TEXT;  -- who sent it (an operator, a bot, a line); NULL: Herald itself

DROP INDEX messages_email_due;
CREATE INDEX messages_channel_due ON messages (channel, next_attempt_at)
    WHERE status = 'pending' AND mailing_id IS NULL;

-- The chatbot (seed 000): a sender profile's message templates, and contacts found by their id on
-- the dating site. `given` counts the template's messages not failed (storage/chat.py keeps it in
-- the write that gives or frees one), so that the least given is found without scanning the log.

CREATE TABLE chat_templates (
    id                 INTEGER PRIMARY KEY,
    profile_contact_id INTEGER NOT NULL REFERENCES contacts (id),
    text               TEXT NOT NULL,
    given              INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    UNIQUE (profile_contact_id, text)
);

CREATE INDEX contacts_victoriabrides ON contacts (json_extract(external_ids, '$.victoriabrides'))
    WHERE deleted_at IS NULL;

-- The chatbot's templates: every statement that writes `chat_templates` is here, run by
-- storage/chat.py. Its messages are in the log (storage/queries/messages.sql).

-- name: insert_chat_template
INSERT INTO chat_templates (profile_contact_id, text, created_at) VALUES (:profile, :text, :now)
ON CONFLICT (profile_contact_id, text) DO NOTHING;

-- name: chat_templates_of
-- Least given first, then the oldest: the order templates are handed out in.
SELECT id, text, given FROM chat_templates WHERE profile_contact_id = :profile ORDER BY given, id;

-- name: add_chat_template_given
UPDATE chat_templates SET given = max(given + :n, 0) WHERE id = :id;

-- name: chat_men_by_site_id
-- The live contacts known on the dating site by the ids in the JSON list :ids (index
-- contacts_victoriabrides): a read of contacts for storage/chat.py, which writes them through
-- storage/contacts.py. The oldest first, as contacts.find_id_by_external_id picks one.
SELECT json_extract(c.external_ids, '$.victoriabrides') AS id_user, c.id, c.name, c.attributes
FROM json_each(:ids) AS site
JOIN contacts c ON json_extract(c.external_ids, '$.victoriabrides') = site.value AND c.deleted_at IS NULL
ORDER BY c.id;

-- The chatbot's templates: every statement that writes `chat_templates` is here, run by
-- storage/chat.py. Its messages are in the log (storage/queries/messages.sql). And the admin UI's
-- reads of the sender profiles and their templates.

-- name: insert_chat_template
-- A new template, or one she had removed brought back (its counts and who holds it kept); a row
-- changed only then, so that the changes counted are the templates new or back.
INSERT INTO chat_templates (profile_contact_id, text, created_at) VALUES (:profile, :text, :now)
ON CONFLICT (profile_contact_id, text) DO UPDATE SET removed_at = NULL WHERE removed_at IS NOT NULL;

-- name: chat_templates_of
-- Her templates not removed, least given first, then the oldest: the order they are handed out in.
SELECT id, text, given FROM chat_templates
WHERE profile_contact_id = :profile AND removed_at IS NULL ORDER BY given, id;

-- name: add_chat_template_given
-- :n given more (a mailing's choices) or fewer (a failed send: -1); `handed` counts only the more.
UPDATE chat_templates SET given = max(given + :n, 0), handed = handed + max(:n, 0) WHERE id = :id;

-- name: remove_chat_template
-- The template is never given again; its row, counts and messages stay. Removing it again keeps
-- the first time. Changes no row when it is not this profile's.
UPDATE chat_templates SET removed_at = coalesce(removed_at, :now) WHERE id = :id AND profile_contact_id = :profile;

-- name: chat_men_by_site_id
-- The live contacts known on the dating site by the ids in the JSON list :ids (index
-- contacts_victoriabrides): a read of contacts for storage/chat.py, which writes them through
-- storage/contacts.py. The oldest first, as contacts.find_id_by_external_id picks one.
SELECT json_extract(c.external_ids, '$.victoriabrides') AS id_user, c.id, c.name, c.attributes
FROM json_each(:ids) AS site
JOIN contacts c ON json_extract(c.external_ids, '$.victoriabrides') = site.value AND c.deleted_at IS NULL
ORDER BY c.id;

-- name: chat_profiles_page
-- The admin UI's sender profiles (the platform users that are a contact: storage/platform_users.py
-- writes them), newest first below contact id :before, along platform_users' unique contact_id
-- index; with :pattern (NULL: any) a LIKE of the name, or :id_user her id on the site. A search
-- scans the profiles only (never the directory) and stops at :limit rows. Each with how many
-- templates she has (removed ones left out) and how often hers were given in all (removed ones
-- too), read from her range of chat_templates_most_handed.
SELECT c.id, c.name, json_extract(c.external_ids, '$.victoriabrides') AS id_user, u.created_at,
       (SELECT count(*) FROM chat_templates t WHERE t.profile_contact_id = c.id AND t.removed_at IS NULL) AS templates,
       (SELECT coalesce(sum(t.handed), 0) FROM chat_templates t WHERE t.profile_contact_id = c.id) AS handed
FROM platform_users u CROSS JOIN contacts c ON c.id = u.contact_id  -- CROSS: profiles first, never the directory
WHERE u.contact_id < :before AND c.deleted_at IS NULL
  AND (:pattern IS NULL OR c.name LIKE :pattern ESCAPE '\'
       OR json_extract(c.external_ids, '$.victoriabrides') = :id_user)
ORDER BY u.contact_id DESC LIMIT :limit;

-- name: chat_profile
-- One sender profile (her contact id) with her counts: templates (not removed), removed, how often
-- hers were given in all, and how many of those did not fail.
SELECT c.id, c.name, json_extract(c.external_ids, '$.victoriabrides') AS id_user, u.created_at,
       (SELECT count(*) FROM chat_templates t WHERE t.profile_contact_id = c.id AND t.removed_at IS NULL) AS templates,
       (SELECT count(*) FROM chat_templates t
        WHERE t.profile_contact_id = c.id AND t.removed_at IS NOT NULL) AS removed,
       (SELECT coalesce(sum(t.handed), 0) FROM chat_templates t WHERE t.profile_contact_id = c.id) AS handed,
       (SELECT coalesce(sum(t.given), 0) FROM chat_templates t WHERE t.profile_contact_id = c.id) AS given
FROM platform_users u JOIN contacts c ON c.id = u.contact_id
WHERE u.contact_id = :id AND c.deleted_at IS NULL;

-- name: chat_templates_newest
-- A page of her templates (removed ones too), newest first below id :before, along chat_templates_profile.
SELECT id, text, handed, given, created_at, removed_at FROM chat_templates
WHERE profile_contact_id = :profile AND id < :before ORDER BY id DESC LIMIT :limit;

-- name: chat_templates_most_handed
-- A page of her templates (removed ones too), the most handed out first (ties: the newest), below
-- (:handed, :before), along chat_templates_most_handed.
SELECT id, text, handed, given, created_at, removed_at FROM chat_templates
WHERE profile_contact_id = :profile AND (handed, id) < (:handed, :before)
ORDER BY handed DESC, id DESC LIMIT :limit;

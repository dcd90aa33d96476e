-- The contact directory: every statement that writes `contacts` and `contact_tags` is here, run by
-- storage/contacts.py. Only live contacts (deleted_at IS NULL) are found; a phone number and an
-- email each belong to one live contact at most.

-- name: contact_by_id
-- Tags come in primary-key order, (contact_id, tag): sorted.
SELECT c.id, c.phone_number, c.operator_code, c.email, c.name, c.timezone,
       coalesce((SELECT json_group_array(tag) FROM contact_tags WHERE contact_id = c.id), '[]') AS tags,
       c.source, c.external_ids, c.attributes, c.bot_status, c.gender, c.locale, c.created_at, c.updated_at
FROM contacts c
WHERE c.id = :id AND c.deleted_at IS NULL;

-- name: tags_of_contact
SELECT tag FROM contact_tags WHERE contact_id = :id;

-- name: contact_id_by_phone
SELECT id FROM contacts WHERE phone_number = :phone_number AND deleted_at IS NULL;

-- name: contact_id_by_email
SELECT id FROM contacts WHERE email = :email AND deleted_at IS NULL;

-- name: insert_contact
INSERT INTO contacts (phone_number, operator_code, email, name, timezone, source, external_ids, attributes,
                      bot_status, gender, locale, created_at, updated_at)
VALUES (:phone_number, :operator_code, :email, :name, :timezone, :source, :external_ids, :attributes,
        :bot_status, :gender, :locale, :now, :now)
RETURNING id;

-- name: update_contact
UPDATE contacts
SET phone_number = :phone_number, operator_code = :operator_code, email = :email, name = :name,
    timezone = :timezone, source = :source, external_ids = :external_ids, attributes = :attributes,
    bot_status = :bot_status, gender = :gender, locale = :locale, updated_at = :now
WHERE id = :id AND deleted_at IS NULL;

-- name: soft_delete_contact
UPDATE contacts SET deleted_at = :now, updated_at = :now WHERE id = :id AND deleted_at IS NULL;

-- name: touch_contact
UPDATE contacts SET updated_at = :now WHERE id = :id AND deleted_at IS NULL;

-- name: insert_tags
INSERT OR IGNORE INTO contact_tags (contact_id, tag) SELECT :id, value FROM json_each(:tags);

-- name: delete_tags
DELETE FROM contact_tags WHERE contact_id = :id;

-- name: remove_tags
DELETE FROM contact_tags WHERE contact_id = :id AND tag IN (SELECT value FROM json_each(:tags));

-- name: contact_timezones
SELECT DISTINCT timezone FROM contacts;

-- The notification service's clients (the contacts that have a phone number), as its list reads them.

-- name: list_clients
-- A page of clients, rendered by SQLite as the JSON array the API answers with.
SELECT coalesce(json_group_array(json_object(
           'id', c.id, 'phone_number', c.phone_number, 'operator_code', c.operator_code,
           'tag', coalesce((SELECT group_concat(tag, ',') FROM contact_tags WHERE contact_id = c.id), ''),
           'timezone', c.timezone)), '[]')
FROM (SELECT * FROM contacts
      WHERE deleted_at IS NULL AND phone_number IS NOT NULL
        AND (:operator_code IS NULL OR operator_code = :operator_code)
      ORDER BY id LIMIT :limit OFFSET :offset) c;

-- name: list_clients_tagged
SELECT coalesce(json_group_array(json_object(
           'id', c.id, 'phone_number', c.phone_number, 'operator_code', c.operator_code,
           'tag', coalesce((SELECT group_concat(tag, ',') FROM contact_tags WHERE contact_id = c.id), ''),
           'timezone', c.timezone)), '[]')
FROM (SELECT c.* FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
      WHERE t.tag = :tag AND c.deleted_at IS NULL AND c.phone_number IS NOT NULL
        AND (:operator_code IS NULL OR c.operator_code = :operator_code)
      ORDER BY t.contact_id LIMIT :limit OFFSET :offset) c;

-- name: count_clients
-- One filter (or none) is read from client_counts; both together are counted from the tag index.
SELECT CASE
    WHEN :tag IS NULL AND :operator_code IS NULL
        THEN (SELECT count FROM client_counts WHERE dimension = 'all' AND value = '')
    WHEN :tag IS NULL
        THEN (SELECT count FROM client_counts WHERE dimension = 'operator_code' AND value = :operator_code)
    WHEN :operator_code IS NULL
        THEN (SELECT count FROM client_counts WHERE dimension = 'tag' AND value = :tag)
    ELSE (SELECT count(*) FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
          WHERE t.tag = :tag AND c.operator_code = :operator_code
            AND c.deleted_at IS NULL AND c.phone_number IS NOT NULL)
END;

-- name: contact_id_range_end
-- The last contact id of the next `limit` ids after `after` (deleted ones count): a chunk's end.
SELECT max(id) FROM (SELECT id FROM contacts WHERE id > :after ORDER BY id LIMIT :limit);

-- name: contact_id_by_victoriabrides_id
-- A live contact by its id on the dating site (index contacts_victoriabrides).
SELECT id FROM contacts
WHERE json_extract(external_ids, '$.victoriabrides') = :external_id AND deleted_at IS NULL
ORDER BY id LIMIT 1;

-- name: contact_id_by_mango_number
-- A live contact by the number the PBX knows it by, where that is no Russian phone (index contacts_mango).
SELECT id FROM contacts
WHERE json_extract(external_ids, '$.mango') = :external_id AND deleted_at IS NULL
ORDER BY id LIMIT 1;

-- name: merge_contact_profile
-- A merge (storage/contacts.py merge_into): the CRM's profile fields this contact lacks, from the other.
UPDATE contacts
SET gender = coalesce(gender, (SELECT gender FROM contacts WHERE id = :from_id)),
    locale = coalesce(locale, (SELECT locale FROM contacts WHERE id = :from_id))
WHERE id = :id;

-- The notification service's clients are the contacts that have a phone number.


-- name: get_client
-- Tags come in primary-key order, (contact_id, tag): sorted.
SELECT c.id, c.phone_number, c.operator_code,
       coalesce((SELECT group_concat(tag, ',') FROM contact_tags WHERE contact_id = c.id), '') AS tag, c.timezone
FROM contacts c
WHERE c.id = :id AND c.deleted_at IS NULL AND c.phone_number IS NOT NULL;

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

-- name: client_id_by_phone
SELECT id FROM contacts WHERE phone_number = :phone_number AND deleted_at IS NULL;

-- name: insert_client
INSERT INTO contacts (phone_number, operator_code, timezone, created_at, updated_at)
VALUES (:phone_number, :operator_code, :timezone, :now, :now)
RETURNING id;

-- name: update_client
UPDATE contacts
SET phone_number = :phone_number, operator_code = :operator_code, timezone = :timezone,
    updated_at = :now
WHERE id = :id AND deleted_at IS NULL;

-- name: delete_tags
DELETE FROM contact_tags WHERE contact_id = :id;

-- name: insert_tags
INSERT OR IGNORE INTO contact_tags (contact_id, tag) SELECT :id, value FROM json_each(:tags);

-- name: soft_delete_client
UPDATE contacts SET deleted_at = :now, updated_at = :now WHERE id = :id AND deleted_at IS NULL;

-- name: cancel_client_messages
UPDATE messages SET status = 'cancelled', updated_at = :now
WHERE contact_id = :id AND status = 'pending';

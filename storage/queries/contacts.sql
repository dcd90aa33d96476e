-- The notification service's clients are the contacts that have a phone number.


-- name: get_client
SELECT c.id, c.phone_number, c.operator_code,
       (SELECT group_concat(tag, ',') FROM (SELECT tag FROM contact_tags WHERE contact_id = c.id ORDER BY tag)) AS tag, c.timezone
FROM contacts c
WHERE c.id = :id AND c.deleted_at IS NULL AND c.phone_number IS NOT NULL;

-- name: list_clients
SELECT c.id, c.phone_number, c.operator_code,
       (SELECT group_concat(tag, ',') FROM (SELECT tag FROM contact_tags WHERE contact_id = c.id ORDER BY tag)) AS tag, c.timezone
FROM contacts c
WHERE c.deleted_at IS NULL AND c.phone_number IS NOT NULL
  AND (:tag IS NULL OR EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = :tag))
  AND (:operator_code IS NULL OR c.operator_code = :operator_code)
ORDER BY c.id
LIMIT :limit OFFSET :offset;

-- name: count_clients
SELECT count(*)
FROM contacts c
WHERE c.deleted_at IS NULL AND c.phone_number IS NOT NULL
  AND (:tag IS NULL OR EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = :tag))
  AND (:operator_code IS NULL OR c.operator_code = :operator_code);

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

-- name: insert_platform_user
INSERT INTO platform_users (name, email, contact_id, created_at, updated_at)
VALUES (:name, :email, :contact_id, :now, :now)
RETURNING id;

-- name: platform_user_by_id
SELECT id, name, email, contact_id, created_at, updated_at FROM platform_users WHERE id = :id;

-- name: platform_user_of_contact
SELECT id, name, email, contact_id, created_at, updated_at FROM platform_users WHERE contact_id = :contact_id;

-- name: rename_platform_user
UPDATE platform_users SET name = :name, updated_at = :now WHERE id = :id AND name IS NOT :name;

-- name: platform_users_page
SELECT id, name, email, contact_id, created_at, updated_at FROM platform_users
ORDER BY id DESC LIMIT :limit OFFSET :offset;

-- name: platform_users_count
SELECT count(*) FROM platform_users;

-- name: admin_by_name
SELECT id, name, password_hash FROM admin_users WHERE name = :name;

-- name: insert_admin
INSERT INTO admin_users (name, password_hash, created_at, updated_at) VALUES (:name, :password_hash, :now, :now);

-- name: set_admin_password
UPDATE admin_users SET password_hash = :password_hash, updated_at = :now WHERE name = :name
RETURNING id;

-- name: delete_sessions_of_admin
DELETE FROM admin_sessions WHERE user_id = :user_id;

-- name: insert_admin_session
INSERT INTO admin_sessions (user_id, token_sha256, csrf_token, created_at, expires_at)
VALUES (:user_id, :token_sha256, :csrf_token, :now, :expires_at);

-- name: admin_session_by_token
SELECT s.id, s.user_id, u.name, s.csrf_token, s.expires_at
FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id
WHERE s.token_sha256 = :token_sha256 AND s.expires_at > :now;

-- name: delete_admin_session
DELETE FROM admin_sessions WHERE token_sha256 = :token_sha256;

-- name: delete_expired_admin_sessions
DELETE FROM admin_sessions WHERE expires_at <= :now;

-- name: admin_platform_user
SELECT platform_user_id FROM admin_users WHERE id = :id;

-- name: set_admin_platform_user
UPDATE admin_users SET platform_user_id = :platform_user_id, updated_at = :now WHERE id = :id;

-- name: list_admins
-- The operators by name, each with how many live sessions it has.
SELECT u.id, u.name, u.created_at, u.updated_at,
       (SELECT count(*) FROM admin_sessions s WHERE s.user_id = u.id AND s.expires_at > :now) AS sessions
FROM admin_users u ORDER BY u.name;

-- name: delete_admin
DELETE FROM admin_users WHERE id = :id;

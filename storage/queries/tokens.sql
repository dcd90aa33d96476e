-- name: insert_token
INSERT INTO api_tokens (name, token_sha256, prefix, created_at)
VALUES (:name, :token_sha256, :prefix, :created_at);

-- name: token_name_by_hash
SELECT name FROM api_tokens WHERE token_sha256 = :token_sha256;

-- name: token_name_taken
SELECT 1 FROM api_tokens WHERE name = :name;

-- name: list_tokens
SELECT id, name, prefix, created_at FROM api_tokens ORDER BY created_at, id;

-- name: tokens_matching
SELECT id, name, prefix, created_at FROM api_tokens
WHERE name = :wanted OR prefix = :wanted OR token_sha256 = :token_sha256
ORDER BY created_at, id;

-- name: delete_token
DELETE FROM api_tokens WHERE id = :id;

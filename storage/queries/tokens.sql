-- name: insert_token
INSERT INTO api_tokens (name, token_sha256, created_at) VALUES (:name, :token_sha256, :created_at);

-- name: token_name_by_hash
SELECT name FROM api_tokens WHERE token_sha256 = :token_sha256;

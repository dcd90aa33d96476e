-- The first characters of each new API token, shown by `list_tokens` and accepted by
-- `revoke_token` so that a token can be told apart from others of a similar name. 8 of its 40 hex
-- characters leave 128 secret bits. Tokens made before this have none (NULL): they go by name.

ALTER TABLE api_tokens ADD COLUMN prefix TEXT;

-- The operators of the web UI at /admin/ and their sessions.

-- An operator: made by `python main.py create_admin NAME`; the password is kept only as its
-- argon2id hash (with its own salt and parameters, in the PHC string format). The operator's
-- replies to contacts are written as the platform user `platform_user_id` (the CRM's users),
-- made at the first reply, so the CRM shows them as YOUR_MESSAGE like any operator's.
CREATE TABLE admin_users (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    platform_user_id INTEGER REFERENCES platform_users (id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- A signed-in browser: its cookie is a random token of which only the SHA-256 is kept, so the
-- database does not hold live cookies. `csrf_token` goes into every form of the session's pages.
-- Logging out, an expired session and a password reset delete rows.
CREATE TABLE admin_sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    token_sha256 TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);

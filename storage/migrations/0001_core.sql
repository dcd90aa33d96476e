-- The shared core: contacts with their tags, mailings, one log of every message, API tokens.
-- Times are UTC text in one fixed form, 'YYYY-MM-DDTHH:MM:SS.mmmZ', so they compare as text.

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    phone_number  TEXT,                         -- 7XXXXXXXXXX
    operator_code TEXT,                         -- the three digits after the country code
    timezone      TEXT NOT NULL DEFAULT 'UTC',  -- IANA zone name
    email         TEXT,
    name          TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT                          -- set instead of deleting: the log keeps its people
);
CREATE UNIQUE INDEX contacts_phone_number ON contacts (phone_number)
    WHERE deleted_at IS NULL AND phone_number IS NOT NULL;
CREATE INDEX contacts_operator_code ON contacts (operator_code) WHERE deleted_at IS NULL;
CREATE INDEX contacts_timezone ON contacts (timezone);

CREATE TABLE contact_tags (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
) WITHOUT ROWID;
CREATE INDEX contact_tags_tag ON contact_tags (tag, contact_id);

CREATE TABLE mailings (
    id              INTEGER PRIMARY KEY,
    datetime_start  TEXT NOT NULL,
    datetime_end    TEXT NOT NULL,
    message_text    TEXT NOT NULL,
    filter_tags     TEXT NOT NULL DEFAULT '[]',  -- JSON array; empty matches every tag
    filter_op_codes TEXT NOT NULL DEFAULT '[]',  -- JSON array; empty matches every operator
    window_start    TEXT,                        -- 'HH:MM' in each recipient's zone, or NULL
    window_end      TEXT,
    fanned_out_at   TEXT,                        -- when its messages were created
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT
);
CREATE INDEX mailings_live ON mailings (datetime_start, datetime_end) WHERE deleted_at IS NULL;

-- Every message any family sends or receives. A mailing's message id is the provider's msgId.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    contact_id      INTEGER REFERENCES contacts (id),
    mailing_id      INTEGER REFERENCES mailings (id),
    channel         TEXT NOT NULL,                 -- sms, chat, email, ...
    direction       TEXT NOT NULL DEFAULT 'out',   -- out or in
    status          TEXT NOT NULL,                 -- pending, sending, sent, failed, expired, cancelled
    body            TEXT,                          -- the text as it went out
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (mailing_id, contact_id)
);
CREATE INDEX messages_mailing ON messages (mailing_id, id);
CREATE INDEX messages_contact ON messages (contact_id, id);
CREATE INDEX messages_due ON messages (mailing_id, next_attempt_at) WHERE status = 'pending';

-- Per-mailing counts by status, kept by triggers so statistics never scan the log.
CREATE TABLE mailing_status_counts (
    mailing_id INTEGER NOT NULL,
    status     TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (mailing_id, status)
) WITHOUT ROWID;

CREATE TRIGGER messages_count_insert AFTER INSERT ON messages
WHEN NEW.mailing_id IS NOT NULL
BEGIN
    INSERT INTO mailing_status_counts (mailing_id, status, count)
    VALUES (NEW.mailing_id, NEW.status, 1)
    ON CONFLICT (mailing_id, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER messages_count_update AFTER UPDATE OF status ON messages
WHEN NEW.mailing_id IS NOT NULL AND OLD.status IS NOT NEW.status
BEGIN
    UPDATE mailing_status_counts SET count = count - 1
    WHERE mailing_id = OLD.mailing_id AND status = OLD.status;
    INSERT INTO mailing_status_counts (mailing_id, status, count)
    VALUES (NEW.mailing_id, NEW.status, 1)
    ON CONFLICT (mailing_id, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER messages_count_delete AFTER DELETE ON messages
WHEN OLD.mailing_id IS NOT NULL
BEGIN
    UPDATE mailing_status_counts SET count = count - 1
    WHERE mailing_id = OLD.mailing_id AND status = OLD.status;
END;

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,  -- the token itself is shown once and never stored
    created_at   TEXT NOT NULL
);

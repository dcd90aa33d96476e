-- Email price alerts (seed 001): subscribers, their subscriptions, the directions the price index
-- is asked about (shared by every subscription with the same qkey, date range and filter), the
-- minimum price of each direction per day, and when each scheduled job last ran.

CREATE TABLE subscribers (
    id                   TEXT PRIMARY KEY,             -- UUID: the seed's subscriber id
    contact_id           INTEGER NOT NULL REFERENCES contacts (id),
    email                TEXT,                         -- lower-cased
    passportuid          TEXT,
    session_sha256       TEXT,                         -- the session itself is never stored
    confirmed_at         TEXT,                         -- double opt-in done
    confirmation_sent_at TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE UNIQUE INDEX subscribers_email ON subscribers (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX subscribers_passportuid ON subscribers (passportuid) WHERE passportuid IS NOT NULL;

CREATE TABLE directions (
    id         INTEGER PRIMARY KEY,
    qkey       TEXT NOT NULL,
    date_range INTEGER NOT NULL,           -- days either side of the qkey's dates
    filter     TEXT NOT NULL DEFAULT '',   -- canonical filter JSON without its URL postfix; '' = none
    created_at TEXT NOT NULL,
    checked_at TEXT,                       -- when the price index was last asked
    UNIQUE (qkey, date_range, filter)
);

CREATE TABLE subscriptions (
    id                 INTEGER PRIMARY KEY,
    subscriber_id      TEXT NOT NULL REFERENCES subscribers (id),
    direction_id       INTEGER NOT NULL REFERENCES directions (id),
    qkey               TEXT NOT NULL,
    date_range         INTEGER NOT NULL DEFAULT 0,
    filter             TEXT,               -- the filter JSON as subscribed, NULL = none
    filter_url_postfix TEXT,
    email_source       TEXT,
    notified_price     REAL,               -- the new price of the last price email sent
    notified_currency  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    unsubscribed_at    TEXT,
    UNIQUE (subscriber_id, qkey)
);
CREATE INDEX subscriptions_direction ON subscriptions (direction_id) WHERE unsubscribed_at IS NULL;

CREATE TABLE direction_prices (
    direction_id INTEGER NOT NULL REFERENCES directions (id),
    day          TEXT NOT NULL,            -- UTC date, YYYY-MM-DD
    price        REAL NOT NULL,
    currency     TEXT NOT NULL,
    details      TEXT NOT NULL,            -- JSON from the price index: points, variant, links, sections
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (direction_id, day)
) WITHOUT ROWID;

-- An email is a message too (channel 'email'). `payload` is what it is rendered from until it is
-- sent; `dedupe_key` makes a message that must exist once (one email per price change) unique.
ALTER TABLE messages ADD COLUMN payload TEXT;
ALTER TABLE messages ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX messages_dedupe_key ON messages (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX messages_email_due ON messages (next_attempt_at) WHERE channel = 'email' AND status = 'pending';

CREATE TABLE job_runs (
    job         TEXT PRIMARY KEY,          -- update_subscriptions, preheat_subscriptions, send_emails
    started_at  TEXT NOT NULL,
    finished_at TEXT
);

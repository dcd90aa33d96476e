-- The CRM (seed 002): a contact is an account with a bot status, gender and locale; `source` says
-- where it came from in the CRM's words (`from`: SMS, EMAIL, VICTORIABRIDES, PHONE, FACEBOOK, ...);
-- the platform's users (operators, and the chatbot's sender profiles, which are contacts too);
-- an account's orders; and when a message the person sent was read.

ALTER TABLE contacts ADD COLUMN bot_status TEXT NOT NULL DEFAULT 'BOT';  -- BOT or ADMIN
ALTER TABLE contacts ADD COLUMN gender TEXT;                            -- MALE, FEMALE, or NULL
ALTER TABLE contacts ADD COLUMN locale TEXT;                            -- en_US, ru_RU, ...

UPDATE contacts SET source = 'SMS' WHERE source = 'notifications';
UPDATE contacts SET source = 'EMAIL' WHERE source = 'subscriptions';

-- An operator (contact_id NULL), or a chatbot sender profile (its contact).
CREATE TABLE platform_users (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    contact_id INTEGER UNIQUE REFERENCES contacts (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE orders (
    id             INTEGER PRIMARY KEY,
    contact_id     INTEGER NOT NULL REFERENCES contacts (id),
    price          TEXT NOT NULL,   -- a decimal as written, e.g. '199.90'
    currency       TEXT NOT NULL,   -- ISO 4217, upper case
    payment_method TEXT NOT NULL,   -- ASSET_PAYMENT, YANDEX_MONEY, ...
    status         TEXT NOT NULL,   -- NEW, PENDING, SUCCESS, FAILED, CANCELLED, REFUNDED
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX orders_contact ON orders (contact_id, id);

-- When an operator read what the person sent (direction 'in'); what went out counts as read.
ALTER TABLE messages ADD COLUMN read_at TEXT;

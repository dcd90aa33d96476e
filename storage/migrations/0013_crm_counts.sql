-- How many CRM accounts there are in all and per tag, kept by triggers so that a page of
-- /api/v1/accounts never counts the table. An account is a live contact (deleted_at IS NULL) that
-- is not a chatbot sender profile (platform_users.contact_id). dimension: 'all' (value '') or 'tag'.
-- Also the index a page of accounts, newest first, is read from: live contacts by id.

CREATE TABLE account_counts (
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (dimension, value)
) WITHOUT ROWID;

CREATE INDEX contacts_live ON contacts (id) WHERE deleted_at IS NULL;

CREATE TRIGGER account_counts_insert AFTER INSERT ON contacts
WHEN NEW.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users WHERE contact_id = NEW.id)
BEGIN
    INSERT INTO account_counts VALUES ('all', '', 1)
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER account_counts_leave AFTER UPDATE OF deleted_at ON contacts
WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM platform_users WHERE contact_id = NEW.id)
BEGIN
    UPDATE account_counts SET count = count - 1
    WHERE (dimension = 'all' AND value = '')
       OR (dimension = 'tag' AND value IN (SELECT tag FROM contact_tags WHERE contact_id = OLD.id));
END;

CREATE TRIGGER account_counts_join AFTER UPDATE OF deleted_at ON contacts
WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM platform_users WHERE contact_id = NEW.id)
BEGIN
    INSERT INTO account_counts
    SELECT * FROM (SELECT 'all', '', 1 UNION ALL SELECT 'tag', tag, 1 FROM contact_tags WHERE contact_id = NEW.id)
    WHERE true
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER account_counts_tag_added AFTER INSERT ON contact_tags
WHEN EXISTS (SELECT 1 FROM contacts WHERE id = NEW.contact_id AND deleted_at IS NULL)
     AND NOT EXISTS (SELECT 1 FROM platform_users WHERE contact_id = NEW.contact_id)
BEGIN
    INSERT INTO account_counts VALUES ('tag', NEW.tag, 1)
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER account_counts_tag_removed AFTER DELETE ON contact_tags
WHEN EXISTS (SELECT 1 FROM contacts WHERE id = OLD.contact_id AND deleted_at IS NULL)
     AND NOT EXISTS (SELECT 1 FROM platform_users WHERE contact_id = OLD.contact_id)
BEGIN
    UPDATE account_counts SET count = count - 1 WHERE dimension = 'tag' AND value = OLD.tag;
END;

-- A contact that becomes a sender profile stops being an account, and the other way round.
CREATE TRIGGER account_counts_profile_made AFTER INSERT ON platform_users
WHEN NEW.contact_id IS NOT NULL
     AND EXISTS (SELECT 1 FROM contacts WHERE id = NEW.contact_id AND deleted_at IS NULL)
BEGIN
    UPDATE account_counts SET count = count - 1
    WHERE (dimension = 'all' AND value = '')
       OR (dimension = 'tag' AND value IN (SELECT tag FROM contact_tags WHERE contact_id = NEW.contact_id));
END;

CREATE TRIGGER account_counts_profile_gone AFTER DELETE ON platform_users
WHEN OLD.contact_id IS NOT NULL
     AND EXISTS (SELECT 1 FROM contacts WHERE id = OLD.contact_id AND deleted_at IS NULL)
BEGIN
    INSERT INTO account_counts
    SELECT * FROM (SELECT 'all', '', 1 UNION ALL
                   SELECT 'tag', tag, 1 FROM contact_tags WHERE contact_id = OLD.contact_id)
    WHERE true
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER account_counts_profile_moved AFTER UPDATE OF contact_id ON platform_users
WHEN OLD.contact_id IS NOT NEW.contact_id
BEGIN
    INSERT INTO account_counts
    SELECT * FROM (SELECT 'all', '', 1 UNION ALL
                   SELECT 'tag', tag, 1 FROM contact_tags WHERE contact_id = OLD.contact_id)
    WHERE OLD.contact_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM contacts WHERE id = OLD.contact_id AND deleted_at IS NULL)
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
    UPDATE account_counts SET count = count - 1
    WHERE NEW.contact_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM contacts WHERE id = NEW.contact_id AND deleted_at IS NULL)
      AND ((dimension = 'all' AND value = '')
           OR (dimension = 'tag' AND value IN (SELECT tag FROM contact_tags WHERE contact_id = NEW.contact_id)));
END;

INSERT INTO account_counts
SELECT 'all', '', count(*) FROM contacts c
WHERE c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
UNION ALL
SELECT 'tag', t.tag, count(*) FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
WHERE c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
GROUP BY t.tag;

-- An account's price-alert subscriptions (its subscribeHistory) are found through its subscribers.
CREATE INDEX subscribers_contact ON subscribers (contact_id);

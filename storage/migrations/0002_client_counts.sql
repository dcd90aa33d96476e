-- How many live clients (not deleted, with a phone) there are in all, per operator code and per
-- tag, kept by triggers so that a page of /Clients/ never counts the table.
-- dimension: 'all' (value ''), 'operator_code' or 'tag'.

CREATE TABLE client_counts (
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (dimension, value)
) WITHOUT ROWID;

CREATE TRIGGER client_counts_insert AFTER INSERT ON contacts
WHEN NEW.deleted_at IS NULL AND NEW.phone_number IS NOT NULL
BEGIN
    INSERT INTO client_counts VALUES ('all', '', 1), ('operator_code', NEW.operator_code, 1)
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER client_counts_leave AFTER UPDATE OF deleted_at, phone_number, operator_code ON contacts
WHEN OLD.deleted_at IS NULL AND OLD.phone_number IS NOT NULL
BEGIN
    UPDATE client_counts SET count = count - 1
    WHERE (dimension = 'all' AND value = '') OR (dimension = 'operator_code' AND value = OLD.operator_code)
       OR (dimension = 'tag' AND value IN (SELECT tag FROM contact_tags WHERE contact_id = OLD.id));
END;

CREATE TRIGGER client_counts_join AFTER UPDATE OF deleted_at, phone_number, operator_code ON contacts
WHEN NEW.deleted_at IS NULL AND NEW.phone_number IS NOT NULL
BEGIN
    INSERT INTO client_counts
    SELECT * FROM (
        SELECT 'all', '', 1 UNION ALL SELECT 'operator_code', NEW.operator_code, 1
        UNION ALL SELECT 'tag', tag, 1 FROM contact_tags WHERE contact_id = NEW.id)
    WHERE true
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER client_counts_tag_added AFTER INSERT ON contact_tags
WHEN EXISTS (SELECT 1 FROM contacts WHERE id = NEW.contact_id AND deleted_at IS NULL AND phone_number IS NOT NULL)
BEGIN
    INSERT INTO client_counts VALUES ('tag', NEW.tag, 1)
    ON CONFLICT (dimension, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER client_counts_tag_removed AFTER DELETE ON contact_tags
WHEN EXISTS (SELECT 1 FROM contacts WHERE id = OLD.contact_id AND deleted_at IS NULL AND phone_number IS NOT NULL)
BEGIN
    UPDATE client_counts SET count = count - 1 WHERE dimension = 'tag' AND value = OLD.tag;
END;

INSERT INTO client_counts
SELECT 'all', '', count(*) FROM contacts WHERE deleted_at IS NULL AND phone_number IS NOT NULL
UNION ALL
SELECT 'operator_code', operator_code, count(*) FROM contacts
WHERE deleted_at IS NULL AND phone_number IS NOT NULL GROUP BY operator_code
UNION ALL
SELECT 'tag', t.tag, count(*) FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
WHERE c.deleted_at IS NULL AND c.phone_number IS NOT NULL GROUP BY t.tag;

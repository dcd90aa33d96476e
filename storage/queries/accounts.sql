-- The CRM's accounts (seed 002), read: a page of the list, rendered by SQLite as the JSON the API
-- answers with, its counts, one account's detail and what it links to. An account is a live
-- contact that is not a chatbot sender profile (platform_users.contact_id). Nothing here writes.
-- lastMessageTime: the newest message of the account's history (every channel, cancelled ones
-- left out), one seek back along messages_contact.

-- name: accounts_page
-- Newest first, along contacts_live.
SELECT coalesce(json_group_array(json(a.account)), '[]') AS page, count(*) AS size FROM (
    SELECT json_object(
        'id', CAST(c.id AS TEXT), 'name', c.name,
        'tags', json((SELECT json_group_array(tag) FROM contact_tags WHERE contact_id = c.id)),
        'from', coalesce(c.source, 'UNKNOWN'), 'botStatus', c.bot_status,
        'lastMessageTime', (SELECT m.created_at FROM messages m
                            WHERE m.contact_id = c.id AND m.status != 'cancelled' ORDER BY m.id DESC LIMIT 1),
        'createdAt', c.created_at) AS account
    FROM contacts c INDEXED BY contacts_live
    WHERE c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
    ORDER BY c.id DESC LIMIT :limit OFFSET :offset) a;

-- name: accounts_page_tagged
-- The accounts with one tag, newest first, along contact_tags_tag.
SELECT coalesce(json_group_array(json(a.account)), '[]') AS page, count(*) AS size FROM (
    SELECT json_object(
        'id', CAST(c.id AS TEXT), 'name', c.name,
        'tags', json((SELECT json_group_array(tag) FROM contact_tags WHERE contact_id = c.id)),
        'from', coalesce(c.source, 'UNKNOWN'), 'botStatus', c.bot_status,
        'lastMessageTime', (SELECT m.created_at FROM messages m
                            WHERE m.contact_id = c.id AND m.status != 'cancelled' ORDER BY m.id DESC LIMIT 1),
        'createdAt', c.created_at) AS account
    FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
    WHERE t.tag = :tag AND c.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
    ORDER BY t.contact_id DESC LIMIT :limit OFFSET :offset) a;

-- name: accounts_page_matching
-- Any of the :tags (a JSON array, or NULL for any) and, if :pattern is not NULL, a name or email
-- LIKE :pattern or a phone number LIKE :phone_pattern: a scan, for the thread reader.
SELECT coalesce(json_group_array(json(a.account)), '[]') AS page, count(*) AS size FROM (
    SELECT json_object(
        'id', CAST(c.id AS TEXT), 'name', c.name,
        'tags', json((SELECT json_group_array(tag) FROM contact_tags WHERE contact_id = c.id)),
        'from', coalesce(c.source, 'UNKNOWN'), 'botStatus', c.bot_status,
        'lastMessageTime', (SELECT m.created_at FROM messages m
                            WHERE m.contact_id = c.id AND m.status != 'cancelled' ORDER BY m.id DESC LIMIT 1),
        'createdAt', c.created_at) AS account
    FROM contacts c INDEXED BY contacts_live
    WHERE c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
      AND (:tags IS NULL OR EXISTS (SELECT 1 FROM contact_tags t
                                    WHERE t.contact_id = c.id AND t.tag IN (SELECT value FROM json_each(:tags))))
      AND (:pattern IS NULL OR c.name LIKE :pattern ESCAPE '\' OR c.email LIKE :pattern ESCAPE '\'
           OR c.phone_number LIKE :phone_pattern ESCAPE '\')
    ORDER BY c.id DESC LIMIT :limit OFFSET :offset) a;

-- name: count_accounts
-- In all (:tag NULL) or with one tag, from account_counts (migration 0013).
SELECT coalesce((SELECT count FROM account_counts
                 WHERE dimension = CASE WHEN :tag IS NULL THEN 'all' ELSE 'tag' END AND value = coalesce(:tag, '')), 0);

-- name: count_accounts_with_any_tag
-- The accounts with any of :tags (a JSON array): one range of contact_tags_tag per tag.
SELECT count(DISTINCT t.contact_id) FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
WHERE t.tag IN (SELECT value FROM json_each(:tags)) AND c.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id);

-- name: count_accounts_matching
-- As accounts_page_matching: a scan.
SELECT count(*) FROM contacts c INDEXED BY contacts_live
WHERE c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
  AND (:tags IS NULL OR EXISTS (SELECT 1 FROM contact_tags t
                                WHERE t.contact_id = c.id AND t.tag IN (SELECT value FROM json_each(:tags))))
  AND (:pattern IS NULL OR c.name LIKE :pattern ESCAPE '\' OR c.email LIKE :pattern ESCAPE '\'
       OR c.phone_number LIKE :phone_pattern ESCAPE '\');

-- name: account_exists
SELECT 1 FROM contacts c
WHERE c.id = :id AND c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id);

-- name: account_last_message_time
SELECT created_at FROM messages WHERE contact_id = :id AND status != 'cancelled' ORDER BY id DESC LIMIT 1;

-- name: account_subscriptions
-- Every price-alert subscription the account's subscribers have or had, oldest first.
SELECT s.qkey, s.unsubscribed_at FROM subscribers sb JOIN subscriptions s ON s.subscriber_id = sb.id
WHERE sb.contact_id = :id
ORDER BY s.id;

-- name: account_contacted_users
-- The platform users who wrote to the account: operators (sender 'user:<id>') and chatbot sender
-- profiles (sender 'contact:<profile contact id>'), over the account's messages not cancelled.
SELECT u.id, u.name, u.email, u.created_at, u.updated_at FROM platform_users u
WHERE u.id IN (SELECT CAST(substr(m.sender, 6) AS INTEGER) FROM messages m
               WHERE m.contact_id = :id AND m.sender LIKE 'user:%' AND m.status != 'cancelled')
   OR u.contact_id IN (SELECT CAST(substr(m.sender, 9) AS INTEGER) FROM messages m
                       WHERE m.contact_id = :id AND m.sender LIKE 'contact:%' AND m.status != 'cancelled')
ORDER BY u.id;

-- name: directory_page
-- The admin UI's contacts: the accounts newest first, a page below id :before (keyset), with one
-- :tag (or NULL) and, if :pattern is not NULL, a name or email LIKE :pattern or a phone number LIKE
-- :phone_pattern. Stops at :limit rows: a rare search scans the directory, never the message log.
SELECT c.id, c.name, c.phone_number, c.email, c.source, c.timezone, c.created_at,
       (SELECT json_group_array(tag) FROM contact_tags WHERE contact_id = c.id) AS tags
FROM contacts c INDEXED BY contacts_live
WHERE c.deleted_at IS NULL AND c.id < :before
  AND NOT EXISTS (SELECT 1 FROM platform_users p WHERE p.contact_id = c.id)
  AND (:tag IS NULL OR EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = :tag))
  AND (:pattern IS NULL OR c.name LIKE :pattern ESCAPE '\' OR c.email LIKE :pattern ESCAPE '\'
       OR c.phone_number LIKE :phone_pattern ESCAPE '\')
ORDER BY c.id DESC LIMIT :limit;

-- The admin UI's subscription pages (handlers/admin_subscriptions.py) page newest first without a
-- scan: subscribers by when they were made (their id is a UUID, so (created_at, id) is the key),
-- and the emails (messages of channel 'email') by id, all of them or those of one status. The
-- email indexes are partial: the SMS and chat messages, most of the log, are not in them, so
-- writing those costs nothing more.
CREATE INDEX subscribers_created ON subscribers (created_at, id);
CREATE INDEX messages_emails ON messages (id) WHERE channel = 'email';
CREATE INDEX messages_emails_status ON messages (status, id) WHERE channel = 'email';

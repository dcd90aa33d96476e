-- One index of a contact's messages instead of two: messages_contact (contact_id, id) and the
-- CRM's messages_history (the same with status, cancelled ones left out) were each written at a
-- random place for every message logged; a chatbot mailing of 1,000 men wrote some 1,000 pages of
-- each. This one serves both: the CRM's history reads its ids and statuses from it (cancelled
-- ones skipped in the index, never read as rows), and the templates a man holds are read from
-- its dedupe keys (`chat:<template>:<man>`) without a read of his messages' rows.

DROP INDEX messages_history;
DROP INDEX messages_contact;
CREATE INDEX messages_contact ON messages (contact_id, id, status, dedupe_key);

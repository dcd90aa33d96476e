-- Who a mailing is for, said once: live clients whose operator code is among the mailing's codes
-- and one of whose tags is among its tags (an empty list matches everyone).

CREATE VIEW mailing_recipients AS
SELECT m.id AS mailing_id, c.id AS contact_id
FROM mailings m
JOIN contacts c
  ON c.deleted_at IS NULL AND c.phone_number IS NOT NULL
 AND (m.filter_op_codes = '[]' OR c.operator_code IN (SELECT value FROM json_each(m.filter_op_codes)))
 AND (m.filter_tags = '[]' OR EXISTS (
        SELECT 1 FROM contact_tags t
        WHERE t.contact_id = c.id AND t.tag IN (SELECT value FROM json_each(m.filter_tags))));

-- The daily mailing report: read-only queries over mailings and mailing_status_counts.

-- name: mailings_for_report
-- Mailings not deleted whose span [datetime_start, datetime_end) overlaps [:day_start, :day_end)
-- or that were created in it; one row per (mailing, status with messages), status NULL if none.
SELECT m.id, m.datetime_start, m.datetime_end, m.message_text, m.created_at,
       c.status, c.count
FROM mailings m
LEFT JOIN mailing_status_counts c ON c.mailing_id = m.id AND c.count > 0
WHERE m.deleted_at IS NULL
  AND ((m.datetime_start < :day_end AND m.datetime_end > :day_start)
       OR (m.created_at >= :day_start AND m.created_at < :day_end))
ORDER BY m.datetime_start, m.id, c.status;

-- Live mailings in the notification API's shape: times with a plain `Z` when they have no
-- milliseconds, filters as comma-separated text. Statistics read pages of this many times a second.

CREATE VIEW api_mailings AS
SELECT id,
       replace(datetime_start, '.000Z', 'Z') AS datetime_start,
       replace(datetime_end, '.000Z', 'Z') AS datetime_end,
       message_text,
       coalesce((SELECT group_concat(value, ',') FROM json_each(filter_tags)), '') AS filter_tag,
       coalesce((SELECT group_concat(value, ',') FROM json_each(filter_op_codes)), '') AS filter_op_codes,
       window_start,
       window_end
FROM mailings
WHERE deleted_at IS NULL;

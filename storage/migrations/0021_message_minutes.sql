-- What the engines did, minute by minute, for the admin dashboard's chart and its provider errors,
-- kept by a trigger as messages change status, so that the dashboard never scans the message log.
-- `outcome`: sent, failed, or retried (a try that came back pending: a temporary failure, or an
-- SMS the PBX took and whose result is still to come). `last_error`: the newest error of that
-- minute. One row per minute, channel and outcome that occurred (at most 4,320 a day per channel);
-- each new row deletes those more than 7 days older than it, so the table never holds more than a
-- week. The PBX's later results (a webhook deciding an SMS it took) are not counted here: they
-- change no try.
CREATE TABLE message_minutes (
    minute     TEXT NOT NULL,              -- UTC, 2026-12-03T14:05
    channel    TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    count      INTEGER NOT NULL,
    last_error TEXT,
    PRIMARY KEY (minute, channel, outcome)
) WITHOUT ROWID;

CREATE TRIGGER message_minutes_outcome AFTER UPDATE OF status ON messages
WHEN OLD.status = 'sending' AND NEW.status IN ('sent', 'failed', 'pending') AND NEW.attempts > OLD.attempts
BEGIN
    INSERT INTO message_minutes (minute, channel, outcome, count, last_error)
    VALUES (substr(NEW.updated_at, 1, 16), NEW.channel,
            CASE NEW.status WHEN 'pending' THEN 'retried' ELSE NEW.status END, 1,
            CASE WHEN NEW.status = 'sent' THEN NULL ELSE NEW.last_error END)
    ON CONFLICT (minute, channel, outcome) DO UPDATE
    SET count = count + 1, last_error = coalesce(excluded.last_error, last_error);
END;

CREATE TRIGGER message_minutes_week AFTER INSERT ON message_minutes
BEGIN
    DELETE FROM message_minutes WHERE minute < strftime('%Y-%m-%dT%H:%M', NEW.minute || ':00', '-7 days');
END;

-- The telephony family (seed 004): the commands forwarded to the MANGO OFFICE PBX, every webhook
-- it sent us, and the calls those webhooks describe.

-- One row per command Herald forwarded (commands/*): what was sent (the `json` field, never the
-- key or the signature), Mango's immediate answer, and the outcome its result/<command> webhook
-- brought later. `message_id` is the message-log row of an SMS sent through the PBX.
CREATE TABLE telephony_commands (
    id            INTEGER PRIMARY KEY,
    command_id    TEXT NOT NULL UNIQUE,
    endpoint      TEXT NOT NULL,             -- ours: /send_sms
    mango_path    TEXT NOT NULL,             -- commands/sms
    request       TEXT NOT NULL,             -- the json sent
    answer_status INTEGER,                   -- HTTP status of Mango's answer; NULL: none came
    answer        TEXT,                      -- its body, or what went wrong
    result        INTEGER,                   -- the result code of result/<command>
    outcome       TEXT,                      -- that webhook's json
    message_id    INTEGER,
    created_at    TEXT NOT NULL,
    answered_at   TEXT,
    completed_at  TEXT
);
CREATE INDEX telephony_commands_message ON telephony_commands (message_id) WHERE message_id IS NOT NULL;

-- Every webhook as it came (its json field, byte for byte), once: `digest` is sha256 of its kind
-- and json, so Mango's repeat of an event is not stored again.
CREATE TABLE telephony_events (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,               -- events/call, result/sms, ping, ... (storage/telephony.py)
    path        TEXT NOT NULL,               -- as received, under /mango/
    body        TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    entry_id    TEXT,
    call_id     TEXT,
    seq         INTEGER,
    command_id  TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX telephony_events_entry ON telephony_events (entry_id, seq) WHERE entry_id IS NOT NULL;
CREATE INDEX telephony_events_command ON telephony_events (command_id) WHERE command_id IS NOT NULL;

-- A call (one Mango entry_id): its state is that of its event with the highest seq, whatever
-- order the events came in; the summary closes it.
CREATE TABLE calls (
    id                INTEGER PRIMARY KEY,
    entry_id          TEXT NOT NULL UNIQUE,
    state             TEXT,                  -- Appeared, Connected, OnHold, Disconnected
    last_seq          INTEGER,
    direction         TEXT,                  -- incoming, outgoing, internal (from the summary)
    from_number       TEXT,
    from_extension    TEXT,
    to_number         TEXT,
    to_extension      TEXT,
    line_number       TEXT,
    answered_by       TEXT,                  -- the extension that took it
    started_at        TEXT,
    answered_at       TEXT,
    ended_at          TEXT,
    talk_seconds      INTEGER,
    answered          INTEGER,               -- the summary's entry_result: 1 talked, 0 missed
    disconnect_reason INTEGER,
    contact_id        INTEGER REFERENCES contacts (id),
    summary           TEXT,                  -- the summary's json, once it came
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX calls_started ON calls (started_at, id);
CREATE INDEX calls_from_number ON calls (from_number, id);
CREATE INDEX calls_to_number ON calls (to_number, id);
CREATE INDEX calls_from_extension ON calls (from_extension, id);
CREATE INDEX calls_to_extension ON calls (to_extension, id);

-- A caller whose number is not a Russian phone number (an extension, a sip: address, a foreign
-- number) is a contact by that number, kept in external_ids.mango.
CREATE INDEX contacts_mango ON contacts (json_extract(external_ids, '$.mango'))
    WHERE deleted_at IS NULL;

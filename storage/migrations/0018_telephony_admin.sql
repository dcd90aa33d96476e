-- The admin UI's telephony pages (handlers/admin_telephony.py) list newest first, a page at a
-- time below an id (keyset): commands by endpoint, webhooks by kind, calls by the extension that
-- answered them (from_extension and to_extension have their indexes since 0016).
CREATE INDEX telephony_commands_endpoint ON telephony_commands (endpoint, id);
CREATE INDEX telephony_events_kind ON telephony_events (kind, id);
CREATE INDEX calls_answered_by ON calls (answered_by, id) WHERE answered_by IS NOT NULL;

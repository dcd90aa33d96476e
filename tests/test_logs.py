"""Log lines carry their ids as key=value pairs, and `json` gives one JSON object per line."""

import json
import logging

from server.logs import JsonFormatter, TextFormatter


def record(**extra) -> logging.LogRecord:
    item = logging.LogRecord("herald.dispatch", logging.INFO, __file__, 1, "message %s", ("sent",), None)
    for key, value in extra.items():
        setattr(item, key, value)
    return item


def test_text_lines_end_with_their_ids():
    line = TextFormatter().format(record(mailing_id=42, message_id=7, client_id=3))
    assert line.endswith("herald.dispatch message sent mailing_id=42 message_id=7 client_id=3")


def test_json_lines_hold_their_ids_as_fields():
    entry = json.loads(JsonFormatter().format(record(mailing_id=42)))
    assert entry["message"] == "message sent" and entry["mailing_id"] == 42 and entry["level"] == "INFO"


async def test_each_request_is_logged_once_with_its_status(client, caplog):
    with caplog.at_level(logging.INFO, logger="herald.http"):
        await client.get("/health")
    lines = [r.getMessage() for r in caplog.records if r.name == "herald.http"]
    assert lines == ["GET /health 200"]
    assert hasattr([r for r in caplog.records if r.name == "herald.http"][0], "duration_ms")

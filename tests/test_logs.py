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


def test_the_configured_format_reaches_stderr(tmp_path):
    """Through main.py's own logging set-up (a listener thread): JSON lines with their fields."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HERALD_LOG__FORMAT="json", HERALD_STORAGE__PATH=str(tmp_path / "h.db"))
    result = subprocess.run([sys.executable, str(root / "main.py"), "--config", str(tmp_path / "none.toml"),
                             "create_token", "x"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"logger": "herald.storage", "message": "applied migration 0001_core", "level": "INFO"}.items() \
        <= entries[0].items()


async def test_one_grep_finds_what_the_api_did_to_a_client_or_mailing(client, caplog):
    from tests.conftest import AUTH

    with caplog.at_level(logging.INFO):
        created = await (await client.post("/Clients/", data={"phone_number": "79000000001"}, headers=AUTH)).json()
        await client.patch(f"/Clients/{created['id']}/", data={"tag": "vip"}, headers=AUTH)
        mailing = await (await client.post("/Mailing/", data={"datetime_start": "2030-01-01T00:00",
                                                              "datetime_end": "2030-01-02T00:00",
                                                              "message_text": "x"}, headers=AUTH)).json()
        await client.get(f"/Stats/{mailing['id']}/", headers=AUTH)
    text = TextFormatter()
    lines = [text.format(record) for record in caplog.records]
    about_client = [line for line in lines if f"client_id={created['id']}" in line]
    about_mailing = [line for line in lines if f"mailing_id={mailing['id']}" in line]
    assert any("client created" in line for line in about_client)
    assert any(f"PATCH /Clients/{created['id']}/ 200" in line for line in about_client)
    assert any("mailing created" in line for line in about_mailing)
    assert any(f"GET /Stats/{mailing['id']}/ 200" in line for line in about_mailing)


async def test_request_lines_name_query_parameters_but_mask_personal_values(client, caplog):
    """Emails, sessions, passport ids, the keys of emailed links and tokens stay out of the log;
    `limit=25` and a qkey stay in it, and so does every parameter's name."""
    from tests.conftest import AUTH

    qkey = "c213_c2_2027-04-01_None_economy_1_0_0_ru"
    secrets = ["me@example.com", "sess-1", "pp-42", "abc123", "deadbeef", "cafe77", "tok-9", "you@example.org"]
    with caplog.at_level(logging.INFO, logger="herald.http"):
        await client.get("/email_subscription/v1.0/subscribe", headers=AUTH, params={
            "email": "me@example.com", "session": "sess-1", "qkey": qkey, "email_source": "README"})
        await client.get("/email_subscription/v1.0/user_subscriptions/list", headers=AUTH,
                         params={"passportuid": "pp-42"})
        await client.get("/email_subscription/v1.0/confirm", params={"id": "abc123", "p": "deadbeef"})
        await client.get("/email_subscription/v1.0/confirm?id=abc123&s=cafe77")
        await client.get("/Clients/?limit=25&offset=0&access_token=tok-9&tag=", headers=AUTH)
        await client.get("/health?you@example.org")
    lines = [r.getMessage().rsplit(" ", 1)[0] for r in caplog.records if r.name == "herald.http"]
    assert lines == [
        f"GET /email_subscription/v1.0/subscribe?email=***&session=***&qkey={qkey}&email_source=README",
        "GET /email_subscription/v1.0/user_subscriptions/list?passportuid=***",
        "GET /email_subscription/v1.0/confirm?id=***&p=***",
        "GET /email_subscription/v1.0/confirm?id=***&s=***",
        "GET /Clients/?limit=25&offset=0&access_token=***&tag=",
        "GET /health?***",
    ]
    assert not [r.getMessage() for r in caplog.records if any(s in r.getMessage() for s in secrets)]

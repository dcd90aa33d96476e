"""jobs/report.py: the daily report, from a real SQLite file to a real SMTP server and parsed back.

The day under test ends at 2026-11-22 22:00 UTC, which is already 2026-11-23 01:00 in Moscow, so
the subject's date and the shown times prove that reports.timezone is applied.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path


from jobs.report import send_daily_report
from server.gateways.email import EmailSender
from server.settings import ReportSettings, SmtpSettings
from storage.db import Database
from tests.smtp_server import ReceivedEmail, SmtpTestServer

NOW = datetime(2026, 11, 22, 22, 0, tzinfo=timezone.utc)
DAY_START = "2026-11-21T22:00:00.000Z"
DAY_END = "2026-11-22T22:00:00.000Z"
LONG_TEXT = "Big <b>winter</b> sale: " + "everything must go! " * 20
STATUSES = ("pending", "sending", "sent", "failed", "expired", "cancelled")
RECIPIENTS = ["ops@example.com", "boss@example.com"]


# -- the database ----------------------------------------------------------------------------------



async def add_contacts(db: Database, count: int) -> None:
    async with db.transaction() as tx:
        for number in range(1, count + 1):
            await tx.execute(
                "INSERT INTO contacts (id, phone_number, operator_code, created_at, updated_at)"
                " VALUES (?, ?, '912', ?, ?)",
                (number, f"7912000{number:04d}", DAY_START, DAY_START),
            )


async def add_mailing(
    db: Database,
    mailing_id: int,
    start: str,
    end: str,
    created: str = "2026-11-01T00:00:00.000Z",
    text: str = "Hello",
    deleted: str | None = None,
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO mailings (id, datetime_start, datetime_end, message_text, created_at,"
            " updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (mailing_id, start, end, text, created, created, deleted),
        )


async def add_messages(db: Database, mailing_id: int, statuses: list[str]) -> None:
    """One message per status, to contacts 1..n; each goes in as pending and then moves on, so
    that the counts come from both the insert and the update triggers."""
    async with db.transaction() as tx:
        for contact_id, status in enumerate(statuses, start=1):
            await tx.execute(
                "INSERT INTO messages (contact_id, mailing_id, channel, status, created_at,"
                " updated_at) VALUES (?, ?, 'sms', 'pending', ?, ?)",
                (contact_id, mailing_id, DAY_START, DAY_START),
            )
            await tx.execute(
                "UPDATE messages SET status = ? WHERE mailing_id = ? AND contact_id = ?",
                (status, mailing_id, contact_id),
            )


async def fill_the_day(db: Database) -> None:
    await add_contacts(db, 10)
    # 1: runs inside the day.
    await add_mailing(db, 1, "2026-11-22T06:00:00.000Z", "2026-11-22T18:00:00.000Z", text=LONG_TEXT)
    await add_messages(db, 1, ["sent", "sent", "failed", "pending", "cancelled"])
    # 2: created during the day, starts later; no messages yet.
    await add_mailing(
        db, 2, "2026-11-25T06:00:00.000Z", "2026-11-26T06:00:00.000Z",
        created="2026-11-22T10:00:00.000Z", text="Coming soon",
    )
    # 3: started before the day and ended during it.
    await add_mailing(db, 3, "2026-11-20T00:00:00.000Z", "2026-11-22T00:00:00.000Z", text="Old")
    await add_messages(db, 3, ["expired", "expired", "expired", "sending"])
    # 4: over before the day began. 5: inside the day but deleted.
    await add_mailing(db, 4, "2026-11-19T00:00:00.000Z", "2026-11-20T00:00:00.000Z", text="Gone")
    await add_messages(db, 4, ["sent"] * 7)
    await add_mailing(
        db, 5, "2026-11-22T06:00:00.000Z", "2026-11-22T07:00:00.000Z",
        text="Deleted one", deleted="2026-11-22T08:00:00.000Z",
    )
    await add_messages(db, 5, ["sent"] * 9)
    # 6: ends exactly when the day starts; 7: starts and is created exactly when it ends.
    await add_mailing(db, 6, "2026-11-21T00:00:00.000Z", DAY_START, text="Edge before")
    await add_messages(db, 6, ["failed"] * 6)
    await add_mailing(
        db, 7, DAY_END, "2026-11-23T10:00:00.000Z", created=DAY_END, text="Edge after"
    )
    await add_messages(db, 7, ["pending"] * 8)


# What mailings 1, 2 and 3 add up to (4, 5, 6 and 7 must not count).
DAY_TOTALS = {
    "total": 9, "pending": 1, "sending": 1, "sent": 2, "failed": 1, "expired": 3, "cancelled": 1
}


# -- reading the email back ------------------------------------------------------------------------


def text_counts(text: str) -> dict[str, dict[str, int]]:
    """Block heading ('#1' or 'All mailings') -> {'total': n, status: n, ...} from the text part."""
    found = {}
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().splitlines()
        counts = [line for line in lines if line.strip().startswith("total ")]
        if not counts:
            continue
        heading = lines[0].split("  ")[0].split(" (")[0]
        total, rest = re.fullmatch(r"\s*total (\d+): (.*)", counts[0]).groups()
        pairs = dict(pair.split(" ") for pair in rest.split(", "))
        found[heading] = {"total": int(total), **{k: int(v) for k, v in pairs.items()}}
    return found


class ReportTable(HTMLParser):
    """Rows of the HTML report: data-mailing-id (or 'totals') -> {cell class: cell text}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._cell: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr":
            key = attributes.get("data-mailing-id") or attributes.get("class")
            self._row = self.rows.setdefault(key, {}) if key else None
        elif tag == "td" and self._row is not None:
            self._cell = attributes.get("class")
            if self._cell:
                self._row[self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell:
            self._row[self._cell] += data


def html_counts(row: dict[str, str]) -> dict[str, int]:
    return {key: int(row[key]) for key in ("total", *STATUSES)}


def expected(total: int, **counts: int) -> dict[str, int]:
    return {"total": total, **{status: counts.get(status, 0) for status in STATUSES}}


def smtp_settings_for(server: SmtpTestServer) -> SmtpSettings:
    return SmtpSettings(transport="smtp", host=server.host, port=server.port)


async def send_report(
    db: Database, server: SmtpTestServer, recipients: list[str] = RECIPIENTS
) -> tuple[int, ReceivedEmail]:
    sender = EmailSender(smtp_settings_for(server))
    await sender.start()
    try:
        settings = ReportSettings(daily_stats_to=recipients, timezone="Europe/Moscow")
        sent_to = await send_daily_report(db, sender, settings, now=NOW)
    finally:
        await sender.close()
    [received] = await server.wait_for(1)
    return sent_to, received


# -- the tests -------------------------------------------------------------------------------------


async def test_report_goes_to_every_recipient_with_the_local_date(db, smtp_server):
    await fill_the_day(db)

    sent_to, received = await send_report(db, smtp_server)

    assert sent_to == 2
    assert sorted(received.rcpt_tos) == sorted(RECIPIENTS)
    assert [a.addr_spec for a in received.message["To"].addresses] == RECIPIENTS
    assert received.message["Subject"] == "Herald daily report, 2026-11-23"
    assert received.message.get_content_type() == "multipart/alternative"


async def test_text_part_lists_the_days_mailings_with_all_six_counts(db, smtp_server):
    await fill_the_day(db)

    _, received = await send_report(db, smtp_server)
    text = received.body("plain")

    assert text_counts(text) == {
        "#1": expected(5, sent=2, failed=1, pending=1, cancelled=1),
        "#2": expected(0),
        "#3": expected(4, expired=3, sending=1),
        "All mailings": DAY_TOTALS,
    }
    assert "#1  2026-11-22 09:00 - 2026-11-22 21:00" in text  # Moscow time, UTC+3
    assert "2026-11-22 01:00 to 2026-11-23 01:00 (Europe/Moscow)" in text
    for absent in ("Gone", "Deleted one", "Edge before", "Edge after", "#4", "#5", "#6", "#7"):
        assert absent not in text


async def test_html_part_has_the_same_counts_and_escapes_message_text(db, smtp_server):
    await fill_the_day(db)

    _, received = await send_report(db, smtp_server)
    html = received.body("html")
    rows = ReportTable(html).rows

    assert set(rows) == {"1", "2", "3", "totals"}
    assert html_counts(rows["1"]) == expected(5, sent=2, failed=1, pending=1, cancelled=1)
    assert html_counts(rows["2"]) == expected(0)
    assert html_counts(rows["3"]) == expected(4, expired=3, sending=1)
    assert html_counts(rows["totals"]) == DAY_TOTALS
    assert rows["1"]["start"] == "2026-11-22 09:00"
    assert rows["2"]["text"] == "Coming soon"
    # The stored text is shortened to one line and shown as text, not as markup.
    assert rows["1"]["text"].startswith("Big <b>winter</b> sale: everything must go!")
    assert rows["1"]["text"].endswith("…") and len(rows["1"]["text"]) <= 80
    assert "<b>winter</b>" not in html
    assert "&lt;b&gt;winter&lt;/b&gt;" in html


async def test_a_day_without_mailings_still_sends_a_report_saying_so(db, smtp_server):
    _, received = await send_report(db, smtp_server, recipients=["ops@example.com"])

    assert "No mailings ran or were created in this period." in received.body("plain")
    assert "No mailings ran or were created in this period." in received.body("html")
    assert ReportTable(received.body("html")).rows == {}


async def test_log_lines_name_each_reported_mailing(db, smtp_server, caplog):
    await fill_the_day(db)

    with caplog.at_level(logging.DEBUG, logger="herald.report"):
        await send_report(db, smtp_server)

    mentioned = {r.mailing_id for r in caplog.records if hasattr(r, "mailing_id")}
    assert mentioned == {1, 2, 3}


async def test_without_recipients_nothing_is_sent_and_a_warning_is_logged(db, smtp_server, caplog):
    await fill_the_day(db)
    sender = EmailSender(smtp_settings_for(smtp_server))
    await sender.start()
    try:
        with caplog.at_level(logging.WARNING, logger="herald.report"):
            sent_to = await send_daily_report(db, sender, ReportSettings(), now=NOW)
    finally:
        await sender.close()

    assert sent_to == 0
    assert smtp_server.received == []
    assert smtp_server.connection_count == 0
    assert any(
        r.levelno == logging.WARNING and "daily_stats_to" in r.getMessage() for r in caplog.records
    )


async def test_the_command_sends_the_report_through_smtp(tmp_path, smtp_server):
    """`python main.py send_daily_report`, as an operator runs it, to the real SMTP server."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HERALD_STORAGE__PATH=str(tmp_path / "h.db"), HERALD_SMTP__TRANSPORT="smtp",
               HERALD_SMTP__HOST=smtp_server.host, HERALD_SMTP__PORT=str(smtp_server.port),
               HERALD_REPORTS__DAILY_STATS_TO='["ops@example.com"]')
    import asyncio

    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(root / "main.py"), "--config", str(tmp_path / "none.toml"),
                         "send_daily_report"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "sent to 1 recipient" in result.stdout
    await smtp_server.wait_for(1)
    assert smtp_server.received[0].rcpt_tos == ["ops@example.com"]
    assert smtp_server.received[0].message["Subject"].startswith("Herald daily report, ")


async def test_the_server_schedules_the_report_at_the_local_time(aiohttp_client, make_settings):
    from zoneinfo import ZoneInfo

    from server.app import create_app
    from server.keys import SCHEDULER

    app = create_app(make_settings(reports={"daily_stats_to": ["ops@example.com"], "daily_stats_at": "07:30",
                                            "timezone": "Asia/Vladivostok"}))
    await aiohttp_client(app)
    job = app[SCHEDULER].get_job("daily-report")
    local = job.next_run_time.astimezone(ZoneInfo("Asia/Vladivostok"))
    assert (local.hour, local.minute) == (7, 30)
    assert 0 < (job.next_run_time - datetime.now(timezone.utc)).total_seconds() <= 24 * 3600


async def test_no_recipients_no_scheduled_report(aiohttp_client, make_settings):
    from server.app import create_app
    from server.keys import SCHEDULER

    app = create_app(make_settings())
    await aiohttp_client(app)
    assert app[SCHEDULER].get_job("daily-report") is None

"""The daily mailing report: one email, HTML and text, about the mailings of the last 24 hours.

It reads through storage/reports.py and sends through the email gateway; it holds no SQL, opens
no connection of its own and does not retry: an EmailError goes to its caller (the scheduler).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from server.gateways.email import EmailError, EmailSender, build_email
from server.settings import ReportSettings
from server.templating import environment
from server.timeutil import parse_datetime, utc_now
from storage import reports
from storage.db import Database
from storage.messages import STATUSES

log = logging.getLogger("herald.report")

REPORT_PERIOD = timedelta(days=1)
MESSAGE_PREVIEW_CHARS = 80


async def send_daily_report(
    db: Database, sender: EmailSender, settings: ReportSettings, now: datetime | None = None
) -> int:
    """Email the report of the 24 h before `now` to `settings.daily_stats_to`; returns how many
    recipients it went to (0, with a warning, when none are configured). Raises EmailError."""
    recipients = list(settings.daily_stats_to)
    if not recipients:
        log.warning("daily report not sent: reports.daily_stats_to is empty")
        return 0
    day_end = parse_datetime(now or utc_now())
    day_start = day_end - REPORT_PERIOD
    mailings = await reports.mailings_for_report(db, day_start, day_end)
    for mailing in mailings:
        log.debug("mailing in daily report", extra={"mailing_id": mailing["id"]})
    context = report_context(mailings, day_start, day_end, ZoneInfo(settings.timezone))
    subject, text, html = render_report(context)
    message = build_email(
        sender=sender.from_address, to=recipients, subject=subject, text=text, html=html
    )
    await sender.send(message)
    log.info(
        "daily report sent",
        extra={"recipients": len(recipients), "mailings": len(mailings)},
    )
    return len(recipients)


def schedule_daily_report(
    scheduler: AsyncIOScheduler, db: Database, sender: EmailSender, settings: ReportSettings
) -> None:
    """Every day at `daily_stats_at` in `timezone`; a failure is logged and waits for tomorrow."""
    if not settings.daily_stats_to:
        return
    hour, minute = settings.daily_stats_at.split(":")

    async def run() -> None:
        try:
            await send_daily_report(db, sender, settings)
        except EmailError as exc:
            log.error("daily report not sent: %s", exc)

    trigger = CronTrigger(hour=int(hour), minute=int(minute), timezone=ZoneInfo(settings.timezone))
    scheduler.add_job(run, trigger, id="daily-report", replace_existing=True)


def report_context(
    mailings: list[dict[str, Any]], day_start: datetime, day_end: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """What the templates show: times in `zone`, texts shortened, counts per status and in all."""
    return {
        "report_date": report_date(day_end, zone),
        "zone": zone.key,
        "period_start": local_time(day_start, zone),
        "period_end": local_time(day_end, zone),
        "statuses": STATUSES,
        "mailings": [
            {
                "id": mailing["id"],
                "start": local_time(mailing["datetime_start"], zone),
                "end": local_time(mailing["datetime_end"], zone),
                "text": shorten(mailing["message_text"], MESSAGE_PREVIEW_CHARS),
                "counts": mailing["counts"],
                "total": mailing["total"],
            }
            for mailing in mailings
        ],
        "totals": {
            "mailings": len(mailings),
            "counts": {status: sum(m["counts"][status] for m in mailings) for status in STATUSES},
            "total": sum(mailing["total"] for mailing in mailings),
        },
    }


def render_report(context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text body, html body)."""
    subject = f"Herald daily report, {context['report_date']}"
    text = environment().get_template("email/daily_report.txt").render(subject=subject, **context)
    html = environment().get_template("email/daily_report.html").render(subject=subject, **context)
    return subject, text, html


def report_date(day_end: datetime, zone: ZoneInfo) -> str:
    # The local date the period ends on, taken just before its end, so that a report sent at
    # local midnight is named after the day it covers.
    return (day_end - timedelta(microseconds=1)).astimezone(zone).date().isoformat()


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters, ending in an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"

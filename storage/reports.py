"""Data for the daily mailing report: which mailings a period touched and their message counts.

Read-only: nothing here writes, formats for people or sends anything. Counts come from
`mailing_status_counts` (kept by triggers), so the report never scans the message log; the
mailings are read on the thread reader all the same, so a long report never stalls the loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.timeutil import from_db, to_db
from storage.db import Database
from storage.messages import STATUSES
from storage.sql import Q


async def mailings_for_report(
    db: Database, day_start: datetime, day_end: datetime
) -> list[dict[str, Any]]:
    """Mailings not deleted that overlap [day_start, day_end) or were created in it, by start.

    Each: id, datetime_start, datetime_end, created_at (aware UTC datetimes), message_text,
    counts (every status in STATUSES, zeros included) and total (all their messages).
    """
    rows = await db.slow.fetch_all(
        Q.mailings_for_report, {"day_start": to_db(day_start), "day_end": to_db(day_end)}
    )
    mailings: dict[int, dict[str, Any]] = {}
    for row in rows:
        mailing = mailings.get(row["id"])
        if mailing is None:
            mailing = mailings[row["id"]] = _mailing(row)
        status, count = row["status"], row["count"]
        if status is not None:
            mailing["counts"][status] = mailing["counts"].get(status, 0) + count
            mailing["total"] += count
    return list(mailings.values())


def _mailing(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "datetime_start": from_db(row["datetime_start"]),
        "datetime_end": from_db(row["datetime_end"]),
        "created_at": from_db(row["created_at"]),
        "message_text": row["message_text"],
        "counts": dict.fromkeys(STATUSES, 0),
        "total": 0,
    }

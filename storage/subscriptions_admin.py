"""What the admin UI's subscription pages read: subscribers, the directions subscribed to and their
prices per day, the family's emails (confirmations and price changes), the jobs' last runs.

Reads only: subscribers and subscriptions are written by storage/subscribers.py, prices by
storage/prices.py, emails by storage/messages.py, the leases by storage/job_runs.py. Lists are
keyset pages, newest first below a cursor, read on the thread reader (`db.slow`: a search may scan
until it has its page); they never count a whole table or skip rows with OFFSET. Times stay in
the stored form (server/timeutil.py).
"""

from __future__ import annotations

from typing import Any

from storage.db import Database
from storage.sql import Q

SUBSCRIBER_STATES = ("confirmed", "waiting", "no_email")
COUNT_CAP = 1000  # a list's subscriber counts stop there ("more than 1000")
NO_ID = 2**63 - 1
LATEST = ("9999-12-31T23:59:59.999Z", "")  # a subscribers cursor above every subscriber


def _like(text: str) -> str:
    """`text` anywhere, LIKE's wildcards in it taken literally (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def subscribers_page(db: Database, *, state: str, q: str, before: tuple[str, str] | None,
                           limit: int) -> list[dict[str, Any]]:
    """Subscribers newest first below `before` ((created_at, id) of the last one shown), of
    `state` (one of SUBSCRIBER_STATES, '' any), whose email contains `q` ('' any)."""
    before_at, before_id = before or LATEST
    return await db.slow.fetch_all(Q.subs_admin_subscribers_page, {
        "state": state, "pattern": _like(q.lower()) if q else None, "before_at": before_at,
        "before_id": before_id, "limit": limit})


async def directions_page(db: Database, *, q: str, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Directions with an active subscription, newest first below id `before`, whose qkey
    contains `q` ('' any): subscribers (at most COUNT_CAP + 1), the newest price (day, price,
    currency, updated_at; NULL without one) and checked_at."""
    return await db.slow.fetch_all(Q.subs_admin_directions_page, {
        "q": q, "before": before or NO_ID, "limit": limit, "cap": COUNT_CAP})


async def direction(db: Database, direction_id: int) -> dict[str, Any] | None:
    """One direction (any, subscribed to or not) with its subscribers now and its newest point names."""
    return await db.slow.fetch_one(Q.subs_admin_direction, {"id": direction_id})


async def direction_prices(db: Database, direction_id: int, *, limit: int) -> list[dict[str, Any]]:
    """The direction's newest `limit` days of prices, oldest first: day, price, currency, updated_at."""
    rows = await db.slow.fetch_all(Q.subs_admin_direction_prices, {"id": direction_id, "limit": limit})
    return rows[::-1]


async def direction_subscribers(db: Database, direction_id: int, *, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` active subscriptions of the direction, each with its subscriber."""
    return await db.slow.fetch_all(Q.subs_admin_direction_subscribers, {"id": direction_id, "limit": limit})


async def emails_page(db: Database, *, status: str, before: int | None, limit: int) -> list[dict[str, Any]]:
    """The family's emails newest first below id `before`, of one message status ('' any): kind,
    recipient, status, attempts, times, last_error, and for a price email its price and its
    subscription's direction (direction_id, qkey)."""
    params = {"before": before or NO_ID, "limit": limit}
    if status:
        return await db.slow.fetch_all(Q.subs_admin_emails_of_status_page, {**params, "status": status})
    return await db.slow.fetch_all(Q.subs_admin_emails_page, params)


async def job_run(db: Database, job: str) -> dict[str, Any] | None:
    """When `job`'s lease was last taken (started_at) and given back (finished_at, NULL while it runs)."""
    row = await db.fetch_one(Q.subs_admin_job_run, {"job": job})
    return dict(row) if row is not None else None

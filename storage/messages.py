"""The SMS side of the message log, as the dispatch engine uses it: claiming due messages,
recording outcomes in batches, expiring what its mailing's end overtook.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime

from server.timeutil import from_db, to_db, utc_now
from storage.db import Database
from storage.sql import Q


async def reset_in_flight(db: Database, now: datetime) -> int:
    """After a crash: what was being sent goes back to pending, to be resent with the same id."""
    async with db.transaction() as tx:
        return await tx.execute(Q.reset_in_flight, {"now": to_db(now)})


async def mailings_to_fan_out(db: Database, now: datetime) -> list[int]:
    return [row["id"] for row in await db.fetch_all(Q.mailings_to_fan_out, {"now": to_db(now)})]


async def expire_ended(db: Database, now: datetime) -> Counter[int]:
    """Expire what ended mailings left unsent; how many per mailing."""
    async with db.transaction() as tx:
        return Counter(row[0] for row in await tx.fetch_all(Q.expire_ended, {"now": to_db(now)}))


async def running_mailings(db: Database, now: datetime) -> list[sqlite3.Row]:
    return await db.fetch_all(Q.running_mailings, {"now": to_db(now)})


async def contact_timezones(db: Database) -> list[str]:
    return [row[0] for row in await db.fetch_all(Q.contact_timezones)]


async def claim_due(
    db: Database, mailing_id: int, zones: list[str] | None, now: datetime, limit: int
) -> list[sqlite3.Row]:
    """Up to `limit` due messages of the mailing (in `zones`, or any zone if None), now `sending`."""
    async with db.transaction() as tx:
        rows = await tx.fetch_all(
            Q.due_messages,
            {
                "mailing_id": mailing_id,
                "zones": None if zones is None else json.dumps(zones),
                "now": to_db(now),
                "limit": limit,
            },
        )
        if rows:
            ids = json.dumps([row["id"] for row in rows])
            await tx.execute(Q.mark_sending, {"ids": ids, "now": to_db(now)})
        return rows


async def record_results(db: Database, results: list[dict], refilter: set[int] = frozenset()) -> None:
    """Each result: id, status, tried, body, sent_at, next_attempt_at, last_error, now.

    `refilter`: mailings some of whose messages were taken back unsent after their filters changed;
    those back in `pending` that the new filters no longer match are cancelled.
    """
    async with db.transaction() as tx:
        await tx.execute_many(Q.record_send_result, results)
        for mailing_id in refilter:
            await tx.execute(Q.cancel_unmatched, {"id": mailing_id, "now": to_db(utc_now())})


async def next_mailing_start(db: Database, now: datetime) -> datetime | None:
    return from_db(await db.fetch_value(Q.next_mailing_start, {"now": to_db(now)}))


async def next_retry(db: Database, mailing_id: int, now: datetime) -> datetime | None:
    return from_db(await db.fetch_value(Q.next_retry, {"mailing_id": mailing_id, "now": to_db(now)}))

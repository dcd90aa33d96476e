"""Mailings: their rows, when they start and run, their fan-out into messages (through
storage/messages.py, in the same write) and their counts by message status.

Fan-out is one set-based statement per mailing (never a loop of inserts); counts come from
`mailing_status_counts`, which triggers keep, so statistics never scan the message log.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

import orjson

from server.timeutil import from_db, to_api, to_db, utc_now
from storage import messages
from storage.db import Database, Reads, WriteTransaction, reads, writes
from storage.messages import STATUSES
from storage.sql import Q


def _params(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "datetime_start": to_db(fields["datetime_start"]),
        "datetime_end": to_db(fields["datetime_end"]),
        "message_text": fields["message_text"],
        "filter_tags": json.dumps(fields["filter_tag"], ensure_ascii=False),
        "filter_op_codes": json.dumps(fields["filter_op_codes"]),
        "window_start": fields["window_start"],
        "window_end": fields["window_end"],
        "now": to_db(utc_now()),
    }


@reads
def get_mailing_row(conn: Reads, mailing_id: int) -> sqlite3.Row | None:
    """The stored row, as the dispatch engine needs it."""
    return conn.fetch_one(Q.get_mailing_row, {"id": mailing_id})


@reads
def get_mailing(conn: Reads, mailing_id: int) -> dict[str, Any] | None:
    """The mailing in the API's shape (the `api_mailings` view)."""
    row = conn.fetch_one(Q.get_mailing, {"id": mailing_id})
    return dict(row) if row else None


async def list_mailings(db: Database, *, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    count = await db.fetch_value(Q.count_mailings)
    rows = await db.fetch_all(Q.list_mailings, {"limit": limit, "offset": offset})
    return count, [dict(row) for row in rows]


def _with_counts(row: sqlite3.Row) -> dict[str, Any]:
    """The mailing with `statuses` (every status, zeros included) and their `total`."""
    mailing = dict(row)
    statuses = {**dict.fromkeys(STATUSES, 0), **orjson.loads(mailing.pop("statuses"))}
    return {**mailing, "total": sum(statuses.values()), "statuses": statuses}


async def list_mailings_with_counts(
    db: Database, *, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    count = await db.fetch_value(Q.count_mailings)
    rows = await db.fetch_all(Q.list_mailings_with_counts, {"limit": limit, "offset": offset})
    return count, [_with_counts(row) for row in rows]


async def active_mailings_with_counts(db: Database, now: datetime, *, limit: int) -> list[dict[str, Any]]:
    """Mailings whose end has not come: running, then due (by start), with counts as above."""
    rows = await db.fetch_all(Q.active_mailings_with_counts, {"now": to_db(now), "limit": limit})
    return [_with_counts(row) for row in rows]


async def admin_page(db: Database, now: datetime, *, state: str, q: str, before: int | None,
                     limit: int) -> list[dict[str, Any]]:
    """Mailings newest first, `limit` of them below id `before`, by state and text (the admin UI)."""
    rows = await db.slow.fetch_all(Q.admin_mailings_page, {"now": to_db(now), "state": state, "q": q,
                                                           "before": before or _NO_ID, "limit": limit})
    return [_with_counts(row) for row in rows]


async def admin_messages_page(db: Database, mailing_id: int, *, status: str, after: int,
                              limit: int) -> list[dict[str, Any]]:
    """A mailing's messages in id order after `after`, of one status ('' any)."""
    rows = await db.slow.fetch_all(Q.admin_mailing_messages_page, {"id": mailing_id, "status": status,
                                                                   "after": after, "limit": limit})
    return [{**row, **{key: to_api(row[key]) for key in ("created_at", "sent_at", "next_attempt_at")}}
            for row in rows]


async def get_mailing_with_counts(db: Database, mailing_id: int) -> dict[str, Any] | None:
    row = await db.fetch_one(Q.get_mailing_with_counts, {"id": mailing_id})
    return _with_counts(row) if row else None


@writes
def create_mailing(tx: WriteTransaction, fields: dict[str, Any]) -> dict[str, Any]:
    mailing_id = tx.fetch_value(Q.insert_mailing, _params(fields))
    return get_mailing(tx, mailing_id)


@writes
def update_mailing(tx: WriteTransaction, mailing_id: int, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Replace the mailing; if it has fanned out, its unsent messages follow the new filters."""
    if not tx.execute(Q.update_mailing, {**_params(fields), "id": mailing_id}):
        return None
    if get_mailing_row(tx, mailing_id)["fanned_out_at"] is not None:
        messages.cancel_unmatched(tx, mailing_id)
        messages.enqueue_mailing(tx, mailing_id)
    return get_mailing(tx, mailing_id)


@writes
def delete_mailing(tx: WriteTransaction, mailing_id: int) -> bool:
    if not tx.execute(Q.soft_delete_mailing, {"id": mailing_id, "now": to_db(utc_now())}):
        return False
    messages.cancel(tx, mailing_id=mailing_id)
    return True


_NO_ID = 2**63 - 1  # `before` of a first page: after every id
FAN_OUT_CHUNK = 20_000  # recipients per write: memory and the writer's turn stay small


async def fan_out(db: Database, mailing_id: int) -> int:
    """Create the mailing's messages, FAN_OUT_CHUNK contacts per write, so that neither the
    process's memory nor the API's writes waiting behind it grow with the mailing's size; then
    mark it fanned out. Returns how many messages were created (or revived). Interrupted, it is
    run again from the start: the rows already made are left as they are."""
    created, after = 0, 0
    while (upto := await db.fetch_value(Q.contact_id_range_end, {"after": after, "limit": FAN_OUT_CHUNK})) is not None:
        created += await messages.enqueue_mailing(db, mailing_id, contacts=(after, upto))
        after = upto
    await _mark_fanned_out(db, mailing_id)
    return created


@writes
def _mark_fanned_out(tx: WriteTransaction, mailing_id: int) -> None:
    tx.execute(Q.mark_fanned_out, {"id": mailing_id, "now": to_db(utc_now())})


async def mailings_to_fan_out(db: Database, now: datetime) -> list[int]:
    """Mailings running at `now` whose messages are not made yet."""
    return [row["id"] for row in await db.fetch_all(Q.mailings_to_fan_out, {"now": to_db(now)})]


async def running_mailings(db: Database, now: datetime) -> list[sqlite3.Row]:
    """Fanned-out mailings running at `now` that still have pending messages."""
    return await db.fetch_all(Q.running_mailings, {"now": to_db(now)})


async def next_mailing_start(db: Database, now: datetime) -> datetime | None:
    return from_db(await db.fetch_value(Q.next_mailing_start, {"now": to_db(now)}))


async def list_messages(
    db: Database, mailing_id: int, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        Q.list_mailing_messages, {"id": mailing_id, "limit": limit, "offset": offset}
    )
    messages = []
    for row in rows:
        message = dict(row)
        for key in ("created_at", "sent_at"):
            message[key] = to_api(message[key])
        messages.append(message)
    return messages


async def message_totals(db: Database) -> dict[str, int]:
    """Messages of all mailings by status, every status present."""
    totals = dict.fromkeys(STATUSES, 0)
    for row in await db.fetch_all(Q.message_totals):
        totals[row["status"]] = row["count"]
    return totals

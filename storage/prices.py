"""Minimum prices of directions: which directions need a price, and the prices per direction and day.

Writes are batched: one transaction stores a whole batch of answers (an upsert per row through
executemany) and marks every asked direction checked with one statement; never a transaction per
row. A subscription made before its direction had a price gets the first price stored as its
baseline (what its first price email compares with). This module knows nothing of the price
index or of emails.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from server.timeutil import to_db
from storage.db import Database, WriteTransaction, writes
from storage.sql import Q

PREHEAT_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class DirectionRow:
    """A direction as the price index is asked about it; `filter` is canonical JSON or ''."""

    id: int
    qkey: str
    date_range: int
    filter: str

    @classmethod
    def of(cls, row: sqlite3.Row) -> DirectionRow:
        return cls(row["id"], row["qkey"], row["date_range"], row["filter"])


@dataclass(frozen=True)
class DayPrice:
    """A direction's minimum price of one day, with the details an email is made from."""

    direction_id: int
    price: float
    currency: str
    details: dict[str, Any]


async def directions_to_update(db: Database, *, today: date, since: datetime | None = None) -> list[DirectionRow]:
    """Directions with an active subscription whose last acceptable day is not before `today`;
    with `since`, those already checked at or after it are left out. A scan: read off the loop."""
    params = {"today": today.isoformat(), "since": to_db(since) if since else None}
    return [DirectionRow.of(row) for row in await db.slow.fetch_all(Q.prices_directions_to_update, params)]


async def directions_to_preheat(db: Database, *, now: datetime) -> list[DirectionRow]:
    """Directions of active subscriptions created in the last day that have no price yet (read off
    the loop)."""
    params = {"created_since": to_db(now - PREHEAT_WINDOW), "today": now.date().isoformat()}
    return [DirectionRow.of(row) for row in await db.slow.fetch_all(Q.prices_directions_to_preheat, params)]


@writes
def store_prices(tx: WriteTransaction, prices: list[DayPrice], *, checked: list[int], day: date,
                 now: datetime) -> None:
    """Upsert `prices` as `day`'s and mark the directions in `checked` asked at `now`: one transaction."""
    _upsert(tx, prices, day=day, now=now)
    if checked:
        tx.execute(Q.prices_mark_checked, {"ids": orjson.dumps(checked).decode(), "now": to_db(now)})


@writes
def set_day_prices(tx: WriteTransaction, prices: list[tuple[date, DayPrice]], *, now: datetime) -> None:
    """Upsert prices of several days (the test commands), one transaction."""
    for day, price in prices:
        _upsert(tx, [price], day=day, now=now)


def _upsert(tx: WriteTransaction, prices: list[DayPrice], *, day: date, now: datetime) -> None:
    if not prices:
        return
    stamp, day_text = to_db(now), day.isoformat()
    rows = [{"direction_id": price.direction_id, "day": day_text, "price": price.price, "currency": price.currency,
             "details": orjson.dumps(price.details).decode(), "now": stamp}
            for price in prices]
    tx.execute_many(Q.prices_upsert, rows)
    tx.execute_many(Q.prices_set_first_baselines, rows)


@writes
def direction_for_qkey(tx: WriteTransaction, qkey: str, *, date_range: int = 0, filter: str = "",
                       now: datetime) -> DirectionRow:
    """The direction of (qkey, date_range, filter), created if missing."""
    key = {"qkey": qkey, "date_range": date_range, "filter": filter}
    tx.execute(Q.prices_insert_direction, {**key, "now": to_db(now)})
    return DirectionRow(tx.fetch_value(Q.prices_direction_id, key), qkey, date_range, filter)


async def filtered_directions(db: Database, qkey: str) -> list[DirectionRow]:
    """Every direction of `qkey` that has a filter (any date range)."""
    return [DirectionRow.of(row) for row in await db.fetch_all(Q.prices_filtered_directions, {"qkey": qkey})]


async def prices_of_direction(db: Database, direction_id: int) -> list[dict[str, Any]]:
    """The stored prices of a direction, oldest day first, details decoded."""
    rows = await db.fetch_all(Q.prices_of_direction, {"direction_id": direction_id})
    return [{**dict(row), "details": orjson.loads(row["details"])} for row in rows]

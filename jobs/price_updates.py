"""Price updates (seed 001): `update_subscriptions`, `preheat_subscriptions` and the test-price commands.

Each run reads the directions that need a price, asks the price source about each of them once
(however many subscriptions share it) in batches of `source.batch_size` with up to
`source.concurrency` batches in flight, and stores each batch's answers as today's (UTC) minimum
prices in one transaction. A batch the source fails on is logged and counted; its directions keep
their old prices and are asked again by the next run. Every write is an idempotent upsert, so an
interrupted run can simply be run again. This module sends no email and renders nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from server.directions import QkeyError, parse_qkey
from server.gateways.price_index import PriceIndexError, PriceSource, sandbox_price, sandbox_result
from server.gateways.price_index_protocol import DirectionRequest
from server.timeutil import UTC, utc_now
from storage.db import Database
from storage.prices import (
    DayPrice,
    DirectionRow,
    direction_for_qkey,
    directions_to_preheat,
    directions_to_update,
    filtered_directions,
    set_day_prices,
    store_prices,
)

log = logging.getLogger("herald.jobs.prices")

Progress = Callable[[int, int], None]  # progress(done, total), in directions


@dataclass
class UpdateSummary:
    directions: int = 0         # directions asked about (each once)
    stored: int = 0             # prices stored
    not_found: int = 0          # directions the source has no price for
    failed_batches: int = 0     # batches the source failed on; their directions wait for the next run
    failed_directions: int = 0
    requests: int = 0           # batches asked
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.directions / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (f"{self.directions} directions asked in {self.requests} requests: {self.stored} prices stored, "
                f"{self.not_found} not found, {self.failed_batches} batches failed "
                f"({self.failed_directions} directions left for the next run), {self.seconds:.1f} s")


async def update_subscriptions(db: Database, source: PriceSource, *, now: datetime | None = None,
                               since: datetime | None = None, progress: Progress | None = None) -> UpdateSummary:
    """Refresh today's minimum price of every direction with an active subscription and a future date.

    `since`: leave out directions already checked at or after it (resuming an interrupted run)."""
    now = (now or utc_now()).astimezone(UTC)
    directions = await directions_to_update(db, today=now.date(), since=since)
    return await refresh_prices(db, source, directions, now=now, job="update_subscriptions", progress=progress)


async def preheat_subscriptions(db: Database, source: PriceSource, *, now: datetime | None = None,
                                progress: Progress | None = None) -> UpdateSummary:
    """First prices for the directions of subscriptions made in the last day that have none yet."""
    now = (now or utc_now()).astimezone(UTC)
    directions = await directions_to_preheat(db, now=now)
    return await refresh_prices(db, source, directions, now=now, job="preheat_subscriptions", progress=progress)


async def refresh_prices(db: Database, source: PriceSource, directions: list[DirectionRow], *, now: datetime,
                         job: str, progress: Progress | None = None) -> UpdateSummary:
    """Ask `source` about `directions` (each once) and store the answers as the prices of `now`'s day."""
    started = time.monotonic()
    summary = UpdateSummary(directions=len(directions))
    size = source.batch_size
    batches = iter([directions[start:start + size] for start in range(0, len(directions), size)])
    done = 0
    report = progress or (lambda done, total: None)
    report(0, len(directions))

    async def worker() -> None:
        nonlocal done
        for batch in batches:  # one shared iterator: each batch goes to exactly one worker
            await _refresh_batch(db, source, batch, now=now, job=job, summary=summary)
            done += len(batch)
            report(done, len(directions))

    workers = min(source.concurrency, -(-len(directions) // size))
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except ExceptionGroup as failed:  # a storage error: stop the run and say what it was
        raise failed.exceptions[0] from None
    summary.seconds = time.monotonic() - started
    log.info("%s: %d directions asked in %d requests, %d prices stored, %d not found, %d batches failed, %.1f s",
             job, summary.directions, summary.requests, summary.stored, summary.not_found,
             summary.failed_batches, summary.seconds, extra={"job": job})
    return summary


async def _refresh_batch(db: Database, source: PriceSource, batch: list[DirectionRow], *, now: datetime,
                         job: str, summary: UpdateSummary) -> None:
    summary.requests += 1
    try:
        results = await source.fetch([_request(direction) for direction in batch])
    except PriceIndexError as exc:
        summary.failed_batches += 1
        summary.failed_directions += len(batch)
        log.warning("%s: price index failed on directions %d..%d (%d), they wait for the next run: %s",
                    job, batch[0].id, batch[-1].id, len(batch), exc, extra={"job": job})
        return
    prices = []
    for direction, result in zip(batch, results, strict=True):
        if result.found:
            prices.append(DayPrice(direction.id, result.price, result.currency, result.details))
        else:
            log.debug("%s: no price for %s", job, direction.qkey, extra={"direction_id": direction.id})
    await store_prices(db, prices, checked=[direction.id for direction in batch], day=now.date(), now=now)
    summary.stored += len(prices)
    summary.not_found += len(batch) - len(prices)


def _request(direction: DirectionRow) -> DirectionRequest:
    return DirectionRequest(direction.qkey, direction.date_range, direction.filter)


# -- the test commands -----------------------------------------------------------------------

class PriceCommandError(Exception):
    """A test-price command that cannot run; the message says why."""


@dataclass(frozen=True)
class TestPrice:
    __test__ = False  # not a pytest test class

    direction_id: int
    qkey: str
    filter: str
    day: date
    price: float
    currency: str


async def set_test_min_prices(db: Database, qkey: str, *, filtered: bool, production: bool,
                              now: datetime | None = None, rng: random.Random | None = None) -> list[TestPrice]:
    """Random minimum prices for yesterday and today (two different ones) of the unfiltered direction
    of `qkey` (date range 0, created if missing), or with `filtered`, of each filtered direction of
    `qkey`. Refused when `production`."""
    if production:
        raise PriceCommandError("test prices are refused: the settings mark this instance as production "
                                "(subscriptions.production = true)")
    try:
        parse_qkey(qkey)
    except QkeyError as exc:
        raise PriceCommandError(f"bad qkey {qkey!r}: {exc}") from None
    now, rng = (now or utc_now()).astimezone(UTC), rng or random.Random()
    if filtered:
        directions = await filtered_directions(db, qkey)
        if not directions:
            raise PriceCommandError(f"no filtered subscription direction has qkey {qkey!r}")
    else:
        directions = [await direction_for_qkey(db, qkey, now=now)]
    today = now.date()
    chosen = [(day, direction, price) for direction in directions
              for day, price in zip((today - timedelta(days=1), today), _two_prices(direction, today, rng))]
    rows = [(day, _test_price(direction, day, price)) for day, direction, price in chosen]
    await set_day_prices(db, rows, now=now)
    for day, price in rows:
        log.info("test price %.2f %s for %s set", price.price, price.currency, day,
                 extra={"direction_id": price.direction_id})
    return [TestPrice(direction.id, direction.qkey, direction.filter, day, price.price, price.currency)
            for (day, direction, _), (_, price) in zip(chosen, rows)]


def _two_prices(direction: DirectionRow, today: date, rng: random.Random) -> tuple[float, float]:
    """Yesterday's and today's price: around the sandbox's price, never equal."""
    base, _ = sandbox_price(_request(direction), today)
    yesterday = round(base * rng.uniform(0.7, 1.3), 2)
    today_price = round(yesterday * rng.choice((-1, 1)) * rng.uniform(0.05, 0.3) + yesterday, 2)
    return yesterday, today_price


def _test_price(direction: DirectionRow, day: date, price: float) -> DayPrice:
    result = sandbox_result(_request(direction), day, price=price)
    return DayPrice(direction.id, result.price, result.currency, result.details)

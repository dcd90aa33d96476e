"""jobs/price_updates.py with storage/prices.py: update and preheat runs against a real local price
index and a real SQLite file, and the test-price commands."""

from __future__ import annotations

import logging
import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.price_updates import PriceCommandError, preheat_subscriptions, set_test_min_prices, update_subscriptions
from server.gateways.price_index import HttpPriceSource, SandboxPriceSource
from server.settings import SubscriptionSettings
from server.timeutil import to_db
from storage.db import Database
from storage.prices import prices_of_direction
from tests.price_index import PriceIndex

NOW = datetime(2030, 3, 10, 9, 30, tzinfo=timezone.utc)
TODAY = NOW.date()
LONG_AGO = NOW - timedelta(days=30)


def qkey(number: int, forward: date = date(2030, 4, 1), backward: str = "None") -> str:
    return f"c{number}_c2_{forward.isoformat()}_{backward}_economy_1_0_0_ru"



@pytest.fixture
async def index():
    server = PriceIndex("index-token")
    await server.start()
    yield server
    await server.stop()


def make_source(index: PriceIndex, *, batch_size: int = 2, concurrency: int = 2) -> HttpPriceSource:
    return HttpPriceSource(SubscriptionSettings(
        price_index="http", price_index_url=index.url, price_index_token="index-token",
        price_index_timeout_seconds=2, price_index_batch_size=batch_size, price_index_concurrency=concurrency,
    ))


@pytest.fixture
async def source(index):
    http = make_source(index)
    yield http
    await http.close()


async def subscribe(db: Database, email: str, key: str, *, date_range: int = 0, filter: str = "",
                    created_at: datetime = LONG_AGO, unsubscribed: bool = False) -> int:
    """One subscription of `email` (its contact and subscriber made on first use), as plain rows;
    returns the direction id."""
    stamp = to_db(created_at)
    async with db.transaction() as tx:
        subscriber_id = await tx.fetch_value("SELECT id FROM subscribers WHERE email = ?", (email,))
        if subscriber_id is None:
            contact_id = await tx.fetch_value(
                "INSERT INTO contacts (email, created_at, updated_at) VALUES (?, ?, ?) RETURNING id",
                (email, stamp, stamp))
            subscriber_id = str(uuid.uuid4())
            await tx.execute(
                "INSERT INTO subscribers (id, contact_id, email, confirmed_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (subscriber_id, contact_id, email, stamp, stamp, stamp))
        await tx.execute(
            "INSERT INTO directions (qkey, date_range, filter, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING", (key, date_range, filter, stamp))
        direction_id = await tx.fetch_value(
            "SELECT id FROM directions WHERE qkey = ? AND date_range = ? AND filter = ?", (key, date_range, filter))
        await tx.execute(
            "INSERT INTO subscriptions (subscriber_id, direction_id, qkey, date_range, filter, created_at, "
            "updated_at, unsubscribed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (subscriber_id, direction_id, key, date_range, filter or None, stamp, stamp,
             stamp if unsubscribed else None))
    return direction_id


async def price_rows(db: Database) -> dict[tuple[int, str], float]:
    rows = await db.fetch_all("SELECT direction_id, day, price FROM direction_prices")
    return {(row["direction_id"], row["day"]): row["price"] for row in rows}


async def checked(db: Database, direction_id: int) -> str | None:
    return await db.fetch_value("SELECT checked_at FROM directions WHERE id = ?", (direction_id,))


# -- update_subscriptions ----------------------------------------------------------------------

async def test_a_direction_shared_by_many_subscriptions_is_asked_once_and_stored_for_the_day(db, index, source):
    directions = [await subscribe(db, f"user{n}@example.com", qkey(n % 5 + 10)) for n in range(50)]
    summary = await update_subscriptions(db, source, now=NOW)
    assert index.protocol_errors == []
    assert index.asked() == {qkey(number): 1 for number in range(10, 15)}
    assert len(index.requests) == 3  # ceil(5 / batch of 2)
    assert (summary.directions, summary.stored, summary.requests, summary.failed_batches) == (5, 5, 3, 0)
    assert await price_rows(db) == {(d, TODAY.isoformat()): index.price_for(qkey(d + 9)) for d in set(directions)}
    assert await checked(db, directions[0]) == to_db(NOW)
    [stored] = await prices_of_direction(db, directions[0])
    assert stored["currency"] == "RUB"
    assert stored["details"]["point_to"] == "Сочи"
    assert stored["details"]["min_price"]["price"] == stored["price"]


async def test_a_second_run_the_same_day_overwrites_and_the_next_day_adds_a_row(db, index, source):
    direction = await subscribe(db, "a@example.com", qkey(10))
    index.prices[qkey(10)] = 5000
    await update_subscriptions(db, source, now=NOW)
    index.prices[qkey(10)] = 4500
    await update_subscriptions(db, source, now=NOW + timedelta(hours=1))
    assert await price_rows(db) == {(direction, TODAY.isoformat()): 4500}
    index.prices[qkey(10)] = 4700
    await update_subscriptions(db, source, now=NOW + timedelta(days=1))
    assert await price_rows(db) == {(direction, TODAY.isoformat()): 4500,
                                    (direction, (TODAY + timedelta(days=1)).isoformat()): 4700}


async def test_directions_that_can_no_longer_be_flown_are_not_asked(db, index, source):
    yesterday = TODAY - timedelta(days=1)
    await subscribe(db, "past@example.com", qkey(10, yesterday))
    await subscribe(db, "range@example.com", qkey(11, yesterday), date_range=1)  # today is still in range
    await subscribe(db, "today@example.com", qkey(12, TODAY))
    await subscribe(db, "back@example.com", qkey(13, yesterday, backward=TODAY.isoformat()))
    summary = await update_subscriptions(db, source, now=NOW)
    assert set(index.asked()) == {qkey(11, yesterday), qkey(12, TODAY)}
    assert summary.directions == 2


async def test_directions_nobody_is_subscribed_to_any_more_are_not_asked(db, index, source):
    await subscribe(db, "gone@example.com", qkey(10), unsubscribed=True)
    await subscribe(db, "gone@example.com", qkey(11), unsubscribed=True)
    await subscribe(db, "stays@example.com", qkey(11))
    await update_subscriptions(db, source, now=NOW)
    assert set(index.asked()) == {qkey(11)}


async def test_a_failing_batch_is_reported_and_the_others_are_stored(db, index, source, caplog):
    directions = [await subscribe(db, f"u{n}@example.com", qkey(10 + n)) for n in range(6)]
    index.fail_qkeys = {qkey(13)}  # the second batch of two
    with caplog.at_level(logging.WARNING, logger="herald.jobs.prices"):
        summary = await update_subscriptions(db, source, now=NOW)
    assert (summary.requests, summary.failed_batches, summary.failed_directions, summary.stored) == (3, 1, 2, 4)
    assert {direction for direction, _ in await price_rows(db)} == set(directions) - set(directions[2:4])
    assert await checked(db, directions[2]) is None
    assert any("HTTP 500" in record.getMessage() for record in caplog.records)

    index.fail_qkeys = set()
    summary = await update_subscriptions(db, source, now=NOW)
    assert (summary.failed_batches, summary.stored) == (0, 6)
    assert {direction for direction, _ in await price_rows(db)} == set(directions)


async def test_an_index_that_is_down_fails_every_batch_without_stopping_the_run(db, index, source):
    for n in range(3):
        await subscribe(db, f"u{n}@example.com", qkey(10 + n))
    await index.stop()
    summary = await update_subscriptions(db, source, now=NOW)
    assert (summary.directions, summary.failed_batches, summary.failed_directions, summary.stored) == (3, 2, 3, 0)
    assert await price_rows(db) == {}


async def test_a_direction_without_a_price_is_counted_and_checked_but_stores_nothing(db, index, source):
    missing = await subscribe(db, "a@example.com", qkey(10))
    await subscribe(db, "b@example.com", qkey(11))
    index.missing.add(qkey(10))
    summary = await update_subscriptions(db, source, now=NOW)
    assert (summary.stored, summary.not_found) == (1, 1)
    assert all(direction != missing for direction, _ in await price_rows(db))
    assert await checked(db, missing) == to_db(NOW)


async def test_requests_run_concurrently_up_to_the_source_concurrency(db, index):
    for n in range(10):
        await subscribe(db, f"u{n}@example.com", qkey(10 + n))
    index.delay = 0.05
    source = make_source(index, batch_size=1, concurrency=3)
    try:
        summary = await update_subscriptions(db, source, now=NOW)
    finally:
        await source.close()
    assert summary.requests == 10
    assert index.max_in_flight == 3


async def test_progress_is_reported_in_directions_up_to_the_total(db, source):
    for n in range(5):
        await subscribe(db, f"u{n}@example.com", qkey(10 + n))
    calls = []
    await update_subscriptions(db, source, now=NOW, progress=lambda done, total: calls.append((done, total)))
    done = [done for done, _ in calls]
    assert len(calls) == 4  # the start, then one call per batch
    assert done[0] == 0 and done[-1] == 5 and done == sorted(set(done))
    assert all(total == 5 for _, total in calls)


async def test_a_resumed_run_skips_what_was_checked_since_the_interrupted_one_started(db, index, source):
    first = await subscribe(db, "a@example.com", qkey(10))
    await subscribe(db, "b@example.com", qkey(11))
    async with db.transaction() as tx:  # the interrupted run got as far as the first direction
        await tx.execute("UPDATE directions SET checked_at = ? WHERE id = ?", (to_db(NOW), first))
    summary = await update_subscriptions(db, source, now=NOW + timedelta(minutes=5), since=NOW)
    assert set(index.asked()) == {qkey(11)}
    assert summary.directions == 1


async def test_a_fresh_machine_gets_sandbox_prices_that_change_the_next_day(db):
    direction = await subscribe(db, "a@example.com", qkey(213))
    for day in range(2):
        now = NOW + timedelta(days=day)
        source = SandboxPriceSource(today=now.date)
        assert (await update_subscriptions(db, source, now=now)).stored == 1
    first, second = await prices_of_direction(db, direction)
    assert first["price"] != second["price"]
    assert (first["details"]["point_from"], first["currency"]) == ("Москва", "RUB")


# -- preheat_subscriptions ---------------------------------------------------------------------

async def test_preheat_asks_only_about_new_subscriptions_without_any_price(db, index, source):
    hours_ago = NOW - timedelta(hours=2)
    await subscribe(db, "old@example.com", qkey(10))
    await update_subscriptions(db, source, now=NOW - timedelta(days=2))  # qkey(10) has a price now
    index.requests.clear()
    new = await subscribe(db, "new@example.com", qkey(11), created_at=hours_ago)
    await subscribe(db, "shared@example.com", qkey(10), created_at=hours_ago)
    await subscribe(db, "cold@example.com", qkey(12), created_at=NOW - timedelta(days=3))
    await subscribe(db, "left@example.com", qkey(13), created_at=hours_ago, unsubscribed=True)
    await subscribe(db, "late@example.com", qkey(14, TODAY - timedelta(days=1)), created_at=hours_ago)
    summary = await preheat_subscriptions(db, source, now=NOW)
    assert set(index.asked()) == {qkey(11)}
    assert summary.stored == 1
    assert (new, TODAY.isoformat()) in await price_rows(db)
    index.requests.clear()
    assert (await preheat_subscriptions(db, source, now=NOW)).directions == 0
    assert index.requests == []


# -- the test-price commands -------------------------------------------------------------------

async def test_test_prices_are_refused_in_production(db):
    with pytest.raises(PriceCommandError, match="production"):
        await set_test_min_prices(db, qkey(10), filtered=False, production=True, now=NOW)
    assert await db.fetch_value("SELECT count(*) FROM directions") == 0


async def test_a_bad_qkey_is_refused_naming_the_problem(db):
    with pytest.raises(PriceCommandError, match="class"):
        await set_test_min_prices(db, "c213_c2_2030-04-01_None_cattle_1_0_0_ru", filtered=False, production=False)


async def test_test_prices_give_the_unfiltered_direction_two_different_prices_yesterday_and_today(db):
    subscribed = await subscribe(db, "a@example.com", qkey(10))
    prices = await set_test_min_prices(db, qkey(10), filtered=False, production=False, now=NOW,
                                       rng=random.Random(1))
    yesterday = TODAY - timedelta(days=1)
    assert [(price.direction_id, price.day) for price in prices] == [(subscribed, yesterday), (subscribed, TODAY)]
    assert prices[0].price != prices[1].price
    stored = await prices_of_direction(db, subscribed)
    assert [(row["day"], row["price"]) for row in stored] == [(p.day.isoformat(), p.price) for p in prices]
    assert stored[1]["details"]["min_price"]["price"] == prices[1].price
    assert stored[1]["details"]["min_price"]["order_link"].endswith(f"price={prices[1].price:.2f}")
    assert stored[1]["details"]["point_from"]


async def test_test_prices_create_the_unfiltered_direction_when_nobody_subscribed_yet(db):
    prices = await set_test_min_prices(db, qkey(10), filtered=False, production=False, now=NOW)
    row = await db.fetch_one("SELECT id, date_range, filter FROM directions WHERE qkey = ?", (qkey(10),))
    assert (row["date_range"], row["filter"]) == (0, "")
    assert {price.direction_id for price in prices} == {row["id"]}


async def test_filtered_test_prices_go_to_every_filtered_direction_of_the_qkey(db):
    plain = await subscribe(db, "a@example.com", qkey(10))
    baggage = await subscribe(db, "b@example.com", qkey(10), filter='{"withBaggage":true}')
    direct = await subscribe(db, "c@example.com", qkey(10), date_range=2, filter='{"transfer":{"count":1}}')
    await subscribe(db, "d@example.com", qkey(11), filter='{"withBaggage":true}')
    prices = await set_test_min_prices(db, qkey(10), filtered=True, production=False, now=NOW)
    assert sorted((price.direction_id, price.day) for price in prices) == sorted(
        (direction, day) for direction in (baggage, direct) for day in (TODAY - timedelta(days=1), TODAY))
    assert {direction for direction, _ in await price_rows(db)} == {baggage, direct}
    assert plain not in {price.direction_id for price in prices}


async def test_filtered_test_prices_without_a_filtered_direction_is_an_error(db):
    await subscribe(db, "a@example.com", qkey(10))
    with pytest.raises(PriceCommandError, match="no filtered"):
        await set_test_min_prices(db, qkey(10), filtered=True, production=False, now=NOW)
    assert await price_rows(db) == {}

"""storage/group_commit.py: writes that arrive together share one transaction, and each still gets
its own result or its own error; through the API, 50 concurrent POSTs with duplicates lose nothing."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from server.app import create_app
from server.keys import DB
from storage.db import Database, WriteTransaction
from tests.conftest import AUTH


@pytest.fixture
async def table(db: Database) -> Database:
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return db


def insert(k: int, v: str = "x"):
    def write(tx: WriteTransaction) -> int:
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v))
        return k

    return write


async def test_writes_that_arrive_together_share_a_transaction_and_keep_their_own_results(table):
    results = await asyncio.gather(*(table.write(insert(k)) for k in range(100)))

    assert results == list(range(100))
    assert await table.fetch_value("SELECT count(*) FROM t") == 100
    assert table._group.groups < 10  # grouped: not one transaction per write


async def test_a_failing_write_is_undone_alone_and_raises_to_its_own_caller(table):
    def half_then_fail(tx: WriteTransaction) -> None:
        tx.execute("INSERT INTO t (k, v) VALUES (1000, 'half')")
        tx.execute("INSERT INTO t (k, v) VALUES (1, 'duplicate')")  # k=1 is taken by then

    outcomes = await asyncio.gather(table.write(insert(1)), table.write(half_then_fail), table.write(insert(2)),
                                    return_exceptions=True)

    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    rows = await table.fetch_all("SELECT k, v FROM t ORDER BY k")
    assert [tuple(row) for row in rows] == [(1, "x"), (2, "x")]  # 'half' was rolled back with its write


async def test_a_write_that_raises_its_own_error_rolls_back_its_statements(table):
    class Refused(Exception):
        pass

    def refuse(tx: WriteTransaction) -> None:
        tx.execute("INSERT INTO t (k, v) VALUES (7, 'no')")
        raise Refused("not this one")

    with pytest.raises(Refused):
        await table.write(refuse)
    assert await table.write(insert(8)) == 8
    assert await table.fetch_value("SELECT group_concat(k) FROM t") == "8"


async def test_a_group_that_sqlite_rolls_back_whole_fails_every_write_in_it(table):
    async with table.transaction() as tx:
        pages = await tx.fetch_value("PRAGMA page_count")
        await tx.execute(f"PRAGMA max_page_count = {pages + 2}")  # a disk that is nearly full

    big = "x" * 50_000
    outcomes = await asyncio.gather(table.write(insert(1)), table.write(insert(2, big)),
                                    return_exceptions=True)

    assert all(isinstance(outcome, sqlite3.OperationalError) for outcome in outcomes), outcomes
    assert "full" in str(outcomes[1])
    assert await table.fetch_value("SELECT count(*) FROM t") == 0
    async with table.transaction() as tx:
        await tx.execute("PRAGMA max_page_count = 1073741823")
    assert await table.write(insert(3)) == 3  # the writer goes on once there is room again


async def test_fifty_concurrent_posts_with_duplicates_each_get_their_own_answer(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings()))
    phones = [f"7900000{n % 40:04d}" for n in range(50)]  # ten phones twice

    answers = await asyncio.gather(*(client.post("/Clients/", json={"phone_number": phone, "tag": "a"},
                                                 headers=AUTH) for phone in phones))

    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] * 40 + [400] * 10
    for answer in answers:
        body = await answer.json()
        if answer.status == 400:
            assert body == {"phone_number": ["client with this phone_number already exists."]}
        else:
            assert body["phone_number"] in phones and body["tag"] == "a"
    listed = await (await client.get("/Clients/", params={"limit": 1000}, headers=AUTH)).json()
    assert listed["count"] == 40
    assert sorted(c["phone_number"] for c in listed["results"]) == sorted(set(phones))
    assert len({c["id"] for c in listed["results"]}) == 40
    assert client.app[DB]._group.groups < 50  # they shared transactions

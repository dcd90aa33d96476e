"""A database that cannot be written (full, read-only, locked) is a 503 in each family's envelope,
`/health` says so, and both recover when the database does.

The faults are real SQLite conditions on the app's own write connection: `max_page_count` pinned
to the file's size gives SQLITE_FULL ("database or disk is full") exactly as a full disk does,
`query_only` gives SQLITE_READONLY, and a second connection holding the write lock gives
SQLITE_BUSY. (chmod cannot make a file read-only for root, which the tests may run as.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

from server.keys import DB
from tests.conftest import AUTH

FULL = "Service unavailable: the database or its disk is full; try again later."
SUBSCRIBE = "/email_subscription/v1.0/subscribe"
QKEY = "c213_c2_2027-04-01_None_economy_1_0_0_ru"


async def on_writer(client, pragma: str) -> None:
    """Set a pragma on the app's write connection, outside any transaction (fault injection)."""
    await client.server.app[DB]._writer.execute(pragma)


async def post_client(client, n: int):
    return await client.post("/Clients/", data={"phone_number": f"7900{n:07d}", "tag": "x" * 200}, headers=AUTH)


async def until_refused(request):
    for n in range(2000):
        response = await request(n)
        if response.status not in (200, 201):
            return response
    raise AssertionError("2000 writes fitted into a full database")


async def test_health_is_ok_when_the_database_can_be_written(client):
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_a_full_database_is_a_503_everywhere_and_on_health_for_a_while(client):
    await on_writer(client, "PRAGMA max_page_count = 1")  # clamped to the file's current size
    # Rows go on being stored while the pages have room; then every write that needs a page fails.
    response = await until_refused(lambda n: post_client(client, n))
    assert response.status == 503
    assert await response.json() == {"detail": FULL}
    assert response.headers["Retry-After"].isdigit()

    subscribed = await until_refused(lambda n: client.get(SUBSCRIBE, headers=AUTH, params={
        "email": f"a{n}@example.com", "session": f"s{n}", "qkey": QKEY, "email_source": "t"}))
    assert subscribed.status == 503
    assert await subscribed.json() == {"status": "error", "message": FULL}

    health = await client.get("/health")
    assert health.status == 503
    body = await health.json()
    assert body["status"] == "error" and body["database"].endswith("the database or its disk is full")

    await on_writer(client, "PRAGMA max_page_count = 1073741823")
    assert (await post_client(client, 99999)).status == 201
    # Small writes got through all along (the outbox's, health's own): only time clears a full disk.
    assert (await client.get("/health")).status == 503
    client.server.app[DB].FAILURE_MEMORY = timedelta(0)
    health = await client.get("/health")
    assert health.status == 200 and await health.json() == {"status": "ok"}


async def test_a_read_only_database_is_a_503_and_health_finds_it_by_its_own_write(client):
    await on_writer(client, "PRAGMA query_only = ON")
    health = await client.get("/health")  # no write has failed yet: the check's own write does
    assert health.status == 503
    assert await health.json() == {"status": "error", "database": "the database is read-only"}
    response = await post_client(client, 1)
    assert response.status == 503
    assert await response.json() == {"detail": "Service unavailable: the database is read-only; try again later."}

    await on_writer(client, "PRAGMA query_only = OFF")
    assert (await post_client(client, 2)).status == 201
    assert (await client.get("/health")).status == 200


async def test_a_database_locked_by_another_process_is_a_503(client):
    db = client.server.app[DB]
    await on_writer(client, "PRAGMA busy_timeout = 50")
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    # In a thread: the event loop must go on running, so that a transaction of the app's can end.
    await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
    try:
        response = await post_client(client, 1)
        assert response.status == 503
        assert await response.json() == {
            "detail": "Service unavailable: the database is locked by another process; try again later."}
        health = await client.get("/health")
        assert health.status == 503
        assert (await health.json())["database"] == "the database is locked by another process"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await post_client(client, 2)).status == 201
    assert (await client.get("/health")).status == 200

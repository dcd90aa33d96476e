"""storage/messages.py: the one writer of the message log (enqueue, claim, record, put back,
cancel) and a contact's history across channels; end to end, a person reached by an SMS mailing and
by a price email is one contact whose history holds both, in order; and a slow history read does
not hold up the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from jobs.price_emails import send_emails
from server.app import create_app
from server.keys import DB, OUTBOX
from server.timeutil import utc_now
from storage import contacts, messages
from storage.db import Database
from storage.sql import Q
from tests.conftest import AUTH
from tests.test_subscriptions_flow import API, price_index, trip, update_prices  # noqa: F401  (a fixture)


async def statuses(db: Database) -> dict[int, str]:
    return {row["id"]: row["status"] for row in await db.fetch_all("SELECT id, status FROM messages")}


async def test_a_message_that_must_exist_once_is_enqueued_once_and_comes_back_if_cancelled(db):
    contact_id = await contacts.create(db, email="a@example.com")
    first = await messages.enqueue(db, "email", contact_id, payload='{"n": 1}', dedupe_key="k")
    assert await messages.enqueue(db, "email", contact_id, payload='{"n": 2}', dedupe_key="k") is None
    assert await messages.enqueue_many(db, "email", [{"contact_id": contact_id, "payload": "{}", "dedupe_key": "k"},
                                                     {"contact_id": contact_id, "payload": "{}"}]) == 1
    assert await messages.cancel(db, ids=[first], reason="not now") == 1
    assert await messages.enqueue(db, "email", contact_id, payload='{"n": 3}', dedupe_key="k") == first
    row = await db.fetch_one("SELECT status, payload, last_error FROM messages WHERE id = ?", (first,))
    assert tuple(row) == ("pending", '{"n": 3}', None)
    assert await db.fetch_value("SELECT count(*) FROM messages") == 2


async def test_claim_record_put_back_and_hold(db):
    contact_id = await contacts.create(db, email="a@example.com")
    ids = [await messages.enqueue(db, "chat", contact_id, body=f"hi {n}", sender="operator-7") for n in range(3)]
    await messages.enqueue(db, "email", contact_id, payload="{}")  # another channel: not claimed
    later = utc_now() + timedelta(seconds=1)

    claim = await messages.claim_due(db, "chat", later, 10, hold=lambda tx, rows: {rows[0]["id"]: "held"})
    assert [row["id"] for row in claim.cancelled] == ids[:1]
    assert [row["id"] for row in claim.sending] == ids[1:]
    assert claim.sending[0]["email"] == "a@example.com" and claim.sending[0]["body"] == "hi 1"
    stamp = "2030-01-01T00:00:00.000Z"
    await messages.record_outcomes(db, [{"id": ids[1], "status": "sent", "tried": 1, "body": None, "sent_at": stamp,
                                         "next_attempt_at": None, "last_error": None, "now": stamp}])
    assert await messages.put_back(db, "chat", later) == 1  # ids[2] was in flight
    assert await statuses(db) == {ids[0]: "cancelled", ids[1]: "sent", ids[2]: "pending", ids[2] + 1: "pending"}
    assert await messages.count_due(db, "chat", later) == 1
    assert await messages.next_due(db, "chat") is not None
    assert await messages.next_due(db, "chat", after=later) is None
    assert await db.fetch_value("SELECT last_error FROM messages WHERE id = ?", (ids[0],)) == "held"
    assert await db.fetch_value("SELECT sender FROM messages WHERE id = ?", (ids[1],)) == "operator-7"


async def test_history_is_newest_first_in_keyset_pages_that_each_cost_one_index_range(db):
    contact_id = await contacts.create(db, phone_number="79001234567", operator_code="900", email="a@example.com")
    other = await contacts.create(db, email="b@example.com")
    mine = []
    for n in range(7):
        mine.append(await messages.enqueue(db, ("sms", "email", "chat")[n % 3], contact_id, body=str(n)))
        await messages.enqueue(db, "email", other, body=str(n))

    pages, before = [], None
    while page := await messages.history(db, contact_id, before=before, limit=3):
        pages.append([message["id"] for message in page])
        before = page[-1]["id"]
    assert pages == [mine[::-1][:3], mine[::-1][3:6], mine[::-1][6:]]
    newest = (await messages.history(db, contact_id, limit=1))[0]
    assert (newest["channel"], newest["body"], newest["status"], newest["direction"]) == ("sms", "6", "pending", "out")
    plan = await db.fetch_all("EXPLAIN QUERY PLAN " + Q.contact_history,
                              {"contact_id": contact_id, "before": mine[1], "limit": 3})
    assert [row["detail"] for row in plan] == ["SEARCH messages USING INDEX messages_contact (contact_id=? AND id<?)"]


@pytest.fixture
async def herald(smtp_server, price_index, aiohttp_client, make_settings):  # noqa: F811
    settings = make_settings(
        smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
        server={"public_url": "http://herald.test"},
        subscriptions={"price_index": "http", "price_index_url": price_index.url,
                       "price_index_token": price_index.token},
    )
    return await aiohttp_client(create_app(settings))


async def until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_contact_reached_by_sms_and_by_price_email_is_one_contact_with_both_in_its_history(
        herald, smtp_server, price_index):  # noqa: F811
    db = herald.app[DB]
    person = await contacts.create(db, phone_number="79001234567", operator_code="900", email="Vasya@Example.com",
                                   tags=["vip"], timezone="Europe/Moscow", source="crm")
    client = await (await herald.get(f"/Clients/{person}/", headers=AUTH)).json()
    assert client == {"id": person, "phone_number": "79001234567", "operator_code": "900", "tag": "vip",
                      "timezone": "Europe/Moscow"}

    # An SMS mailing through the real app: the sandbox transport records it sent.
    now = datetime.now(timezone.utc)
    response = await herald.post("/Mailing/", headers=AUTH, json={
        "datetime_start": (now - timedelta(minutes=1)).isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
        "message_text": "Sale today", "filter_tag": "vip"})
    mailing_id = (await response.json())["id"]

    async def sms_sent() -> bool:
        return (await (await herald.get(f"/Stats/{mailing_id}/", headers=AUTH)).json())["statuses"]["sent"] == 1

    await until(sms_sent)

    # A price email through the real subscription flow: subscribe, confirm, two prices, send.
    qkey = trip(days_ahead=40, length=7)
    response = await herald.get(f"{API}/subscribe", headers=AUTH, params={
        "email": "vasya@example.com", "passportuid": "36972065", "qkey": qkey})
    subscriber_id = (await response.json())["data"]["id"]
    proof = hashlib.sha256(b"36972065").hexdigest()
    assert (await herald.post(f"{API}/confirm", data={"id": subscriber_id, "p": proof})).status == 200
    price_index.prices[qkey] = 12_000.0
    await update_prices(herald, now - timedelta(days=1))
    price_index.prices[qkey] = 10_500.0
    await update_prices(herald, now)
    summary = await send_emails(db, herald.app[OUTBOX], public_url="http://herald.test")
    assert summary.queued == 1
    await smtp_server.wait_for(2)  # the confirmation and the price email
    assert {tuple(received.rcpt_tos) for received in smtp_server.received} == {("vasya@example.com",)}

    assert await db.fetch_value("SELECT contact_id FROM subscribers WHERE id = ?", (subscriber_id,)) == person
    assert await db.fetch_value("SELECT count(*) FROM contacts") == 1
    history = await messages.history(db, person)
    described = [(m["channel"], m["status"], m["mailing_id"], m["payload"] and json.loads(m["payload"])["kind"])
                 for m in history]
    # The state changes are in the history too (SYSTEM_MESSAGEs in the CRM): subscribed, confirmed, tag added.
    assert described == [("email", "sent", None, "price_change"), ("system", "sent", None, None),
                         ("email", "sent", None, "confirmation"), ("system", "sent", None, None),
                         ("sms", "sent", mailing_id, None), ("system", "sent", None, None)]
    assert [m["body"] for m in history[-2:]] == ["Sale today", "Tag added: vip"]
    assert [m["id"] for m in history] == sorted((m["id"] for m in history), reverse=True)
    assert [m["created_at"] for m in history] == sorted((m["created_at"] for m in history), reverse=True)
    second_page = await messages.history(db, person, before=history[0]["id"], limit=5)
    assert second_page == history[1:]


async def test_a_slow_history_read_does_not_delay_health(client):
    """A history of 100,000 messages read in one page takes the reader's thread a while; /health
    is answered meanwhile. (Read on the event loop's connection, it would wait for the read.)"""
    db = client.app[DB]
    contact_id = await contacts.create(db, phone_number="79001234567", operator_code="900")
    count = 100_000
    await db.write(lambda tx: tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
        " INSERT INTO messages (contact_id, channel, status, body, created_at, updated_at)"
        " SELECT :contact_id, 'sms', 'sent', 'message ' || i, :now, :now FROM n",
        {"count": count, "contact_id": contact_id, "now": "2026-01-01T00:00:00.000Z"}))

    reading = asyncio.create_task(messages.history(db, contact_id, limit=count))
    await asyncio.sleep(0)  # the read is handed to its thread
    response = await client.get("/health")

    assert response.status == 200 and await response.json() == {"status": "ok"}
    assert not reading.done()  # /health was answered while the history was still being read
    history = await reading
    assert len(history) == count and history[0]["body"] == f"message {count}"


async def test_a_fan_out_bigger_than_a_chunk_makes_every_message_once_in_several_writes(db, monkeypatch):
    from storage import mailings

    monkeypatch.setattr(mailings, "FAN_OUT_CHUNK", 7)
    ids = [await contacts.create(db, phone_number=f"7900000{n:04d}", operator_code="900", tags=["t"])
           for n in range(50)]
    await contacts.delete(db, ids[10])  # a gap in the ids: chunks are ranges of ids, not counts of people
    now = utc_now()
    mailing = await mailings.create_mailing(db, {
        "datetime_start": now - timedelta(minutes=1), "datetime_end": now + timedelta(hours=1),
        "message_text": "x", "filter_tag": ["t"], "filter_op_codes": [], "window_start": None, "window_end": None})
    writes_before = db._group.writes

    created = await mailings.fan_out(db, mailing["id"])

    assert created == 49
    rows = await db.fetch_all("SELECT contact_id FROM messages WHERE mailing_id = ?", (mailing["id"],))
    assert sorted(row[0] for row in rows) == sorted(set(ids) - {ids[10]})
    assert db._group.writes - writes_before >= 8  # 50 ids in chunks of 7, then the mark
    assert await db.fetch_value("SELECT fanned_out_at IS NOT NULL FROM mailings WHERE id = ?", (mailing["id"],))
    assert await mailings.fan_out(db, mailing["id"]) == 0  # run again (after a crash): nothing twice

"""/api/v1/accounts/{id}/chat-messages and the writes on an account's history (seed 002, issue 8):
the seed's shape and types, newest first, pages at their edges (the last as the first), incoming
messages, operator replies (an SMS through the real SMS engine to a real provider, with its
retries; any other channel left pending), read marks, merges (history, tags, orders, subscribers,
chatbot templates not given twice), and one person reached by three families with one history.
All on the real app and its SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from jobs.price_emails import send_emails
from server.app import create_app
from server.keys import DB, OUTBOX
from storage import contacts, messages, platform_users
from storage.sql import Q
from tests.conftest import AUTH, SEED_TOKEN
from tests.provider import Provider
from tests.test_subscriptions_flow import API, price_index, trip, update_prices  # noqa: F401  (a fixture)

LEELOO = {"X-Leeloo-AuthToken": SEED_TOKEN}
SEED_FIELDS = {"id", "text", "type", "read", "createdAt", "updatedAt"}
HERALD_FIELDS = {"channel", "status"}
STAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


# -- helpers ------------------------------------------------------------------------------------


async def add_client(api, phone: str, tag: str = "") -> int:
    response = await api.post("/Clients/", json={"phone_number": phone, "tag": tag}, headers=AUTH)
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


async def history(api, account_id, query: str = "", status: int = 200, headers=LEELOO) -> dict:
    response = await api.get(f"/api/v1/accounts/{account_id}/chat-messages{query}", headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def write(api, account_id, status: int = 201, **body) -> dict:
    response = await api.post(f"/api/v1/accounts/{account_id}/chat-messages", json=body, headers=LEELOO)
    assert response.status == status, await response.text()
    return await response.json()


async def mark_read(api, account_id, status: int = 200, **kwargs) -> dict:
    response = await api.post(f"/api/v1/accounts/{account_id}/chat-messages/read", headers=LEELOO, **kwargs)
    assert response.status == status, await response.text()
    return await response.json()


async def merge(api, account_id, other, status: int = 200) -> dict:
    response = await api.post(f"/api/v1/accounts/{account_id}/merge", json={"accountId": str(other)}, headers=LEELOO)
    assert response.status == status, await response.text()
    return await response.json()


async def add_mailing(api, text: str, tag: str) -> int:
    now = datetime.now(timezone.utc)
    response = await api.post("/Mailing/", headers=AUTH, json={
        "datetime_start": (now - timedelta(minutes=1)).isoformat(),
        "datetime_end": (now + timedelta(hours=1)).isoformat(), "message_text": text, "filter_tag": tag})
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


async def until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def mailing_sent(api, mailing_id: int, count: int = 1) -> None:
    async def done() -> bool:
        stats = await (await api.get(f"/Stats/{mailing_id}/", headers=AUTH)).json()
        return stats["statuses"]["sent"] == count
    await until(done)


def kinds(page: dict) -> list[tuple[str, str]]:
    return [(item["type"], item["text"]) for item in page["data"]]


# -- the history's shape ------------------------------------------------------------------------


async def test_each_type_in_the_seeds_shape_newest_first(client):
    db = client.app[DB]
    account = await add_client(client, "79001112233", "vip")
    operator = await platform_users.create(db, "Robert")
    mailing = await add_mailing(client, "Sale today", "vip")
    await mailing_sent(client, mailing)
    await messages.record_event(db, account, "Tag added: vip")
    incoming = await write(client, account, text="Good morning!", type="FRIEND_MESSAGE")
    reply = await write(client, account, text="Pre last message", type="YOUR_MESSAGE", userId=str(operator))

    page = await history(client, account, "?limit=3&offset=0")
    assert page["meta"] == {"limit": 3, "offset": 0, "filteredCount": 3, "totalCount": 5}
    assert page["status"] == 1
    assert kinds(page) == [("YOUR_MESSAGE", "Pre last message"), ("FRIEND_MESSAGE", "Good morning!"),
                           ("SYSTEM_MESSAGE", "Tag added: vip")]
    yours, friend, system = page["data"]
    assert yours == reply["data"] and friend == incoming["data"]
    assert set(yours) == SEED_FIELDS | HERALD_FIELDS | {"links"}
    assert yours["links"] == {"createdBy": {"type": "users", "id": str(operator)}}
    for item in page["data"]:
        assert isinstance(item["id"], str) and item["id"].isdigit()
        assert SEED_FIELDS | HERALD_FIELDS <= set(item)
        assert item["createdAt"] <= item["updatedAt"]
        for stamp in (item["createdAt"], item["updatedAt"]):
            assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None
            assert stamp.endswith("Z") and len(stamp) == 24  # with milliseconds, as the seed's
    assert set(friend) == set(system) == SEED_FIELDS | HERALD_FIELDS
    assert (friend["read"], friend["channel"], friend["status"]) == (False, "sms", "sent")
    assert (system["read"], system["channel"]) == (True, "system")
    assert yours["read"] is True and yours["channel"] == "sms"
    bot, created = (await history(client, account, "?limit=3&offset=3"))["data"]
    assert (created["type"], created["text"]) == ("SYSTEM_MESSAGE", "Tag added: vip")  # made with its tag
    assert (bot["type"], bot["text"], bot["read"], bot["channel"], bot["status"]) == (
        "BOT_MESSAGE", "Sale today", True, "sms", "sent")
    ids = [int(item["id"]) for item in page["data"]] + [int(bot["id"])]
    assert ids == sorted(ids, reverse=True)


async def test_a_chatbot_template_is_a_bot_message_and_a_cancelled_message_is_no_history(client):
    db = client.app[DB]
    await client.post("/chatbot/templates/", json={"templates": ["Hi {name}"], "profile": {"id_user": 1, "name": "Inna"}},
                      headers=AUTH)
    answer = await client.post("/chatbot/mailing/", headers=AUTH, json={
        "data": {"users": [{"id_user": 7, "name": "jack"}], "count": 1, "female_id": 1}})
    assert (await answer.json())["data"] == {"7": "Hi jack"}
    man = await contacts.find_id_by_external_id(db, "victoriabrides", "7")
    profile = await contacts.find_id_by_external_id(db, "victoriabrides", "1")
    [template] = (await history(client, man))["data"]
    assert (template["type"], template["text"], template["channel"], template["status"]) == (
        "BOT_MESSAGE", "Hi jack", "chat", "pending")
    await history(client, profile, status=404)  # a sender profile is a platform user, not an account

    cancelled = await messages.enqueue(db, "sms", man, body="never sent")
    await messages.cancel(db, ids=[cancelled])
    page = await history(client, man)
    assert [item["id"] for item in page["data"]] == [template["id"]] and page["meta"]["totalCount"] == 1


async def test_pages_at_their_edges_and_the_last_page_is_read_like_the_first(client):
    db = client.app[DB]
    account = await contacts.create(db, name="Kurt", source="TELEGRAM")
    other = await contacts.create(db, name="Weend", source="TELEGRAM")
    for n in range(25):
        await messages.record_incoming(db, account, "telegram", f"message {n}")
        await messages.record_incoming(db, other, "telegram", f"other {n}")

    first = await history(client, account)
    assert first["meta"] == {"limit": 20, "offset": 0, "filteredCount": 20, "totalCount": 25}
    assert [item["text"] for item in first["data"]] == [f"message {n}" for n in range(24, 4, -1)]
    last = await history(client, account, "?limit=20&offset=20")
    assert last["meta"] == {"limit": 20, "offset": 20, "filteredCount": 5, "totalCount": 25}
    assert [item["text"] for item in last["data"]] == [f"message {n}" for n in range(4, -1, -1)]
    assert {frozenset(item) for item in first["data"]} == {frozenset(item) for item in last["data"]}
    assert (await history(client, account, "?limit=100"))["meta"]["filteredCount"] == 25
    one = await history(client, account, "?limit=1&offset=24")
    assert [item["text"] for item in one["data"]] == ["message 0"]
    beyond = await history(client, account, "?offset=25")
    assert beyond["data"] == [] and beyond["meta"] == {"limit": 20, "offset": 25, "filteredCount": 0, "totalCount": 25}
    empty = await contacts.create(db, name="Nobody", source="TELEGRAM")
    assert (await history(client, empty))["meta"] == {"limit": 20, "offset": 0, "filteredCount": 0, "totalCount": 0}
    for query, field in (("?limit=0", "limit"), ("?limit=101", "limit"), ("?offset=-1", "offset"),
                         ("?limit=x", "limit")):
        error = await history(client, account, query, status=400)
        assert error["status"] == 0 and list(error["errors"]) == [field], query

    # Both pages are a range of messages_contact (ids, statuses), then rows by id: no page reads what it skips.
    plan = await db.fetch_all("EXPLAIN QUERY PLAN " + Q.account_history_page,
                              {"contact_id": account, "limit": 20, "offset": 20})
    details = " | ".join(row["detail"] for row in plan)
    assert "USING COVERING INDEX messages_contact (contact_id=?)" in details, details
    assert not re.search(r"SCAN (messages|m)\b", details), details


async def test_unknown_accounts_and_missing_credentials(client):
    db = client.app[DB]
    gone = await contacts.create(db, name="Gone", source="TELEGRAM")
    await contacts.delete(db, gone)
    for account in (999, "abc", "12a", gone, 2**64):
        error = await history(client, account, status=404)
        assert error == {"status": 0, "error": f"Account {account} not found."}
        assert (await write(client, account, 404, text="x", type="FRIEND_MESSAGE"))["status"] == 0
        assert (await mark_read(client, account, 404, json={"all": True}))["status"] == 0
    for method, path in (("GET", "chat-messages"), ("POST", "chat-messages"), ("POST", "chat-messages/read"),
                         ("POST", "merge")):
        response = await client.request(method, f"/api/v1/accounts/1/{path}")
        assert response.status == 401
        body = await response.json()
        assert body["status"] == 0 and body["error"]
    account = await contacts.create(db, name="Kurt", source="TELEGRAM")
    await history(client, account, headers=AUTH)  # Authorization: Token works as well


# -- writes -------------------------------------------------------------------------------------


async def test_an_incoming_message_moves_last_message_time_and_waits_to_be_read(client):
    db = client.app[DB]
    account = await contacts.create(db, name="Kurt", email="kurt@example.com", source="EMAIL")
    assert await messages.last_message_at(db, account) is None
    first = (await write(client, account, text="Hello?", type="FRIEND_MESSAGE"))["data"]
    assert first["channel"] == "email" and first["read"] is False  # an account with only an email
    assert await messages.last_message_at(db, account) == first["createdAt"]
    await asyncio.sleep(0.002)
    second = (await write(client, account, text="Anyone?", type="FRIEND_MESSAGE", channel="telegram"))["data"]
    assert second["channel"] == "telegram"
    assert await messages.last_message_at(db, account) == second["createdAt"] >= first["createdAt"]
    assert (await history(client, account))["meta"]["totalCount"] == 2


async def test_bad_writes_are_400s_naming_the_field(client):
    db = client.app[DB]
    phoneless = await contacts.create(db, name="Kurt", source="TELEGRAM")
    operator = await platform_users.create(db, "Robert")
    cases = [
        ({"text": "x", "type": "YOUR_MESSAGE"}, "userId"),
        ({"text": "x", "type": "YOUR_MESSAGE", "userId": "999"}, "userId"),
        ({"text": "x", "type": "YOUR_MESSAGE", "userId": "abc"}, "userId"),
        ({"text": "x", "type": "YOUR_MESSAGE", "userId": str(operator), "channel": "sms"}, "channel"),
        ({"text": "x", "type": "FRIEND_MESSAGE", "channel": "system"}, "channel"),
        ({"text": "x", "type": "FRIEND_MESSAGE", "channel": "Tele gram"}, "channel"),
        ({"text": "   ", "type": "FRIEND_MESSAGE"}, "text"),
        ({"text": "x" * 4001, "type": "FRIEND_MESSAGE"}, "text"),
        ({"type": "FRIEND_MESSAGE"}, "text"),
        ({"text": "x", "type": "BOT_MESSAGE"}, "type"),
    ]
    for body, field in cases:
        error = await write(client, phoneless, 400, **body)
        assert error["status"] == 0 and field in error["errors"] and error["error"], body
    assert (await history(client, phoneless))["meta"]["totalCount"] == 0


@pytest.fixture
async def provider():
    provider = Provider("provider-jwt-for-tests")
    await provider.start()
    yield provider
    await provider.stop()
    assert provider.protocol_errors == []


async def test_a_reply_to_a_phone_goes_out_through_the_sms_engine_with_its_retries(aiohttp_client, make_settings,
                                                                                  provider):
    api = await aiohttp_client(create_app(make_settings(notifications={
        "transport": "http", "provider_url": provider.url, "provider_token": "provider-jwt-for-tests",
        "retry_base_seconds": 0.05, "retry_max_seconds": 0.2, "timeout_seconds": 2})))
    account = await add_client(api, "79001112233")
    operator = await platform_users.create(api.app[DB], "Robert")
    provider.fail_first(2, "error")
    reply = (await write(api, account, text="We have your order", type="YOUR_MESSAGE", userId=operator))["data"]
    assert (reply["type"], reply["channel"], reply["status"]) == ("YOUR_MESSAGE", "sms", "pending")

    async def sent() -> bool:
        [item] = (await history(api, account))["data"]
        return item["status"] == "sent"

    await until(sent)
    tries = provider.requests_for(int(reply["id"]))
    assert len(tries) == 3  # two failures retried, then accepted
    assert {(t.phone, t.text, t.body_id) for t in tries} == {(79001112233, "We have your order", int(reply["id"]))}
    row = await api.app[DB].fetch_one("SELECT attempts, mailing_id, sender FROM messages WHERE id = ?", (int(reply["id"]),))
    assert (row["attempts"], row["mailing_id"], row["sender"]) == (3, None, f"user:{operator}")


async def test_a_reply_to_a_telegram_account_waits_for_its_integration(client):
    db = client.app[DB]
    account = await contacts.create(db, name="Weend", source="TELEGRAM")
    operator = await platform_users.create(db, "Robert")
    reply = (await write(client, account, text="Hi", type="YOUR_MESSAGE", userId=operator))["data"]
    assert (reply["channel"], reply["status"]) == ("telegram", "pending")
    await client.post("/Clients/", json={"phone_number": "79001112299"}, headers=AUTH)  # wakes the SMS engine
    row = await db.fetch_one("SELECT status, next_attempt_at FROM messages WHERE id = ?", (int(reply["id"]),))
    assert (row["status"], row["next_attempt_at"]) == ("pending", None)  # no engine claims it
    assert await messages.next_due(db, "telegram") is None


async def test_read_marks(client):
    db = client.app[DB]
    account = await contacts.create(db, name="Kurt", source="TELEGRAM")
    other = await contacts.create(db, name="Weend", source="TELEGRAM")
    operator = await platform_users.create(db, "Robert")
    ids = [(await write(client, account, text=f"in {n}", type="FRIEND_MESSAGE"))["data"]["id"] for n in range(4)]
    out = (await write(client, account, text="out", type="YOUR_MESSAGE", userId=operator))["data"]["id"]
    foreign = (await write(client, other, text="theirs", type="FRIEND_MESSAGE"))["data"]["id"]

    assert await mark_read(client, account, json={"ids": [ids[0], int(ids[1]), out, foreign]}) == {
        "data": {"read": 2}, "status": 1}
    assert await mark_read(client, account, json={"ids": [ids[0]]}) == {"data": {"read": 0}, "status": 1}
    read = {item["id"]: item["read"] for item in (await history(client, account))["data"]}
    assert read == {ids[0]: True, ids[1]: True, ids[2]: False, ids[3]: False, out: True}
    assert (await mark_read(client, account, data={"ids": f"{ids[2]}"}))["data"] == {"read": 1}  # a form
    assert (await mark_read(client, account, json={"all": True}))["data"] == {"read": 1}
    assert all(item["read"] for item in (await history(client, account))["data"])
    assert (await history(client, other))["data"][0]["read"] is False
    for body in ({}, {"all": False}, {"ids": [ids[0]], "all": True}, {"ids": ["x"]}, {"ids": "1,2"}, {"all": "true"}):
        error = await mark_read(client, account, 400, json=body)
        assert error["status"] == 0 and set(error["errors"]) <= {"ids", "all"} and error["errors"], body


# -- merges -------------------------------------------------------------------------------------


async def test_a_merge_moves_history_tags_orders_and_subscriptions_and_deletes_the_other(client):
    db = client.app[DB]
    account = await add_client(client, "79001112233", "vip")
    other = await contacts.create(db, name="Kurt", email="kurt@example.com", tags=["new"], source="EMAIL",
                                  attributes={"city": "Kazan"})
    await db.write(lambda tx: tx.execute(
        "INSERT INTO orders (contact_id, price, currency, payment_method, status, created_at, updated_at) "
        "VALUES (?, '199.90', 'RUB', 'YANDEX_MONEY', 'NEW', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
        (other,)))
    response = await client.get(f"{API}/subscribe", headers=AUTH, params={
        "email": "kurt@example.com", "session": "s1", "qkey": trip(days_ahead=30, length=3)})
    subscriber_id = (await response.json())["data"]["id"]
    said = (await write(client, other, text="Is it me?", type="FRIEND_MESSAGE"))["data"]
    before = {item["id"] for item in (await history(client, other))["data"]}
    assert said["id"] in before and len(before) == 4  # tag added, subscribed, its confirmation email, what he said

    answer = await merge(client, account, other)
    assert answer == {"data": {"id": str(account), "mergedAccountId": str(other),
                               "moved": {"messages": 4, "tags": 1, "orders": 1, "subscribers": 1}}, "status": 1}
    page = await history(client, account)
    assert page["data"][0]["type"] == "SYSTEM_MESSAGE" and page["data"][0]["text"] == f"Merged account {other} into this one"
    assert before <= {item["id"] for item in page["data"]}
    assert page["meta"]["totalCount"] == await db.fetch_value(  # the kept count follows the moved messages
        "SELECT count(*) FROM messages WHERE contact_id = ? AND status != 'cancelled'", (account,))
    merged = await contacts.get(db, account)
    assert (merged["tags"], merged["email"], merged["name"], merged["phone_number"]) == (
        ["new", "vip"], "kurt@example.com", "Kurt", "79001112233")
    assert merged["attributes"] == {"city": "Kazan"}
    client_view = await (await client.get(f"/Clients/{account}/", headers=AUTH)).json()
    assert client_view["tag"] == "new,vip"
    assert await db.fetch_value("SELECT contact_id FROM orders") == account
    assert await db.fetch_value("SELECT contact_id FROM subscribers WHERE id = ?", (subscriber_id,)) == account
    assert await contacts.get(db, other) is None
    await history(client, other, status=404)
    assert (await merge(client, account, other, 404))["error"] == f"Account {other} not found."
    assert (await merge(client, 999, account, 404))["error"] == "Account 999 not found."
    error = await merge(client, account, account, 400)
    assert error["status"] == 0 and list(error["errors"]) == ["accountId"]
    response = await client.post(f"/api/v1/accounts/{account}/merge", json={"accountId": "x1"}, headers=LEELOO)
    assert response.status == 400 and "accountId" in (await response.json())["errors"]


async def test_when_both_got_the_same_mailing_one_message_is_kept(client):
    db = client.app[DB]
    account = await add_client(client, "79001112233", "vip")
    other = await add_client(client, "79001112244", "vip")
    mailing = await add_mailing(client, "Sale today", "vip")
    await mailing_sent(client, mailing, 2)
    await merge(client, account, other)
    kept = await db.fetch_all("SELECT contact_id, status FROM messages WHERE mailing_id = ?", (mailing,))
    assert [tuple(row) for row in kept] == [(account, "sent")]
    stats = await (await client.get(f"/Stats/{mailing}/", headers=AUTH)).json()
    assert stats["statuses"]["sent"] == 1
    merged = await contacts.get(db, account)
    assert merged["phone_number"] == "79001112233"  # its own; the other's number left with the other


async def test_a_chatbot_man_merged_in_brings_his_templates_along(client):
    db = client.app[DB]

    async def mailing() -> dict:
        response = await client.post("/chatbot/mailing/", headers=AUTH, json={
            "data": {"users": [{"id_user": 7, "name": "jack"}], "count": 1, "female_id": 1}})
        assert response.status == 200, await response.text()
        return await response.json()

    await client.post("/chatbot/templates/", headers=AUTH,
                      json={"templates": ["one", "two", "three"], "profile": {"id_user": 1, "name": "Inna"}})
    given = [(await mailing())["data"]["7"] for _ in range(2)]
    man = await contacts.find_id_by_external_id(db, "victoriabrides", "7")
    account = await add_client(client, "79001112233", "vip")
    await merge(client, account, man)

    assert await contacts.find_id_by_external_id(db, "victoriabrides", "7") == account
    third = await mailing()
    assert third["received"] == 0 and third["data"]["7"] not in given
    assert (await mailing()) == {"result": True, "received": 1, "data": {}}  # all three given: left out
    chat = [item["text"] for item in (await history(client, account))["data"] if item["channel"] == "chat"]
    assert sorted(chat) == ["one", "three", "two"]


async def test_a_template_both_were_given_stays_given_once(client):
    db = client.app[DB]
    inna = {"id_user": 1, "name": "Inna"}
    await client.post("/chatbot/templates/", headers=AUTH, json={"templates": ["one"], "profile": inna})
    await client.post("/chatbot/mailing/", headers=AUTH, json={
        "data": {"users": [{"id_user": 7}, {"id_user": 8}], "count": 2, "female_id": 1}})
    await client.post("/chatbot/templates/", headers=AUTH, json={"templates": ["two"], "profile": inna})
    seven = await contacts.find_id_by_external_id(db, "victoriabrides", "7")
    eight = await contacts.find_id_by_external_id(db, "victoriabrides", "8")
    await merge(client, seven, eight)  # both got "one"
    answer = await (await client.post("/chatbot/mailing/", headers=AUTH, json={
        "data": {"users": [{"id_user": 7}], "count": 1, "female_id": 1}})).json()
    assert answer["data"] == {"7": "two"}
    keys = await db.fetch_all("SELECT dedupe_key FROM messages WHERE channel = 'chat' AND contact_id = ?", (seven,))
    assert sorted(row[0] or "" for row in keys) == ["", f"chat:1:{seven}", f"chat:2:{seven}"]


# -- one person across families ---------------------------------------------------------------------


@pytest.fixture
async def herald(smtp_server, price_index, aiohttp_client, make_settings):  # noqa: F811
    settings = make_settings(
        smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
        server={"public_url": "http://herald.test"},
        subscriptions={"price_index": "http", "price_index_url": price_index.url,
                       "price_index_token": price_index.token})
    return await aiohttp_client(create_app(settings))


async def test_one_person_across_families_has_one_history_in_order(herald, smtp_server, price_index):  # noqa: F811
    db = herald.app[DB]
    created = await herald.post("/api/v1/accounts", headers=LEELOO, json={
        "name": "Vasya", "phone": "+7 900 123-45-67", "email": "vasya@example.com", "tags": ["vip"], "from": "API"})
    assert created.status == 201, await created.text()
    person = int((await created.json())["data"]["id"])
    mailing = await add_mailing(herald, "Sale today", "vip")
    await mailing_sent(herald, mailing)

    qkey = trip(days_ahead=40, length=7)
    response = await herald.get(f"{API}/subscribe", headers=AUTH, params={
        "email": "vasya@example.com", "passportuid": "36972065", "qkey": qkey})
    subscriber_id = (await response.json())["data"]["id"]
    proof = hashlib.sha256(b"36972065").hexdigest()
    assert (await herald.post(f"{API}/confirm", data={"id": subscriber_id, "p": proof})).status == 200
    now = datetime.now(timezone.utc)
    price_index.prices[qkey] = 12_000.0
    await update_prices(herald, now - timedelta(days=1))
    price_index.prices[qkey] = 10_500.0
    await update_prices(herald, now)
    summary = await send_emails(db, herald.app[OUTBOX], public_url="http://herald.test")
    assert summary.queued == 1
    await smtp_server.wait_for(2)
    unsubscribed = await herald.get(f"{API}/unsubscribe", params={"id": subscriber_id})
    assert unsubscribed.status == 200

    page = await history(herald, person)
    assert page["meta"]["totalCount"] == 7
    oldest_first = [(item["type"], item["channel"], item["status"]) for item in reversed(page["data"])]
    assert oldest_first[0] == ("SYSTEM_MESSAGE", "system", "sent")  # the account made with its tag
    assert reversed(page["data"]).__next__()["text"] == "Tag added: vip"
    oldest_first, page["data"] = oldest_first[1:], page["data"][:-1]
    assert oldest_first == [("BOT_MESSAGE", "sms", "sent"), ("SYSTEM_MESSAGE", "system", "sent"),
                            ("BOT_MESSAGE", "email", "sent"), ("SYSTEM_MESSAGE", "system", "sent"),
                            ("BOT_MESSAGE", "email", "sent"), ("SYSTEM_MESSAGE", "system", "sent")]
    texts = [item["text"] for item in reversed(page["data"])]
    assert texts[0] == "Sale today"
    assert texts[1] == f"Subscribed to price alerts: {qkey}"
    assert texts[3] == "Subscription confirmed"
    assert "10" in texts[4] and "500" in texts[4]  # the price email's text as it went out
    assert texts[5] == "Unsubscribed from price alerts: all"
    stamps = [item["createdAt"] for item in page["data"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_live_answers_match_the_documented_schemas(client):
    from tests.test_openapi import Checker

    check = Checker(client)
    db = client.app[DB]
    account = await add_client(client, "79001112233", "vip")
    other = await contacts.create(db, name="Kurt", source="TELEGRAM")
    operator = await platform_users.create(db, "Robert")
    one, path = {"id": account}, "/api/v1/accounts/{id}/chat-messages"
    await check("GET", path, 401, one)
    await check("GET", path, 404, {"id": "abc"}, headers=LEELOO)
    await check("GET", path, 400, one, query={"limit": "101"}, headers=LEELOO)
    friend = await check("POST", path, 201, one, json={"text": "Hi", "type": "FRIEND_MESSAGE"}, headers=LEELOO)
    await check("POST", path, 201, one, data={"text": "Yes?", "type": "YOUR_MESSAGE", "userId": str(operator)},
                headers=LEELOO)
    await check("POST", path, 400, one, json={"text": "", "type": "FRIEND_MESSAGE"}, headers=LEELOO)
    await check("POST", path, 415, one, data=b"x", headers={**LEELOO, "Content-Type": "text/plain"})
    await messages.record_event(db, account, "Tag added: vip")
    page = await check("GET", path, 200, one, headers=LEELOO)
    assert {item["type"] for item in page["data"]} == {"FRIEND_MESSAGE", "YOUR_MESSAGE", "SYSTEM_MESSAGE"}
    read = await check("POST", path + "/read", 200, one, json={"ids": [friend["data"]["id"]]}, headers=LEELOO)
    assert read["data"] == {"read": 1}
    await check("POST", path + "/read", 400, one, json={}, headers=LEELOO)
    merged = await check("POST", "/api/v1/accounts/{id}/merge", 200, one, data={"accountId": str(other)}, headers=LEELOO)
    assert merged["data"]["moved"]["messages"] == 0
    await check("POST", "/api/v1/accounts/{id}/merge", 404, one, json={"accountId": other}, headers=LEELOO)
    await check("POST", "/api/v1/accounts/{id}/merge", 400, one, json={"accountId": account}, headers=LEELOO)

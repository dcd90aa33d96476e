"""storage/contacts.py: the one writer of contacts and tags, family-neutral, on a real SQLite file;
and how the notification service's /Clients/ and the subscriptions see the contacts it keeps."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from server.keys import DB
from storage import contacts
from storage.db import Database, WriteTransaction
from tests.conftest import AUTH

API = "/email_subscription/v1.0"


async def test_a_contact_keeps_every_familys_fields(db: Database):
    contact_id = await contacts.create(
        db, phone_number="79001234567", operator_code="900", email=" Vasya@Example.COM ", name="Вася",
        timezone="Europe/Moscow", tags=["vip", " new ", "vip", ""], source="crm",
        external_ids={"victoriabrides": "123"}, attributes={"botStatus": "BOT", "locale": "en_US"})

    contact = await contacts.get(db, contact_id)
    assert {key: value for key, value in contact.items() if key not in ("created_at", "updated_at")} == {
        "id": contact_id, "phone_number": "79001234567", "operator_code": "900", "email": "vasya@example.com",
        "name": "Вася", "timezone": "Europe/Moscow", "tags": ["new", "vip"], "source": "crm",
        "external_ids": {"victoriabrides": "123"}, "attributes": {"botStatus": "BOT", "locale": "en_US"},
        "bot_status": "BOT", "gender": None, "locale": None}
    assert (await contacts.find_by_phone(db, "79001234567"))["id"] == contact_id
    assert (await contacts.find_by_email(db, "VASYA@example.com"))["id"] == contact_id
    assert await contacts.find_by_email(db, "other@example.com") is None


async def test_a_phone_or_an_email_belongs_to_one_live_contact(db: Database):
    first = await contacts.create(db, phone_number="79001234567", operator_code="900", email="a@example.com")

    with pytest.raises(contacts.Taken) as taken:
        await contacts.create(db, phone_number="79001234567", operator_code="900")
    assert (taken.value.field, taken.value.contact_id) == ("phone_number", first)
    with pytest.raises(contacts.Taken) as taken:
        await contacts.create(db, email="A@Example.com")
    assert (taken.value.field, taken.value.contact_id) == ("email", first)
    second = await contacts.create(db, email="b@example.com")
    with pytest.raises(contacts.Taken):
        await contacts.update(db, second, email="a@example.com")
    assert await db.fetch_value("SELECT count(*) FROM contacts") == 2

    assert await contacts.find_or_create_by_email(db, "A@example.com") == first
    assert await contacts.delete(db, first)
    assert await contacts.find_by_email(db, "a@example.com") is None
    third = await contacts.find_or_create_by_email(db, "a@example.com", source="subscriptions")
    assert third not in (first, second)
    assert (await contacts.get(db, third))["source"] == "subscriptions"


async def test_update_replaces_only_what_it_is_given(db: Database):
    contact_id = await contacts.create(db, phone_number="79001234567", operator_code="900", tags=["a"],
                                       external_ids={"crm": "1"})
    updated = await contacts.update(db, contact_id, name="Anna", attributes={"gender": "FEMALE"})
    assert (updated["name"], updated["phone_number"], updated["tags"]) == ("Anna", "79001234567", ["a"])
    assert (updated["external_ids"], updated["attributes"]) == ({"crm": "1"}, {"gender": "FEMALE"})
    assert await contacts.update(db, 10_000, name="nobody") is None
    with pytest.raises(TypeError):
        await contacts.update(db, contact_id, tag="a,b")  # a family's field name, not a contact's


async def test_tags_are_set_added_and_removed(db: Database):
    contact_id = await contacts.create(db, email="a@example.com", tags=["x"])
    assert await contacts.add_tags(db, contact_id, ["y", "x"])
    assert (await contacts.get(db, contact_id))["tags"] == ["x", "y"]
    assert await contacts.remove_tags(db, contact_id, ["x", "absent"])
    assert (await contacts.get(db, contact_id))["tags"] == ["y"]
    assert await contacts.set_tags(db, contact_id, ["z"])
    assert (await contacts.get(db, contact_id))["tags"] == ["z"]
    assert not await contacts.add_tags(db, 10_000, ["x"])


async def test_a_write_function_is_part_of_the_write_that_calls_it(db: Database):
    class Refused(Exception):
        pass

    def two_contacts_then_refuse(tx: WriteTransaction) -> None:
        contacts.create(tx, email="one@example.com")
        contacts.create(tx, email="two@example.com")
        raise Refused

    with pytest.raises(Refused):
        await db.write(two_contacts_then_refuse)
    assert await db.fetch_value("SELECT count(*) FROM contacts") == 0


async def test_tag_changes_follow_running_mailings(client):
    """Adding a tag joins a running mailing filtered on it; removing it cancels what is unsent. A
    window that is never open here keeps the message pending meanwhile."""
    db = client.app[DB]
    now = datetime.now(timezone.utc)
    closed = [(now + timedelta(hours=h)).strftime("%H:00") for h in (2, 3)]
    response = await client.post("/Mailing/", json={
        "datetime_start": (now - timedelta(minutes=1)).isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
        "message_text": "hi", "filter_tag": "vip", "window_start": closed[0], "window_end": closed[1]}, headers=AUTH)
    mailing_id = (await response.json())["id"]
    for _ in range(200):  # until the engine has fanned it out
        if await db.fetch_value("SELECT fanned_out_at FROM mailings WHERE id = ?", (mailing_id,)):
            break
        await asyncio.sleep(0.02)
    contact_id = await contacts.create(db, phone_number="79001234567", operator_code="900", tags=["new"])

    async def status() -> str | None:
        return await db.fetch_value("SELECT status FROM messages WHERE mailing_id = ? AND contact_id = ?",
                                    (mailing_id, contact_id))

    assert await status() is None
    await contacts.add_tags(db, contact_id, ["vip"])
    assert await status() == "pending"
    await contacts.remove_tags(db, contact_id, ["vip"])
    assert await status() == "cancelled"


async def test_a_contact_without_a_phone_is_no_client(client):
    contact_id = await contacts.create(client.app[DB], email="mail@example.com")
    url = f"/Clients/{contact_id}/"
    assert (await client.get(url, headers=AUTH)).status == 404
    assert (await client.put(url, json={"phone_number": "79001234567"}, headers=AUTH)).status == 404
    assert (await client.patch(url, json={"tag": "x"}, headers=AUTH)).status == 404
    assert (await client.delete(url, headers=AUTH)).status == 404
    listed = await (await client.get("/Clients/", headers=AUTH)).json()
    assert listed["count"] == 0 and listed["results"] == []
    assert (await contacts.get(client.app[DB], contact_id))["email"] == "mail@example.com"  # untouched


async def test_a_client_made_through_the_api_is_a_contact_from_the_notification_service(client):
    response = await client.post("/Clients/", json={"phone_number": "79001234567", "tag": "b,a"}, headers=AUTH)
    created = await response.json()
    contact = await contacts.get(client.app[DB], created["id"])
    assert (contact["source"], contact["tags"], contact["operator_code"]) == ("SMS", ["a", "b"], "900")
    await contacts.update(client.app[DB], created["id"], email="Client@Example.com", name="Client")
    got = await (await client.get(f"/Clients/{created['id']}/", headers=AUTH)).json()
    assert got == created  # the client's shape shows what the family knows, nothing more


async def subscribe(client, **params) -> str:
    response = await client.get(f"{API}/subscribe", headers=AUTH,
                                params={"qkey": "c213_c239_2030-05-02_None_economy_1_0_0_ru", **params})
    assert response.status == 200, await response.text()
    return (await response.json())["data"]["id"]


async def contact_of(client, subscriber_id: str) -> int:
    return await client.app[DB].fetch_value("SELECT contact_id FROM subscribers WHERE id = ?", (subscriber_id,))


async def test_a_subscriber_with_a_known_email_is_that_contact(client):
    """A person reached through two families is one contact: subscribing with the email of a
    contact that has a phone (a client) links the subscriber to it instead of making another."""
    db = client.app[DB]
    person = await contacts.create(db, phone_number="79001234567", operator_code="900", email="Vasya@example.com")

    subscriber_id = await subscribe(client, email="VASYA@example.com", session="s1")

    assert await contact_of(client, subscriber_id) == person
    assert await db.fetch_value("SELECT count(*) FROM contacts") == 1
    queued = await db.fetch_all("SELECT contact_id, channel FROM messages WHERE channel != 'system'")
    assert [tuple(row) for row in queued] == [(person, "email")]  # its confirmation (and "Subscribed" events)


async def test_a_subscribers_new_email_that_a_contact_has_moves_it_to_that_contact(client):
    db = client.app[DB]
    subscriber_id = await subscribe(client, passportuid="777")  # no email yet: a contact of its own
    own = await contact_of(client, subscriber_id)
    assert (await contacts.get(db, own))["email"] is None
    person = await contacts.create(db, phone_number="79001234567", operator_code="900", email="p@example.com")

    assert await subscribe(client, passportuid="777", email="p@example.com") == subscriber_id
    assert await contact_of(client, subscriber_id) == person

    other_id = await subscribe(client, passportuid="778")
    other = await contact_of(client, other_id)
    assert await subscribe(client, passportuid="778", email="new@example.com") == other_id
    assert await contact_of(client, other_id) == other  # no one had it: its own contact takes it
    assert (await contacts.get(db, other))["email"] == "new@example.com"
    proof = hashlib.sha256(b"778").hexdigest()
    assert (await client.post(f"{API}/confirm", data={"id": other_id, "p": proof})).status == 200

"""The admin UI's contacts over HTTP (handlers/admin_contacts.py): one directory of the people
every family made, searched by phone, email, name and tag; a contact's page with its whole
history; tags saved as the CRM's API saves them (a tag brings the contact into a running mailing);
a reply that goes out as an SMS and shows in the CRM as the operator's YOUR_MESSAGE."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta, timezone

from tests.conftest import AUTH
from tests.test_admin_access import NAME
from tests.test_admin_mailings import operator, post_form  # noqa: F401 (fixture)
from tests.test_dispatch import add_client, add_mailing, wait_for

LEELOO = {"X-Leeloo-AuthToken": AUTH["Authorization"].split()[1]}


def ids_in(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-contact="(\d+)"', page)]


async def account(api, **fields) -> int:
    answer = await api.post("/api/v1/accounts/", json=fields, headers=LEELOO)
    assert answer.status == 201, await answer.text()
    return int((await answer.json())["data"]["id"])


async def history(api, contact_id: int) -> list[dict]:
    answer = await api.get(f"/api/v1/accounts/{contact_id}/chat-messages", headers=LEELOO)
    return (await answer.json())["data"]


async def test_one_directory_of_every_familys_people_searched_every_way(operator):
    api = await operator()
    client = (await add_client(api, "79001112233", tag="vip"))["id"]
    anna = await account(api, name="Anna Petrova", email="anna@example.com", tags=["gold"])
    telegram = await account(api, name="Boris", **{"from": "TELEGRAM"})
    page = await (await api.get("/admin/contacts")).text()
    assert ids_in(page) == [telegram, anna, client]  # newest first
    for params, expected in [({"q": "1112"}, [client]), ({"q": "+7 (900) 111"}, [client]),
                             ({"q": "ANNA@example"}, [anna]), ({"q": "petrov"}, [anna]),
                             ({"tag": "vip"}, [client]), ({"tag": "gold", "q": "anna"}, [anna]),
                             ({"q": "nobody"}, [])]:
        found = await (await api.get("/admin/contacts", params=params)).text()
        assert ids_in(found) == expected, params


async def test_the_directory_pages_by_id_not_by_offset(operator):
    api = await operator()
    made = [(await add_client(api, f"7900000{n:04d}"))["id"] for n in range(53)]
    first = await (await api.get("/admin/contacts")).text()
    assert ids_in(first) == made[::-1][:50]
    older = re.search(r'href="(/admin/contacts\?[^"]*before=\d+)"', first).group(1).replace("&amp;", "&")
    assert ids_in(await (await api.get(older)).text()) == made[::-1][50:]


async def test_saving_tags_is_the_crms_change_and_joins_a_running_mailing(operator):
    api = await operator()
    contact = (await add_client(api, "79001112233", tag="vip"))["id"]
    now = datetime.now(timezone.utc)
    mailing = await add_mailing(api, "For gold only", start=now - timedelta(seconds=1), end=now + timedelta(hours=1),
                                filter_tag="gold")
    await wait_for(api, mailing["id"], lambda current: current["statuses"] is not None)
    saved = await post_form(api, f"/admin/contacts/{contact}/tags", {"tags": "gold, vip"})
    assert saved.status == 303 and saved.headers["Location"] == f"/admin/contacts/{contact}?notice=tags"
    crm = await (await api.get(f"/api/v1/accounts/{contact}/", headers=LEELOO)).json()
    assert sorted(crm["data"]["tags"]) == ["gold", "vip"]
    await wait_for(api, mailing["id"], {"sent": 1})  # the engine was told
    page = await (await api.get(saved.headers["Location"])).text()
    assert "Tag added: gold" in page and "For gold only" in page and "Tags saved." in page
    refused = await post_form(api, f"/admin/contacts/{contact}/tags", {"tags": "gold, bad\x01tag"})
    assert refused.status == 400 and 'id="tags-error"' in await refused.text()


async def test_a_reply_goes_out_as_an_sms_and_is_the_operators_in_the_crm(operator):
    api = await operator()
    contact = (await add_client(api, "79001112233"))["id"]
    replied = await post_form(api, f"/admin/contacts/{contact}/reply", {"text": "Your order\r\nis ready"})
    assert replied.status == 303 and replied.headers["Location"] == f"/admin/contacts/{contact}?notice=replied"
    deadline = time.monotonic() + 10
    while (items := await history(api, contact))[0]["status"] != "sent":
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.05)
    reply = items[0]
    assert (reply["type"], reply["text"], reply["channel"]) == ("YOUR_MESSAGE", "Your order\nis ready", "sms")
    user_id = reply["links"]["createdBy"]["id"]
    user = await (await api.get(f"/api/v1/users/{user_id}/", headers=LEELOO)).json()
    assert user["data"]["name"] == NAME
    await post_form(api, f"/admin/contacts/{contact}/reply", {"text": "And again"})
    assert (await history(api, contact))[0]["links"]["createdBy"]["id"] == user_id  # one platform user per operator
    blank = await post_form(api, f"/admin/contacts/{contact}/reply", {"text": "  "})
    assert blank.status == 400 and "This field may not be blank." in await blank.text()


async def test_a_contact_without_a_phone_has_no_reply_box_and_no_reply(operator):
    api = await operator()
    contact = await account(api, name="Only email", email="only@example.com")
    page = await (await api.get(f"/admin/contacts/{contact}")).text()
    assert "no channel to reply" in page and 'name="text"' not in page
    refused = await post_form(api, f"/admin/contacts/{contact}/reply", {"text": "Hello"})
    assert refused.status == 400 and "has no phone number" in await refused.text()
    assert await history(api, contact) == []
    assert (await api.get("/admin/contacts/999999")).status == 404

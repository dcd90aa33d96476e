"""The CRM's accounts, orders and platform users (seed 002) through the real app on a real SQLite
file: the seed's list and detail replayed in shape, pages at their edges, the tag filter, one
directory with /Clients/ and /Mailing/ (the sandbox transport), orders and their history events,
users, and every error shape."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from handlers.crm import FAMILY
from server.keys import DB
from storage import contacts, messages, orders, platform_users
from tests.conftest import SEED_TOKEN

LEELOO = {"X-Leeloo-AuthToken": SEED_TOKEN}
TOKEN = {"Authorization": f"Token {SEED_TOKEN}"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LIST_FIELDS = ["id", "name", "tags", "from", "botStatus", "lastMessageTime", "createdAt"]


async def call(client, method: str, path: str, status: int = 200, **kwargs) -> dict:
    response = await client.request(method, path, headers={**LEELOO, **kwargs.pop("headers", {})}, **kwargs)
    body = await response.json()
    assert response.status == status, body
    return body


async def new_account(client, **fields) -> dict:
    return (await call(client, "POST", "/api/v1/accounts", 201, json={"name": "Someone", **fields}))["data"]


async def events_of(client, account_id: str) -> list[str]:
    history = await messages.history(client.app[DB], int(account_id))
    return [m["body"] for m in reversed(history) if m["channel"] == "system"]


async def until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# -- the list ------------------------------------------------------------------------------------


async def test_the_seeds_list_example_replayed(client):
    weend = await new_account(client, name="Weend Vidente", tags=["68187", "tag3"], **{"from": "TELEGRAM"})
    kurt = await new_account(client, name="Kurt Bowie", tags=["tag2"], **{"from": "FACEBOOK"})
    await new_account(client, name="Not Tagged", tags=["other"])

    body = await call(client, "GET", "/api/v1/accounts?limit=3&offset=0&filter[tags]=tag3,tag2")

    assert list(body) == ["data", "meta", "status"] and body["status"] == 1
    assert body["meta"] == {"limit": 3, "offset": 0, "filteredCount": 2, "totalCount": 2}
    assert [list(account) for account in body["data"]] == [LIST_FIELDS, LIST_FIELDS]
    first, second = body["data"]
    assert (first["id"], first["name"], first["tags"], first["from"], first["botStatus"]) == (
        kurt["id"], "Kurt Bowie", ["tag2"], "FACEBOOK", "BOT")
    assert (second["id"], second["tags"], second["from"]) == (weend["id"], ["68187", "tag3"], "TELEGRAM")
    for account in body["data"]:
        assert isinstance(account["id"], str)
        assert TIME.match(account["createdAt"]) and TIME.match(account["lastMessageTime"])  # its tag event


async def test_newest_first_and_the_pages_at_their_edges(client):
    ids = [(await new_account(client, name=f"Account {n}"))["id"] for n in range(5)]

    everything = await call(client, "GET", "/api/v1/accounts")
    assert [a["id"] for a in everything["data"]] == ids[::-1]
    assert everything["meta"] == {"limit": 20, "offset": 0, "filteredCount": 5, "totalCount": 5}
    second = await call(client, "GET", "/api/v1/accounts?limit=2&offset=2")
    assert [a["id"] for a in second["data"]] == [ids[2], ids[1]]
    last = await call(client, "GET", "/api/v1/accounts?limit=2&offset=4")
    assert last["meta"] == {"limit": 2, "offset": 4, "filteredCount": 1, "totalCount": 5}
    past = await call(client, "GET", "/api/v1/accounts?offset=5")
    assert past == {"data": [], "meta": {"limit": 20, "offset": 5, "filteredCount": 0, "totalCount": 5}, "status": 1}
    assert (await call(client, "GET", "/api/v1/accounts?limit=100"))["meta"]["filteredCount"] == 5
    for bad in ("0", "101", "x", "", "-1"):
        refused = await call(client, "GET", f"/api/v1/accounts?limit={bad}", 400)
        assert refused["status"] == 0 and list(refused["errors"]) == ["limit"], bad
    assert list((await call(client, "GET", "/api/v1/accounts?offset=-1", 400))["errors"]) == ["offset"]


async def test_the_tag_filter_matches_any_of_the_tags_and_counts_follow_changes(client):
    a = await new_account(client, tags=["red"])
    b = await new_account(client, tags=["blue", "red"])
    c = await new_account(client, tags=["green"])

    async def listed(tags: str) -> tuple[int, list[str]]:
        body = await call(client, "GET", f"/api/v1/accounts?filter[tags]={tags}")
        return body["meta"]["totalCount"], [account["id"] for account in body["data"]]

    assert await listed("red") == (2, [b["id"], a["id"]])
    assert await listed("blue,green") == (2, [c["id"], b["id"]])
    assert await listed("red,blue") == (2, [b["id"], a["id"]])  # once each
    assert await listed("none") == (0, [])
    await call(client, "POST", f"/api/v1/accounts/{a['id']}/remove-tag", json={"tag": "red"})
    assert await listed("red") == (1, [b["id"]])
    assert (await client.delete(f"/Clients/{b['id']}/", headers=TOKEN)).status == 404  # no phone: no client
    await contacts.delete(client.app[DB], int(b["id"]))
    assert await listed("red") == (0, [])
    assert (await call(client, "GET", "/api/v1/accounts"))["meta"]["totalCount"] == 2


async def test_a_chatbot_sender_profile_is_a_platform_user_not_an_account(client):
    db = client.app[DB]
    man = await new_account(client, tags=["vip"])
    profile = await contacts.create(db, name="Olga", source="VICTORIABRIDES", tags=["vip"])
    assert (await call(client, "GET", "/api/v1/accounts?filter[tags]=vip"))["meta"]["totalCount"] == 2
    await platform_users.for_contact(db, profile, "Olga")

    assert [a["id"] for a in (await call(client, "GET", "/api/v1/accounts"))["data"]] == [man["id"]]
    assert (await call(client, "GET", "/api/v1/accounts?filter[tags]=vip"))["meta"]["totalCount"] == 1
    assert (await call(client, "GET", "/api/v1/accounts?filter[tags]=vip,x"))["meta"]["totalCount"] == 1
    await call(client, "GET", f"/api/v1/accounts/{profile}", 404)
    assert [u["name"] for u in (await call(client, "GET", "/api/v1/users"))["data"]] == ["Olga"]


async def test_the_kept_counts_equal_a_count_of_the_table(client):
    db = client.app[DB]
    made = [(await new_account(client, tags=[f"t{n % 3}", "all"]))["id"] for n in range(9)]
    await contacts.delete(db, int(made[0]))
    await contacts.set_tags(db, int(made[1]), ["t9"])
    profile = int(made[2])
    user = await platform_users.for_contact(db, profile, "P")
    await db.write(lambda tx: tx.execute("DELETE FROM platform_users WHERE id = ?", (user,)))
    await platform_users.for_contact(db, int(made[3]), "Q")

    kept = {(row["dimension"], row["value"]): row["count"]
            for row in await db.fetch_all("SELECT * FROM account_counts WHERE count > 0")}
    live = "deleted_at IS NULL AND id NOT IN (SELECT contact_id FROM platform_users WHERE contact_id IS NOT NULL)"
    counted = {("all", ""): await db.fetch_value(f"SELECT count(*) FROM contacts WHERE {live}")}
    for row in await db.fetch_all(f"SELECT tag, count(*) AS n FROM contact_tags WHERE contact_id IN "
                                  f"(SELECT id FROM contacts WHERE {live}) GROUP BY tag"):
        counted[("tag", row["tag"])] = row["n"]
    assert kept == counted and counted[("all", "")] == 7


async def test_q_searches_name_email_and_phone(client):
    vasya = await new_account(client, name="Vasya Pupkin", email="vasya@example.com")
    petya = await new_account(client, name="Petya", phone="+7 (977) 405-33-29")
    await new_account(client, name="100% real_name")

    async def found(q: str) -> list[str]:
        body = await call(client, "GET", "/api/v1/accounts", params={"q": q})
        assert body["meta"]["totalCount"] == len(body["data"])
        return [account["id"] for account in body["data"]]

    assert await found("PUPKIN") == [vasya["id"]]
    assert await found("example.COM") == [vasya["id"]]
    assert await found("405-33") == [petya["id"]]
    assert await found("%") != [] and await found("_") != [] and await found("0% r") != []
    assert await found("a_n") == []  # `_` is a character, not a wildcard
    assert await found("nobody") == []
    refused = await call(client, "GET", "/api/v1/accounts", 400, params={"q": "x" * 201})
    assert list(refused["errors"]) == ["q"]


# -- one account ---------------------------------------------------------------------------------


async def test_the_detail_with_each_include_and_both(client):
    db = client.app[DB]
    account = await new_account(client, name="Kurt Bowie", tags=["tag3"], gender="FEMALE", locale="en_US",
                                subscribeHistory=[{"tunnelName": "TunnelName_1", "leadgentoolName": "LGT_1",
                                                   "trafficSource": "Default traffic source"}],
                                **{"from": "FACEBOOK"})
    robert = (await call(client, "POST", "/api/v1/users", 201, json={"name": "Robert"}))["data"]
    await messages.enqueue(db, "facebook", int(account["id"]), body="Hi", sender=platform_users.sender_of(int(robert["id"])))
    profile = await contacts.create(db, name="Olga")
    olga = await platform_users.for_contact(db, profile, "Olga")
    await messages.enqueue(db, "chat", int(account["id"]), body="Hello", sender=f"contact:{profile}")
    first = (await call(client, "POST", "/api/v1/orders", 201, json={
        "accountId": account["id"], "price": 1, "currency": "UAH", "paymentMethod": "ASSET_PAYMENT"}))["data"]
    second = (await call(client, "POST", "/api/v1/orders", 201, json={
        "accountId": account["id"], "price": "199.90", "currency": "rub", "paymentMethod": "YANDEX_MONEY",
        "status": "SUCCESS"}))["data"]
    path = f"/api/v1/accounts/{account['id']}"

    plain = await call(client, "GET", path)
    assert list(plain) == ["data", "status"]
    data = plain["data"]
    assert {key: data[key] for key in ("id", "name", "tags", "from", "botStatus", "gender", "locale")} == {
        "id": account["id"], "name": "Kurt Bowie", "tags": ["tag3"], "from": "FACEBOOK", "botStatus": "BOT",
        "gender": "FEMALE", "locale": "en_US"}
    assert data["subscribeHistory"] == [{"tunnelName": "TunnelName_1", "leadgentoolName": "LGT_1",
                                         "trafficSource": "Default traffic source"}]
    assert data["links"] == {"contactedUsers": [{"type": "users", "id": robert["id"]}, {"type": "users", "id": str(olga)}],
                             "orders": [{"type": "orders", "id": second["id"]}, {"type": "orders", "id": first["id"]}]}
    assert TIME.match(data["createdAt"]) and TIME.match(data["updatedAt"])

    users = await call(client, "GET", path, params={"include": "contactedUsers"})
    assert list(users["included"]) == ["users"]
    assert [(u["id"], u["name"]) for u in users["included"]["users"]] == [(robert["id"], "Robert"), (str(olga), "Olga")]
    assert all(TIME.match(u["createdAt"]) and TIME.match(u["updatedAt"]) for u in users["included"]["users"])
    with_orders = await call(client, "GET", path, params={"include": "orders"})
    assert list(with_orders["included"]) == ["orders"]
    assert [(o["price"], o["currency"], o["paymentMethod"], o["status"]) for o in with_orders["included"]["orders"]] == [
        (199.9, "RUB", "YANDEX_MONEY", "SUCCESS"), (1, "UAH", "ASSET_PAYMENT", "NEW")]
    both = await call(client, "GET", path, params={"include": "contactedUsers,orders"})
    assert both["included"] == {"users": users["included"]["users"], "orders": with_orders["included"]["orders"]}
    assert both["data"] == data

    refused = await call(client, "GET", path, 400, params={"include": "orders,friends"})
    assert refused["status"] == 0 and "friends" in refused["errors"]["include"][0]


async def test_subscribe_history_adds_each_price_alert_subscription(client):
    account = await new_account(client, email="vasya@example.com")
    for qkey in ("c213_c2_2027-04-01_None_economy_1_0_0_ru", "c213_c54_2027-05-01_None_economy_1_0_0_ru"):
        response = await client.get("/email_subscription/v1.0/subscribe", headers=TOKEN, params={
            "email": "vasya@example.com", "passportuid": "36972065", "qkey": qkey})
        assert response.status == 200, await response.text()

    history = (await call(client, "GET", f"/api/v1/accounts/{account['id']}"))["data"]["subscribeHistory"]
    assert history == [{"tunnelName": "price alerts", "leadgentoolName": qkey, "trafficSource": "EMAIL"}
                       for qkey in ("c213_c2_2027-04-01_None_economy_1_0_0_ru",
                                    "c213_c54_2027-05-01_None_economy_1_0_0_ru")]


async def test_unknown_and_malformed_account_ids_are_404s(client):
    for path in ("/api/v1/accounts/999", "/api/v1/accounts/abc", "/api/v1/accounts/99999999999999999999",
                 "/api/v1/accounts/999/orders"):
        body = await call(client, "GET", path, 404)
        assert body["status"] == 0 and body["error"].startswith("Account ") and body["error"].endswith(" not found.")
    assert (await call(client, "GET", "/api/v1/accounts/12", 404))["error"] == "Account 12 not found."
    await call(client, "PATCH", "/api/v1/accounts/12", 404, json={"name": "x"})
    await call(client, "POST", "/api/v1/accounts/12/add-tag", 404, json={"tag": "x"})


# -- writes --------------------------------------------------------------------------------------


async def test_an_account_created_with_a_phone_is_a_client_with_its_tags(client):
    account = await new_account(client, name="Vasya", phone="8 (977) 405-33-29", tags=["vip", "moscow"],
                                timezone="Europe/Moscow", email="Vasya@Example.com")
    assert (account["phone"], account["email"], account["from"]) == ("79774053329", "vasya@example.com", "API")

    clients = await (await client.get("/Clients/", headers=TOKEN)).json()
    assert clients["results"] == [{"id": int(account["id"]), "phone_number": "79774053329", "operator_code": "977",
                                   "tag": "moscow,vip", "timezone": "Europe/Moscow"}]
    again = await call(client, "POST", "/api/v1/accounts", 409, json={"name": "x", "phone": "+79774053329"})
    assert again == {"status": 0, "error": "Another account has this phone.",
                     "errors": {"phone": ["Another account has this phone."]}}
    taken = await call(client, "POST", "/api/v1/accounts", 409, json={"name": "x", "email": "VASYA@example.com"})
    assert list(taken["errors"]) == ["email"]
    abroad = await call(client, "POST", "/api/v1/accounts", 400, json={"name": "x", "phone": "+44 20 7946 0958"})
    assert list(abroad["errors"]) == ["phone"]


async def test_bad_input_is_a_400_naming_each_field(client):
    body = {"name": " ", "tags": "a", "from": "no spaces", "email": "nope", "gender": "robot", "locale": "english",
            "timezone": "Mars/Olympus", "subscribeHistory": [{"tunnelName": "x"}]}
    refused = await call(client, "POST", "/api/v1/accounts", 400, json=body)
    assert refused["status"] == 0 and refused["error"]
    assert set(refused["errors"]) >= {"name", "from", "email", "gender", "locale", "timezone",
                                      "subscribeHistory.0.leadgentoolName"}
    assert list((await call(client, "POST", "/api/v1/accounts", 400, json={}))["errors"]) == ["name"]
    await call(client, "POST", "/api/v1/accounts", 400, data=b"{nope", headers={"Content-Type": "application/json"})
    unsupported = await client.post("/api/v1/accounts", data=b"x", headers={**LEELOO, "Content-Type": "text/plain"})
    assert unsupported.status == 415 and (await unsupported.json())["status"] == 0


async def test_a_form_body_works_as_json_does(client):
    account = await call(client, "POST", "/api/v1/accounts", 201,
                         data={"name": "Form", "tags": "a, b", "from": "telegram", "phone": "79001112233"})
    assert (account["data"]["tags"], account["data"]["from"]) == (["a", "b"], "TELEGRAM")
    order = await call(client, "POST", "/api/v1/orders", 201, data={
        "accountId": account["data"]["id"], "price": "10.5", "currency": "USD", "paymentMethod": "CARD"})
    assert order["data"]["price"] == 10.5


async def test_patch_changes_name_bot_status_gender_locale_and_tags(client):
    account = await new_account(client, tags=["a", "b"])
    path = f"/api/v1/accounts/{account['id']}"
    changed = (await call(client, "PATCH", path, json={"name": "New", "botStatus": "ADMIN", "gender": "MALE",
                                                         "locale": "ru_RU", "tags": ["b", "c"]}))["data"]
    assert (changed["name"], changed["botStatus"], changed["gender"], changed["locale"], changed["tags"]) == (
        "New", "ADMIN", "MALE", "ru_RU", ["b", "c"])
    assert (await call(client, "GET", "/api/v1/accounts"))["data"][0]["botStatus"] == "ADMIN"
    cleared = (await call(client, "PATCH", path, json={"gender": None}))["data"]
    assert (cleared["gender"], cleared["name"]) == (None, "New")
    for bad in ({"botStatus": "HUMAN"}, {"name": None}, {"tags": None}, {"name": ""}):
        refused = await call(client, "PATCH", path, 400, json=bad)
        assert list(refused["errors"]) == list(bad), bad
    assert await events_of(client, account["id"]) == ["Tag added: a", "Tag added: b", "Tag added: c", "Tag removed: a"]


async def test_add_and_remove_tag_answer_the_detail_and_log_events(client):
    account = await new_account(client, phone="79001234567")
    path = f"/api/v1/accounts/{account['id']}"
    added = await call(client, "POST", f"{path}/add-tag", json={"tags": ["vip", "new"]})
    assert added["data"]["tags"] == ["new", "vip"] and added["status"] == 1
    assert (await call(client, "POST", f"{path}/add-tag", json={"tag": "vip"}))["data"]["tags"] == ["new", "vip"]
    removed = await call(client, "POST", f"{path}/remove-tag", json={"tag": "new"})
    assert removed["data"]["tags"] == ["vip"]
    # /Clients/ changes the same tags, and is logged the same way.
    assert (await client.patch(f"/Clients/{account['id']}/", json={"tag": "vip,moscow"}, headers=TOKEN)).status == 200
    assert (await call(client, "GET", path))["data"]["tags"] == ["moscow", "vip"]
    assert await events_of(client, account["id"]) == [
        "Tag added: new", "Tag added: vip", "Tag removed: new", "Tag added: moscow"]
    refused = await call(client, "POST", f"{path}/add-tag", 400, json={})
    assert refused["errors"] == {"tags": ["Give tags (a list of tags) or tag."]}
    # A comma-separated string is a list of tags too (as in a form).
    assert (await call(client, "POST", f"{path}/remove-tag", json={"tags": "moscow, vip"}))["data"]["tags"] == []
    assert list((await call(client, "POST", f"{path}/add-tag", 400, json={"tags": [1]}))["errors"]) == ["tags"]


async def test_a_tag_changed_in_the_crm_changes_which_mailing_reaches_the_client(client):
    tagged = await new_account(client, phone="79001000001", tags=["vip"])
    other = await new_account(client, phone="79001000002")
    now = datetime.now(timezone.utc)
    response = await client.post("/Mailing/", headers=TOKEN, json={
        "datetime_start": (now - timedelta(minutes=1)).isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
        "message_text": "Sale today", "filter_tag": "vip"})
    mailing_id = (await response.json())["id"]

    async def sent_to() -> set[int]:
        stats = await (await client.get(f"/Stats/{mailing_id}/", headers=TOKEN)).json()
        return {m["client_id"] for m in stats["messages"]["results"] if m["status"] == "sent"}

    async def only_tagged() -> bool:
        return await sent_to() == {int(tagged["id"])}

    await until(only_tagged)
    await call(client, "POST", f"/api/v1/accounts/{other['id']}/add-tag", json={"tag": "vip"})

    async def both() -> bool:
        return await sent_to() == {int(tagged["id"]), int(other["id"])}

    await until(both)
    history = await messages.history(client.app[DB], int(other["id"]))
    assert [(m["channel"], m["body"]) for m in history][-1] == ("system", "Tag added: vip")
    assert history[0]["channel"] == "sms" and history[0]["mailing_id"] == mailing_id


# -- orders --------------------------------------------------------------------------------------


async def test_orders_are_created_read_and_change_status_with_events(client):
    account = await new_account(client)
    created = await call(client, "POST", "/api/v1/orders", 201, json={
        "accountId": account["id"], "price": 199.9, "currency": "RUB", "paymentMethod": "YANDEX_MONEY"})
    order = created["data"]
    assert {k: v for k, v in order.items() if k not in ("createdAt", "updatedAt")} == {
        "id": order["id"], "accountId": account["id"], "price": 199.9, "currency": "RUB",
        "paymentMethod": "YANDEX_MONEY", "status": "NEW"}
    assert (await call(client, "GET", f"/api/v1/orders/{order['id']}"))["data"] == order
    changed = (await call(client, "PATCH", f"/api/v1/orders/{order['id']}", json={"status": "SUCCESS"}))["data"]
    assert changed["status"] == "SUCCESS" and changed["updatedAt"] >= order["updatedAt"]
    await call(client, "PATCH", f"/api/v1/orders/{order['id']}", json={"status": "SUCCESS"})  # no change, no event
    assert await events_of(client, account["id"]) == [f"Order {order['id']} created: 199.9 RUB, NEW",
                                                      f"Order {order['id']}: NEW -> SUCCESS"]
    listed = await call(client, "GET", f"/api/v1/accounts/{account['id']}/orders?limit=1")
    assert listed["meta"] == {"limit": 1, "offset": 0, "filteredCount": 1, "totalCount": 1}
    assert listed["data"] == [changed]


async def test_order_errors(client):
    account = await new_account(client)
    good = {"accountId": account["id"], "price": "1.00", "currency": "UAH", "paymentMethod": "CARD"}
    assert (await call(client, "POST", "/api/v1/orders", 404, json={**good, "accountId": "999"}))["error"] == (
        "Account 999 not found.")
    for field, value in (("price", -1), ("price", "1e3"), ("price", True), ("currency", "RUBLES"),
                         ("status", "DONE"), ("accountId", "abc"), ("accountId", 12)):
        refused = await call(client, "POST", "/api/v1/orders", 400, json={**good, field: value})
        assert list(refused["errors"]) == [field], (field, value)
    order = (await call(client, "POST", "/api/v1/orders", 201, json=good))["data"]
    assert order["price"] == 1
    assert list((await call(client, "PATCH", f"/api/v1/orders/{order['id']}", 400, json={}))["errors"]) == ["status"]
    assert (await call(client, "GET", "/api/v1/orders/999", 404))["error"] == "Order 999 not found."
    await call(client, "GET", "/api/v1/orders/x", 404)
    await call(client, "PATCH", "/api/v1/orders/999", 404, json={"status": "NEW"})


async def test_orders_move_to_another_contact(db):
    one = await contacts.create(db, name="One")
    other = await contacts.create(db, name="Other")
    order = await orders.create(db, one, price="5", currency="EUR", payment_method="CARD")
    assert await orders.move(db, one, other) == 1
    assert (await orders.get(db, order))["contact_id"] == other
    assert await orders.count_of_contact(db, one) == 0


# -- users ---------------------------------------------------------------------------------------


async def test_platform_users_are_created_listed_and_read(client):
    robert = (await call(client, "POST", "/api/v1/users", 201, json={"name": "Robert", "email": "Rob@Example.com"}))
    user = robert["data"]
    assert (user["name"], user["email"]) == ("Robert", "rob@example.com")
    assert TIME.match(user["createdAt"]) and TIME.match(user["updatedAt"])
    anna = (await call(client, "POST", "/api/v1/users", 201, data={"name": "Anna"}))["data"]
    listed = await call(client, "GET", "/api/v1/users?limit=1")
    assert listed["data"] == [anna] and listed["meta"]["totalCount"] == 2
    assert (await call(client, "GET", f"/api/v1/users/{user['id']}"))["data"] == user
    assert (await call(client, "GET", "/api/v1/users/999", 404))["error"] == "User 999 not found."
    assert list((await call(client, "POST", "/api/v1/users", 400, json={"email": "x@y.z"}))["errors"]) == ["name"]


# -- auth ----------------------------------------------------------------------------------------


def concrete(path: str) -> str:
    return path.replace("{slash:/?}", "").replace("{id}", "1")


@pytest.mark.parametrize("route", FAMILY.routes, ids=lambda r: f"{r.method} {concrete(r.path)}")
async def test_every_crm_route_is_a_401_without_credentials(client, route):
    for headers in ({}, {"X-Leeloo-AuthToken": "wrong"}, {"Authorization": "Bearer x"}):
        response = await client.request(route.method, concrete(route.path), json={}, headers=headers)
        assert response.status == 401, (route.method, route.path, headers)
        body = await response.json()
        assert body["status"] == 0 and body["error"]
    response = await client.request(route.method, concrete(route.path), json={}, headers=TOKEN)
    assert response.status != 401


# -- the document ----------------------------------------------------------------------------------


async def test_live_crm_answers_match_the_documented_schemas(client):
    from tests.test_openapi import Checker

    check = Checker(client)
    await check("GET", "/api/v1/accounts", 401)
    account = await check("POST", "/api/v1/accounts", 201, json={
        "name": "Kurt Bowie", "tags": ["tag3"], "from": "FACEBOOK", "phone": "+7 977 405-33-29", "gender": "FEMALE",
        "locale": "en_US", "subscribeHistory": [{"tunnelName": "T", "leadgentoolName": "L", "trafficSource": "S"}]},
        headers=LEELOO)
    one = {"id": account["data"]["id"]}
    await check("POST", "/api/v1/accounts", 201, data={"name": "Form", "tags": "a,b"}, headers=LEELOO)
    await check("POST", "/api/v1/accounts", 409, json={"name": "x", "phone": "79774053329"}, headers=LEELOO)
    await check("POST", "/api/v1/accounts", 400, json={"name": ""}, headers=LEELOO)
    await check("POST", "/api/v1/accounts", 415, data=b"x", headers={**LEELOO, "Content-Type": "text/plain"})
    await check("GET", "/api/v1/accounts", 200, query={"filter[tags]": "tag3,a", "q": "o", "limit": "1"}, headers=LEELOO)
    await check("GET", "/api/v1/accounts", 400, query={"limit": "0"}, headers=LEELOO)
    user = await check("POST", "/api/v1/users", 201, json={"name": "Robert", "email": "r@example.com"}, headers=LEELOO)
    await messages.enqueue(client.app[DB], "facebook", int(one["id"]), body="Hi",
                           sender=platform_users.sender_of(int(user["data"]["id"])))
    order = await check("POST", "/api/v1/orders", 201, json={
        "accountId": one["id"], "price": "199.90", "currency": "RUB", "paymentMethod": "YANDEX_MONEY"}, headers=LEELOO)
    await check("POST", "/api/v1/orders", 404, json={
        "accountId": "999", "price": 1, "currency": "RUB", "paymentMethod": "X"}, headers=LEELOO)
    await check("GET", "/api/v1/accounts/{id}", 200, one, query={"include": "contactedUsers,orders"}, headers=LEELOO)
    await check("GET", "/api/v1/accounts/{id}", 400, one, query={"include": "x"}, headers=LEELOO)
    await check("GET", "/api/v1/accounts/{id}", 404, {"id": "abc"}, headers=LEELOO)
    await check("PATCH", "/api/v1/accounts/{id}", 200, one, json={"botStatus": "ADMIN"}, headers=LEELOO)
    await check("POST", "/api/v1/accounts/{id}/add-tag", 200, one, json={"tag": "vip"}, headers=LEELOO)
    await check("POST", "/api/v1/accounts/{id}/remove-tag", 200, one, data={"tags": "vip"}, headers=LEELOO)
    await check("POST", "/api/v1/accounts/{id}/remove-tag", 400, one, json={}, headers=LEELOO)
    await check("GET", "/api/v1/accounts/{id}/orders", 200, one, headers=LEELOO)
    await check("GET", "/api/v1/orders/{id}", 200, {"id": order["data"]["id"]}, headers=LEELOO)
    await check("PATCH", "/api/v1/orders/{id}", 200, {"id": order["data"]["id"]}, json={"status": "SUCCESS"},
                headers=LEELOO)
    await check("PATCH", "/api/v1/orders/{id}", 404, {"id": "999"}, json={"status": "SUCCESS"}, headers=LEELOO)
    await check("GET", "/api/v1/users", 200, headers=LEELOO)
    await check("GET", "/api/v1/users/{id}", 200, {"id": user["data"]["id"]}, headers=LEELOO)
    await check("GET", "/api/v1/users/{id}", 404, {"id": "999"}, headers=LEELOO)

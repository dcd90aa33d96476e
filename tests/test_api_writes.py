"""Every API write goes through group commit (storage/group_commit.py): writes of every family that
arrive together share transactions, and each request still gets its own answer, its own domain
error included (a taken phone, an address under another passport, an unknown subscription)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

from server.keys import DB
from tests.conftest import AUTH

API = "/email_subscription/v1.0"
QKEY = "c213_c239_2030-05-02_None_economy_1_0_0_ru"
MAILING = {"datetime_start": "2030-01-01T10:00:00", "datetime_end": "2030-01-02T10:00:00", "message_text": "hi"}


async def test_writes_of_every_family_share_transactions_and_keep_their_own_answers(client):
    clients = [(await (await client.post("/Clients/", json={"phone_number": f"7900000{n:04d}"}, headers=AUTH)).json())
               for n in range(11)]
    subscribers = []
    for n in range(10):
        response = await client.get(f"{API}/subscribe", headers=AUTH,
                                    params={"email": f"s{n}@example.com", "passportuid": str(n), "qkey": QKEY})
        subscribers.append((await response.json())["data"]["id"])
    group = client.app[DB]._group
    groups, writes = group.groups, group.writes

    requests = []
    for n, existing in enumerate(clients[:10]):  # the last one asks for the phone of one left alone
        phone = clients[10]["phone_number"] if n == 9 else f"7911000{n:04d}"
        requests.append(client.put(f"/Clients/{existing['id']}/", json={"phone_number": phone, "tag": "x"},
                                   headers=AUTH))
    requests += [client.post("/Mailing/", json={**MAILING, "message_text": f"hi {n}"}, headers=AUTH)
                 for n in range(10)]
    requests += [client.get(f"{API}/subscribe", headers=AUTH, params={  # the last: s0's address, another passport
        "email": f"s{0 if n == 9 else n}@example.com", "passportuid": str(100 + n if n == 9 else n),
        "qkey": QKEY.replace("2030-05-02", f"2030-06-{n + 1:02d}")}) for n in range(10)]
    requests += [client.post(f"{API}/confirm", data={"id": subscriber_id, "p": hashlib.sha256(str(n).encode()).hexdigest()})
                 for n, subscriber_id in enumerate(subscribers)]
    requests += [client.get(f"{API}/unsubscribe/by_direction", params={  # the last: a qkey it never had
        "id": subscriber_id, "qkey": QKEY if n < 9 else QKEY.replace("c239", "c240")})
        for n, subscriber_id in enumerate(subscribers)]
    answers = await asyncio.gather(*requests)

    by_kind = [Counter(answer.status for answer in answers[k:k + 10]) for k in range(0, 50, 10)]
    assert by_kind == [Counter({200: 9, 400: 1}), Counter({201: 10}), Counter({200: 9, 409: 1}),
                       Counter({200: 10}), Counter({200: 9, 404: 1})]
    assert await answers[9].json() == {"phone_number": ["client with this phone_number already exists."]}
    assert (await answers[29].json())["status"] == "error"
    assert [(await answer.json())["phone_number"] for answer in answers[:9]] == [f"7911000{n:04d}" for n in range(9)]
    assert len({(await answer.json())["id"] for answer in answers[10:20]}) == 10

    assert group.writes - writes >= 50  # every request's write went through group commit...
    assert group.groups - groups < group.writes - writes  # ...and some shared a transaction
    db = client.app[DB]
    assert await db.fetch_value("SELECT count(*) FROM mailings") == 10
    assert await db.fetch_value("SELECT count(*) FROM subscribers WHERE confirmed_at IS NOT NULL") == 10
    assert await db.fetch_value("SELECT count(*) FROM subscriptions WHERE unsubscribed_at IS NOT NULL") == 9

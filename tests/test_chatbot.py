"""/chatbot/ (seed 000): the seed's templates and mailing examples replayed, templates never given
twice (one call after another and 20 at once, on the real app and its SQLite file), the least
given first, placeholders, the directory and the log, and every error in the family's envelope."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from server.keys import DB
from storage import chat, contacts, messages
from storage.sql import Q
from tests.conftest import AUTH

INNA = {"id_user": 1671492, "name": "Inna"}
JACK = {  # the seed's man, as the site sends him
    "id": 7506505, "id_user": 7506505, "name": "jack", "age": 19, "country": "Russia", "city": "",
    "gender": "male", "occupation": "", "description": "", "looking_for": "",
    "avatar_xxs": "//gstatvb.com/img/defaults/avatar/dc5a01.png",
    "avatar_large": "//gstatvb.com/img/defaults/avatar/c788bb.png", "audioEnabled": 1, "count_photos": 1,
    "count_videos": "0", "credits_premium": 0, "credits_free": 0, "is_online": False, "is_premium": False,
    "id_partner": "tf_top1_desk", "can_receive_gift": 0, "imbra_verification": 0, "mirrorName": "VictoriaBrides",
    "mirrorCodes": "vb", "last_visit": "2017-12-03 13:31:22",
}


async def post(client, path: str, body, auth: bool = True) -> tuple[int, dict]:
    response = await client.post(f"/chatbot/{path}/", json=body, headers=AUTH if auth else {})
    return response.status, await response.json()


async def add(client, texts: list[str], profile: dict = INNA) -> int:
    status, body = await post(client, "templates", {"templates": texts, "profile": profile})
    assert status == 200, body
    return body["received"]


def man(id_user: int, **fields) -> dict:
    return {"id": id_user, "id_user": id_user, "name": f"man{id_user}", **fields}


async def mail(client, men: list[dict], female_id: int = INNA["id_user"]) -> dict:
    status, body = await post(client, "mailing", {"data": {"users": men, "count": len(men), "female_id": female_id}})
    assert status == 200, body
    return body


async def test_the_seeds_templates_example_counts_only_new_ones(client):
    assert await add(client, ["helolo"]) == 1
    assert await add(client, ["helolo", "hello2"]) == 1  # the seed's example: one of two was known
    assert await add(client, ["helolo", "hello2"]) == 0
    db = client.app[DB]
    inna = await contacts.get(db, await contacts.find_id_by_external_id(db, "victoriabrides", "1671492"))
    assert (inna["name"], inna["source"], inna["external_ids"]) == ("Inna", "VICTORIABRIDES",
                                                                    {"victoriabrides": "1671492"})


async def test_the_seeds_mailing_example_answers_in_its_shape_and_logs_the_choice(client):
    await add(client, ["Hi {name} from {city}{country}, {age}! {unknown}"])
    body = await mail(client, [JACK])
    assert body == {"result": True, "received": 0, "data": {"7506505": "Hi jack from Russia, 19! {unknown}"}}
    db = client.app[DB]
    jack_id = await contacts.find_id_by_external_id(db, "victoriabrides", "7506505")
    jack = await contacts.get(db, jack_id)
    assert jack["source"] == "VICTORIABRIDES" and jack["name"] == "jack"
    assert jack["attributes"] == {"name": "jack", "age": 19, "gender": "male", "country": "Russia", "city": "",
                                  "avatar": "//gstatvb.com/img/defaults/avatar/c788bb.png", "is_premium": False,
                                  "last_visit": "2017-12-03 13:31:22", "mirrorName": "VictoriaBrides"}
    [logged] = await messages.history(db, jack_id)
    inna_id = await contacts.find_id_by_external_id(db, "victoriabrides", "1671492")
    assert (logged["channel"], logged["status"], logged["sender"], logged["body"]) == (
        "chat", "pending", chat.sender_of(inna_id), "Hi jack from Russia, 19! {unknown}")


async def test_a_man_gets_each_template_once_least_given_first_then_is_left_out(client):
    await add(client, ["a", "b", "c"])
    assert (await mail(client, [man(1)]))["data"] == {"1": "a"}
    assert (await mail(client, [man(2)]))["data"] == {"2": "b"}  # a was given once, b never
    # c was never given: man 1 gets it; then a, b and c were given once each: the oldest, a
    assert (await mail(client, [man(1), man(2)]))["data"] == {"1": "c", "2": "a"}
    assert (await mail(client, [man(1), man(3)]))["data"] == {"1": "b", "3": "c"}
    body = await mail(client, [man(1), man(2), man(3)])  # man 1 has had all three
    assert body == {"result": True, "received": 1, "data": {"2": "c", "3": "a"}}


async def test_what_a_man_holds_of_one_profile_leaves_another_profiles_templates_free(client):
    olga = {"id_user": 1671493, "name": "Olga"}
    await add(client, ["a", "b"])
    await add(client, ["a", "c"], profile=olga)  # the same text is her own template
    assert (await mail(client, [man(1)]))["data"] == {"1": "a"}
    assert (await mail(client, [man(1)]))["data"] == {"1": "b"}
    assert (await mail(client, [man(1)]))["data"] == {}
    assert (await mail(client, [man(1)], female_id=olga["id_user"]))["data"] == {"1": "a"}
    assert (await mail(client, [man(1)], female_id=olga["id_user"]))["data"] == {"1": "c"}
    assert (await mail(client, [man(1), man(2)], female_id=olga["id_user"]))["data"] == {"2": "a"}
    # What a man holds is read from the index alone, not from his messages' rows.
    db = client.app[DB]
    plan = await db.fetch_all("EXPLAIN QUERY PLAN " + Q.chat_templates_of_contacts, {"contacts": "[1, 2]"})
    assert any("USING COVERING INDEX messages_contact (contact_id=?" in row["detail"] for row in plan), \
        [row["detail"] for row in plan]


async def test_a_thousand_men_exhaust_fifty_templates_over_many_calls_without_a_repeat(client):
    await add(client, [f"t{n}" for n in range(50)])
    men = [man(n) for n in range(1, 1001)]
    got: dict[str, list[str]] = {str(m["id_user"]): [] for m in men}
    call = 0
    while any(len(texts) < 50 for texts in got.values()):
        batch = [m for n, m in enumerate(men) if n // 100 != call % 10]  # 900 men, another 100 left aside each time
        had_all = {str(m["id_user"]) for m in batch if len(got[str(m["id_user"])]) == 50}
        body = await mail(client, batch)
        assert set(body["data"]) == {str(m["id_user"]) for m in batch} - had_all  # the right men left out
        assert body["received"] == len(had_all)
        for id_user, text in body["data"].items():
            got[id_user].append(text)
        call += 1
        assert call < 70
    assert all(sorted(texts) == sorted(f"t{n}" for n in range(50)) for texts in got.values())  # each once
    assert await mail(client, men) == {"result": True, "received": 1000, "data": {}}


async def test_twenty_concurrent_calls_over_overlapping_men_never_repeat_a_template(client):
    await add(client, [f"t{n}" for n in range(50)])
    batches = [range(1 + 50 * i, 501 + 50 * i) for i in range(20)]  # 500 men each; a man is in up to 10
    answers = await asyncio.gather(*(mail(client, [man(n) for n in batch]) for batch in batches))
    per_man = Counter()
    pairs = Counter()
    for body in answers:
        assert body["received"] == 0
        for id_user, text in body["data"].items():
            pairs[(id_user, text)] += 1
            per_man[id_user] += 1
    assert pairs and max(pairs.values()) == 1
    assert per_man == Counter({str(n): sum(n in batch for batch in batches) for batch in batches for n in batch})
    db = client.app[DB]
    keys = await db.fetch_all("SELECT dedupe_key FROM messages WHERE channel = 'chat'")
    assert len(keys) == sum(per_man.values()) == len({row[0] for row in keys})


async def test_errors_are_in_the_familys_envelope(client):
    status, body = await post(client, "templates", {"templates": ["x"], "profile": INNA}, auth=False)
    assert status == 403 and body["result"] is False and body["error"]
    status, body = await post(client, "mailing", {"data": {"users": [], "female_id": 1}}, auth=False)
    assert status == 403 and body["result"] is False
    for texts, why in ([" "], "blank"), (["x" * 4001], "4000"), (["x"] * 1001, "1000"):
        status, body = await post(client, "templates", {"templates": texts, "profile": INNA})
        assert status == 400 and body["result"] is False and why in body["error"], body
        assert "templates" in "".join(body["errors"]), body
    assert await add(client, ["x" * 4000]) == 1
    status, body = await post(client, "templates", {"templates": ["x"], "profile": {"id_user": "12"}})
    assert status == 400 and "profile.id_user" in body["errors"]
    status, body = await post(client, "mailing", {"data": {"users": [man(1)], "female_id": 99}})
    assert status == 400 and body["errors"] == {"data.female_id": ["Profile 99 has no templates."]}
    assert "data.female_id" in body["error"]
    status, body = await post(client, "mailing", {"data": {"users": [man(1)] * 10_001, "female_id": 1671492}})
    assert status == 400 and "data.users" in body["errors"], body


@pytest.mark.parametrize("path", ["templates", "mailing"])
async def test_a_wrong_token_is_a_403(client, path):
    response = await client.post(f"/chatbot/{path}/", json={}, headers={"Authorization": "Token nope"})
    assert response.status == 403 and (await response.json())["error"] == "Invalid token."
    assert "WWW-Authenticate" not in response.headers


def report_of(man_id: int, text: str, site_id: int, kind: str = "success", errors: list | None = None) -> dict:
    """The seed's report, about `text` sent by Inna to `man_id`."""
    return {"data": {"type": kind, "details": {
        "message": {"id_user_to": man_id, "id_user_from": INNA["id_user"], "type": "message", "time": 1502092476,
                    "content": json.dumps({"id": 0, "message": text}), "id": site_id,
                    "date_created": "2017-08-07 07:54:36", "target": man_id, "id_dialog": 384440529,
                    "status": "unread"},
        "profiles": {str(man_id): man(man_id, age=29, city="Kharkiv"), "1671492": {**INNA, "age": 30}}},
        "pixel": "javascript:void(0);", "errors": errors or []}}


async def logged(client, id_user: int) -> list[dict]:
    db = client.app[DB]
    return await messages.history(db, await contacts.find_id_by_external_id(db, "victoriabrides", str(id_user)))


async def test_a_success_report_marks_the_message_sent_once(client):
    await add(client, ["a", "b"])
    await mail(client, [man(682)])
    status, body = await post(client, "report", report_of(682, "a", 741255531))
    assert (status, body) == (200, {"result": True, "status": "sent"})
    [message] = await logged(client, 682)
    assert (message["status"], message["sent_at"]) == ("sent", "2017-08-07T07:54:36.000Z")
    assert json.loads(message["payload"])["site_message_id"] == 741255531
    updated = message["updated_at"]
    assert await post(client, "report", report_of(682, "a", 741255531)) == (200, {"result": True, "status": "sent"})
    assert (await logged(client, 682))[0]["updated_at"] == updated  # the repeat changed nothing
    db = client.app[DB]
    man682 = await contacts.get(db, await contacts.find_id_by_external_id(db, "victoriabrides", "682"))
    assert man682["attributes"]["city"] == "Kharkiv"  # the report's profiles are upserted
    assert (await mail(client, [man(682)]))["data"] == {"682": "b"}  # a sent template stays his


async def test_an_error_report_fails_the_message_and_frees_its_template(client):
    await add(client, ["a"])
    await mail(client, [man(682)])
    assert (await mail(client, [man(682)]))["received"] == 1
    status, body = await post(client, "report", report_of(682, "a", 5, "error", ["blocked"]))
    assert (status, body) == (200, {"result": True, "status": "failed"})
    [message] = await logged(client, 682)
    assert (message["status"], message["last_error"]) == ("failed", '["blocked"]')
    assert await post(client, "report", report_of(682, "a", 5, "error")) == (200, {"result": True, "status": "failed"})
    assert (await mail(client, [man(682)]))["data"] == {"682": "a"}  # free for him again
    assert [m["status"] for m in await logged(client, 682)] == ["pending", "failed"]


async def test_a_report_that_matches_no_pending_message_is_a_404(client):
    await add(client, ["a"])
    await mail(client, [man(682)])
    for body in (report_of(682, "not sent", 1), report_of(999, "a", 2)):
        status, answer = await post(client, "report", body)
        assert status == 404 and answer["result"] is False and "No pending message" in answer["error"]
    assert [m["status"] for m in await logged(client, 682)] == ["pending"]
    status, answer = await post(client, "report", {"data": {"type": "maybe"}})
    assert status == 400 and set(answer["errors"]) == {"data.type", "data.details"}
    bad = report_of(682, "a", 3)
    bad["data"]["details"]["message"]["content"] = "a"
    status, answer = await post(client, "report", bad)
    assert status == 400 and "data.details.message.content" in answer["errors"]
    assert (await post(client, "report", report_of(682, "a", 3), auth=False))[0] == 403

"""The telephony gateway (seed 004) against a PBX emulator that checks every signature: each
endpoint forwarded with Mango's path and body from the seed's names and from Mango's, bad input
refused before it reaches the PBX, statistics in two steps, rate limits, the lockout, outages."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.app import create_app
from tests.conftest import AUTH
from tests.mango_emulator import MangoEmulator

KEY, SALT = "test-vpbx-key", "test-vpbx-salt"


@pytest.fixture
async def mango():
    emulator = MangoEmulator(KEY, SALT, rate_limits=False, error_window_seconds=5, lockout_seconds=0.6)
    await emulator.start()
    yield emulator
    await emulator.stop()


def telephony_settings(mango: MangoEmulator, **more) -> dict:
    return {"api_url": mango.vpbx_url, "cc_api_url": mango.cc_url, "api_key": KEY, "api_salt": SALT,
            "rate_limits": False, "stats_poll_seconds": 0.01, "timeout_seconds": 2, "lockout_seconds": 0.6, **more}


@pytest.fixture
async def pbx_client(aiohttp_client, make_settings, mango):
    client = await aiohttp_client(create_app(make_settings(telephony=telephony_settings(mango))))
    mango.webhook_base = str(client.make_url("/mango/"))
    return client


# (our path, method, the seed's names, Mango's names, Mango's path, the body Mango must get)
FORWARDS = [
    ("/send_sms", "POST", {"number": "79001234567", "text": "Hi", "from_ext": "101", "command_id": "c1", "sender": "Shop"},
     {"to_number": "79001234567", "text": "Hi", "from_extension": "101", "command_id": "c1", "sms_sender": "Shop"},
     "vpbx/commands/sms",
     {"command_id": "c1", "text": "Hi", "from_extension": "101", "to_number": "79001234567", "sms_sender": "Shop"}),
    ("/callback", "POST", {"from_ext": "101", "to_num": "79001234567", "command_id": "c2", "line": "74950000000"},
     {"from": {"extension": "101"}, "to_number": "79001234567", "command_id": "c2", "line_number": "74950000000"},
     "vpbx/commands/callback",
     {"command_id": "c2", "from": {"extension": "101"}, "to_number": "79001234567", "line_number": "74950000000"}),
    ("/group_callback", "POST", {"from_ext": "101", "to_num": "79001234567", "command_id": "c3", "line": "74950000000"},
     {"from": "101", "to": "79001234567", "command_id": "c3", "line_number": "74950000000"},
     "vpbx/commands/callback_group",
     {"command_id": "c3", "from": "101", "to": "79001234567", "line_number": "74950000000"}),
    ("/end_call", "POST", {"call_id": "MTox", "command_id": "c4"}, {"call_id": "MTox", "command_id": "c4"},
     "vpbx/commands/call/hangup", {"command_id": "c4", "call_id": "MTox"}),
    ("/start_record", "POST", {"call_id": "MTox", "call_party_number": "101", "command_id": "c5"},
     {"call_id": "MTox", "call_party_number": "101", "command_id": "c5"},
     "vpbx/commands/recording/start", {"command_id": "c5", "call_id": "MTox", "call_party_number": "101"}),
    ("/start_play", "POST", {"call_id": "MTox", "internal_id": 7, "command_id": "c6", "after_play_time": 3},
     {"call_id": "MTox", "internal_id": "7", "command_id": "c6", "after_play_time": "3"},
     "vpbx/commands/play/start", {"command_id": "c6", "call_id": "MTox", "internal_id": 7, "after_play_time": 3}),
    ("/route_call", "POST", {"call_id": "MTox", "to_number": "102", "command_id": "c7"},
     {"call_id": "MTox", "to_number": "102", "command_id": "c7"},
     "vpbx/commands/route", {"command_id": "c7", "call_id": "MTox", "to_number": "102"}),
    ("/transfer_call", "POST", {"call_id": "MTox", "to_number": "102", "method": "hold", "initiator": "101", "command_id": "c8"},
     {"call_id": "MTox", "to_number": "102", "method": "hold", "initiator": "101", "command_id": "c8"},
     "vpbx/commands/transfer", {"command_id": "c8", "call_id": "MTox", "to_number": "102", "method": "hold",
                                "initiator": "101"}),
    ("/get_dct_user_info", "POST", {"number": "74951234567"}, {"number": "74951234567"},
     "vpbx/queries/user_info_by_dct_number", {"number": "74951234567"}),
    ("/get_dct_user_history", "POST", {"number": "74951234567"}, {"number": "74951234567"},
     "vpbx/queries/user_history_by_dct_number", {"number": "74951234567"}),
    ("/user_list", "POST", {"extension": "101", "ext_fields": "groups"}, {"extension": "101", "ext_fields": ["groups"]},
     "vpbx/config/users/request", {"extension": "101", "ext_fields": ["groups"]}),
    ("/group_list", "POST", {"group_id": "5", "show_users": "1"}, {"group_id": 5, "show_users": 1},
     "vpbx/groups", {"group_id": 5, "show_users": 1}),
    ("/balance", "POST", {}, {"anything": "ignored"}, "vpbx/account/balance", {}),
    ("/lines", "POST", {}, {}, "vpbx/incominglines", {}),
    ("/audio", "POST", {}, {}, "vpbx/audiofiles", {}),
    ("/set_schema", "POST", {"schema": "3", "line": "9"}, {"schema_id": 3, "line_id": 9},
     "vpbx/schema/set", {"schema_id": 3, "line_id": 9}),
    ("/get_ext_field", "POST", {"ext_fields": "trunks_numbers"}, {"ext_fields": ["trunks_numbers"]},
     "vpbx/schemas", {"ext_fields": ["trunks_numbers"]}),
    ("/roles", "POST", {}, {}, "vpbx/roles", {}),
    ("/sips_list", "POST", {}, {}, "vpbx/sips", {}),
    ("/domains_list", "POST", {}, {}, "vpbx/domains", {}),
    ("/trunk_num_list", "POST", {}, {}, "vpbx/trunks/numbers", {}),
    ("/bwlist_state", "POST", {}, {}, "vpbx/bwlists/state", {}),
    ("/bwlist_nums", "POST", {}, {}, "vpbx/bwlists/numbers", {}),
    ("/add_bwlist", "POST", {"number": "79001234567", "list_type": "black", "num_type": "tel", "comment": "spam"},
     {"number": "79001234567", "list_type": "black", "number_type": "tel", "comment": "spam"},
     "vpbx/bwlists/number/add", {"number": "79001234567", "list_type": "black", "number_type": "tel", "comment": "spam"}),
    ("/delete_bwlist", "DELETE", {"num_id": "12"}, {"number_id": 12}, "vpbx/bwlists/number/delete", {"number_id": 12}),
    ("/campaign_info", "POST", {"campaign_id": "4"}, {"campaign_id": 4, "need_tasks": True},
     "vpbx/campaign", None),
    ("/ab_contact_init", "POST", {"query": "", "limit_rows": "20"}, {"query": "", "limit_rows": 20, "order": [{"name": "asc"}]},
     "vpbx/ab/contact/init", None),
    ("/cc_deal_list", "POST", {"status": "in_work", "members_ids": "[1, 2]", "from_date": "2026-01-01"},
     {"status": "in_work", "abonent_ids": [1, 2], "from_date": "2026-01-01"},
     "cc/deal/list", {"status": "in_work", "abonent_ids": [1, 2], "from_date": "2026-01-01"}),
    ("/cc_deal_funnels_list", "POST", {"product_id": "2"}, {"product_id": 2}, "cc/deal/funnels.list", {"product_id": 2}),
]


def request_kwargs(method: str, body: dict, as_form: bool) -> dict:
    if as_form:
        return {"data": {name: value if isinstance(value, str) else json.dumps(value) for name, value in body.items()}}
    return {"json": body}


@pytest.mark.parametrize("names", ["seed", "mango"])
async def test_every_endpoint_is_forwarded_to_its_mango_path_with_mangos_names(pbx_client, mango, names):
    for index, (path, method, seed_body, mango_body, mango_path, expected) in enumerate(FORWARDS):
        body = dict(seed_body if names == "seed" else mango_body)
        if "command_id" in body:
            body["command_id"] += names
        before = len(mango.forwarded())
        response = await pbx_client.request(method, path, headers=AUTH, **request_kwargs(method, body, index % 2 == 0))
        answer = await response.json()
        assert response.status == 200, (path, answer)
        sent = mango.forwarded()[before:]
        assert [request.path for request in sent] == [mango_path], path
        assert sent[0].result in (None, 1000), (path, sent[0].result)
        if expected is not None:
            if "command_id" in expected:
                expected = {**expected, "command_id": expected["command_id"] + names}
            assert sent[0].body == expected, path
    assert mango.errors_3xxx == 0


async def test_a_command_without_a_command_id_gets_one_and_is_stored_with_mangos_answer(pbx_client, mango):
    response = await pbx_client.post("/end_call", json={"call_id": "MToxMjM"}, headers=AUTH)
    assert response.status == 200 and (await response.json())["result"] == 1000
    command_id = response.headers["X-Command-Id"]
    assert command_id.startswith("herald-") and mango.forwarded()[-1].body["command_id"] == command_id
    await mango.drain_webhooks()
    stored = await (await pbx_client.get(f"/telephony/commands/{command_id}", headers=AUTH)).json()
    assert stored["endpoint"] == "/end_call" and stored["mango_path"] == "commands/call/hangup"
    assert stored["request"] == {"command_id": command_id, "call_id": "MToxMjM"}
    assert stored["answer_status"] == 200 and json.loads(stored["answer"]) == {"result": 1000}
    assert stored["result"] == 1000 and stored["outcome"] == {"command_id": command_id, "result": 1000}
    assert [hook["kind"] for hook in stored["webhooks"]] == ["result/call/hangup"]
    assert "key" not in json.dumps(stored).lower().replace("api_key", "")  # no secret kept
    assert KEY not in json.dumps(stored) and SALT not in json.dumps(stored)

    again = await pbx_client.post("/end_call", json={"call_id": "x", "command_id": command_id}, headers=AUTH)
    assert again.status == 409 and list((await again.json())["errors"]) == ["command_id"]
    missing = await pbx_client.get("/telephony/commands/nope", headers=AUTH)
    assert missing.status == 404 and "nope" in (await missing.json())["detail"]


BAD = [
    ("/send_sms", {"text": "Hi", "from_ext": "101"}, "to_number"),
    ("/send_sms", {"number": "79001234567", "from_ext": "101"}, "text"),
    ("/send_sms", {"number": "79001234567", "text": "Hi"}, "from_extension"),
    ("/send_sms", {"number": "not a number", "text": "Hi", "from_ext": "101"}, "number"),  # named as sent
    ("/send_sms", {"number": "79001234567", "text": "Я" * 269, "from_ext": "101"}, "text"),
    ("/send_sms", {"number": "79001234567", "text": "a" * 613, "from_ext": "101"}, "text"),
    ("/send_sms", {"number": "79001234567", "text": "Hi", "from_ext": "101", "command_id": "x" * 129}, "command_id"),
    ("/callback", {"to_num": "79001234567"}, "from"),
    ("/callback", {"from_ext": "101", "to_num": "79001234567", "sip_head": {"X-A": "v" * 65}}, "sip_head"),
    ("/group_callback", {"from_ext": "101", "to_num": "79001234567"}, "line_number"),
    ("/end_call", {}, "call_id"),
    ("/start_record", {"call_id": "c"}, "call_party_number"),
    ("/start_play", {"call_id": "c", "internal_id": "x"}, "internal_id"),
    ("/route_call", {"call_id": "c", "to_number": "1" * 129}, "to_number"),
    ("/transfer_call", {"call_id": "c", "to_number": "102", "method": "cold", "initiator": "101"}, "method"),
    ("/get_stats_to", {"date_from": 1700000000, "date_to": 1700003600}, "to"),
    ("/get_stats_to", {"date_from": 1700003600, "date_to": 1700000000, "to_ext": "101"}, "date_from"),
    ("/get_stats_from", {"date_from": 1700000000, "date_to": 1700000000 + 32 * 86400, "from_ext": "101"}, "date_to"),
    ("/get_stats_call_party", {"date_from": "yesterday", "date_to": 1700000000, "call_party_ext": "101"}, "date_from"),
    ("/get_stats_to", {"date_from": 1700000000, "date_to": 1700003600, "to_ext": "101", "fields": "start,colour"}, "fields"),
    ("/get_stats_to", {"date_from": 1700000000, "date_to": 1700003600, "to_ext": "101", "request_id": "r" * 129},
     "request_id"),
    ("/get_dct_user_info", {}, "number"),
    ("/group_list", {"show_users": "2"}, "show_users"),
    ("/set_schema", {"schema": "3"}, "line_id"),
    ("/add_bwlist", {"number": "79001234567", "list_type": "grey", "num_type": "tel"}, "list_type"),
    ("/add_bwlist", {"number": "79001234567", "list_type": "black", "num_type": "fax"}, "num_type"),  # named as sent
    ("/add_bwlist", {"number": "79001234567", "list_type": "black", "num_type": "tel", "comment": "c" * 256}, "comment"),
    ("/delete_bwlist", {}, "number_id"),
    ("/campaign_info", {"campaign_id": "four"}, "campaign_id"),
    ("/ab_contact_init", {"query": "", "limit_rows": 501}, "limit_rows"),
    ("/ab_contact_init", {"limit_rows": 5}, "query"),
    ("/ab_contact_init", {"query": "", "order": [{"name": "up"}]}, "order.0"),
    ("/cc_deal_list", {"status": "lost"}, "status"),
    ("/cc_deal_list", {"status": "failed", "from_date": "2026-02-01", "until_date": "2026-01-01"}, "from_date"),
    ("/cc_deal_list", {"status": "failed", "from_date": "01.02.2026"}, "from_date"),
]


async def test_bad_input_is_a_400_naming_the_field_and_never_reaches_the_pbx(pbx_client, mango):
    for path, body, field in BAD:
        method = "DELETE" if path == "/delete_bwlist" else "POST"
        response = await pbx_client.request(method, path, json=body, headers=AUTH)
        answer = await response.json()
        assert response.status == 400, (path, body, answer)
        assert field in answer["errors"], (path, field, answer)
        assert answer["detail"], path
    assert mango.requests == []


async def test_without_a_token_every_gateway_route_is_a_401(pbx_client, mango):
    for path, method, seed_body, *_ in FORWARDS:
        response = await pbx_client.request(method, path, json=seed_body)
        assert response.status == 401, path
        assert "detail" in await response.json()
    for path in ("/telephony/calls", "/telephony/commands/x", "/telephony/calls/1"):
        assert (await pbx_client.get(path)).status == 401, path
    assert mango.requests == []


async def test_stats_are_asked_for_then_polled_until_ready_and_answered_in_the_asked_order(pbx_client, mango):
    mango.stats_polls_before_ready = 3
    mango.stats_calls = [{"records": ["rec1", "rec2"], "start": 1700000100, "answer": 1700000105, "to_number": "74951"},
                         {"records": [], "start": 1700000200, "answer": 0, "to_number": "74952"}]
    body = {"date_from": 1700000000, "date_to": 1700003600, "to_ext": "101", "fields": "to_number,records,start"}
    response = await pbx_client.post("/get_stats_to", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 200, answer
    assert answer["fields"] == ["to_number", "records", "start"]
    assert answer["records"] == [{"to_number": "74951", "records": ["rec1", "rec2"], "start": "1700000100"},
                                 {"to_number": "74952", "records": [], "start": "1700000200"}]
    paths = [request.path for request in mango.forwarded()]
    assert paths == ["vpbx/stats/request"] + ["vpbx/stats/result"] * 4
    assert mango.forwarded()[0].body == {"date_from": 1700000000, "date_to": 1700003600,
                                         "fields": "to_number,records,start", "to": {"extension": "101"}}

    mango.stats_polls_before_ready = 0
    response = await pbx_client.post("/get_stats_call_party", headers={**AUTH, "Accept": "text/csv"},
                                     data={"date_from": "1700000000", "date_to": "1700003600",
                                           "call_party_num": "74951234567", "fields": "start,answer"})
    assert response.status == 200 and response.content_type == "text/csv"
    assert (await response.text()).splitlines() == ["1700000100;1700000105", "1700000200;0"]


async def test_stats_that_never_get_ready_are_a_504(aiohttp_client, make_settings, mango):
    client = await aiohttp_client(create_app(make_settings(
        telephony=telephony_settings(mango, stats_poll_seconds=0.05, stats_timeout_seconds=0.3))))
    mango.stats_polls_before_ready = 1000
    response = await client.post("/get_stats_from", json={"date_from": 1700000000, "date_to": 1700003600,
                                                          "from_ext": "101"}, headers=AUTH)
    assert response.status == 504 and "not ready" in (await response.json())["detail"]
    assert 3 <= len(mango.forwarded("vpbx/stats/result")) <= 7


async def test_mangos_error_codes_are_answered_with_a_status_and_a_detail(pbx_client, mango):
    mango.answer("vpbx/account/balance", body={"result": 2240}, times=1)
    response = await pbx_client.post("/balance", headers=AUTH)
    assert response.status == 402
    assert await response.json() == {"result": 2240, "detail": "Billing refused the action: no funds left on the account."}
    mango.answer("vpbx/incominglines", body={"result": "4219"}, times=1)  # unknown, as a string: read by its class
    response = await pbx_client.post("/lines", headers=AUTH)
    assert response.status == 409 and (await response.json())["detail"] == "The action is not possible. (code 4219)"
    mango.answer("vpbx/roles", status=500, body="<html>oops</html>", times=1)
    response = await pbx_client.post("/roles", headers=AUTH)
    assert response.status == 502 and "HTTP 500" in (await response.json())["detail"]


async def test_a_lockout_stops_forwarding_with_a_503_until_it_has_passed(pbx_client, mango):
    for _ in range(2):  # two 3xxx answers in the window: Mango locks the account
        mango.answer("vpbx/account/balance", body={"result": 3100}, times=1)
        assert (await pbx_client.post("/balance", headers=AUTH)).status == 400
    response = await pbx_client.post("/balance", headers=AUTH)
    assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
    asked = len(mango.requests)
    for path in ("/balance", "/lines", "/roles"):
        response = await pbx_client.post(path, headers=AUTH)
        assert response.status == 503 and "locked" in (await response.json())["detail"]
    assert len(mango.requests) == asked  # nothing more reached Mango while it was locked
    await asyncio.sleep(0.7)
    assert (await pbx_client.post("/balance", headers=AUTH)).status == 200


async def test_herald_keeps_mangos_rate_limits_so_mango_never_answers_429(aiohttp_client, make_settings):
    mango = MangoEmulator(KEY, SALT, rate_limits=True)
    await mango.start()
    try:
        client = await aiohttp_client(create_app(make_settings(telephony={
            **telephony_settings(mango), "rate_limits": True, "rate_limit_wait_seconds": 2.5})))
        answers = await asyncio.gather(*[client.post("/end_call", json={"call_id": f"c{n}"}, headers=AUTH)
                                         for n in range(6)])  # hangup: 4/s
        assert [answer.status for answer in answers] == [200] * 6
        assert mango.rate_limited == 0
        first, *_, last = sorted(request.at for request in mango.forwarded())
        assert last - first >= 1.2  # six at 4/s take more than a second

        balances = [await client.post("/balance", headers=AUTH) for _ in range(2)]  # 2/s: the second waits
        assert [answer.status for answer in balances] == [200, 200]
        stats = {"date_from": 1700000000, "date_to": 1700003600, "to_ext": "101"}
        mango.stats_polls_before_ready = 0
        answers = await asyncio.gather(*[client.post("/get_stats_to", json=stats, headers=AUTH) for _ in range(2)])
        assert sorted(answer.status for answer in answers) == [200, 200]  # 1 per 2 s: the second waited
        third = await asyncio.gather(*[client.post("/get_stats_to", json=stats, headers=AUTH) for _ in range(2)])
        statuses = sorted(answer.status for answer in third)
        assert statuses == [200, 429] or statuses == [429, 429], statuses
        refused = next(answer for answer in third if answer.status == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        assert mango.rate_limited == 0
    finally:
        await mango.stop()


async def test_mango_unreachable_or_too_slow_is_a_502_or_a_504(pbx_client, mango):
    mango.delay = 3
    response = await pbx_client.post("/balance", headers=AUTH)
    assert response.status == 504 and "within 2 s" in (await response.json())["detail"]
    mango.delay = 0
    await mango.stop()
    response = await pbx_client.post("/balance", headers=AUTH)
    assert response.status == 502 and "unreachable" in (await response.json())["detail"]


async def test_unconfigured_telephony_says_so(client):
    response = await client.post("/balance", headers=AUTH)
    assert response.status == 503 and "telephony.api_key" in (await response.json())["detail"]

"""tests/mango_emulator.py against a plain aiohttp client: signatures, refusals, lockout, rate limits,
two-step stats, answer overrides, and the signed webhooks it sends back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.mango_emulator import LOCKED_BODY, RATE_LIMITED_BODY, MangoEmulator, call_event, sign

KEY, SALT = "test-vpbx-key", "test-vpbx-salt"
SMS = {"command_id": "sms-1", "text": "Привет", "from_extension": "101", "to_number": "79161234567"}
CALLBACK = {"command_id": "cb-1", "from": {"extension": "101"}, "to_number": "79161234567"}


def signed(payload: Any, *, key: str = KEY, salt: str = SALT) -> dict[str, str]:
    json_text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return {"vpbx_api_key": key, "sign": sign(key, json_text, salt), "json": json_text}


@pytest.fixture
async def mango():
    emulator = MangoEmulator(KEY, SALT, error_window_seconds=0.5, lockout_seconds=0.2)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, form: dict | None) -> tuple[int, Any]:
    async with http.post(url, data=form) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


class Herald:
    """A webhook receiver that checks Mango's signature the way Herald must."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []

    async def hook(self, http: web.Request) -> web.Response:
        form = await http.post()
        if form.get("vpbx_api_key") != KEY or form.get("sign") != sign(KEY, form.get("json", ""), SALT):
            return web.Response(status=403)
        self.received.append((http.match_info["event"], json.loads(form["json"])))
        return web.Response()


@pytest.fixture
async def herald(aiohttp_server, mango):
    receiver = Herald()
    app = web.Application()
    app.router.add_post("/mango/{event:.+}", receiver.hook)
    server = await aiohttp_server(app)
    mango.webhook_base = str(server.make_url("/mango/"))
    return receiver


async def test_a_signed_command_is_answered_1000_and_recorded(mango, http):
    form = signed(SMS)
    assert await post(http, mango.vpbx_url + "commands/sms", form) == (200, {"result": 1000})
    [request] = mango.forwarded("vpbx/commands/sms")
    assert (request.path, request.form, request.body, request.raw_json) == ("vpbx/commands/sms", form, SMS, form["json"])
    assert (request.valid_sign, request.status, request.result) == (True, 200, 1000)


async def test_a_path_is_accepted_with_a_trailing_slash_and_under_cc(mango, http):
    assert await post(http, mango.vpbx_url + "bwlists/state/", signed({})) == (200, {
        "result": 1000, "state": {"black": "on", "white": "off"}})
    status, body = await post(http, mango.cc_url + "deal/funnels.list", signed({}))
    assert (status, body["result"]) == (200, 1000)
    assert [request.path for request in mango.forwarded()] == ["vpbx/bwlists/state", "cc/deal/funnels.list"]


@pytest.mark.parametrize("form, code", [
    ({**signed(SMS), "sign": "0" * 64}, 3102),
    (signed(SMS, key="someone-else"), 3105),
    ({"vpbx_api_key": KEY, "sign": sign(KEY, "", SALT)}, 3103),
    ({"vpbx_api_key": KEY, "sign": sign(KEY, "{oops", SALT), "json": "{oops"}, 3400),
    (signed([SMS]), 3104),
])
async def test_a_request_the_pbx_cannot_trust_is_refused_with_its_code(mango, http, form, code):
    status, body = await post(http, mango.vpbx_url + "commands/sms", form)
    assert (status, body["result"]) == (200, code)
    assert mango.errors_3xxx == 1 and not mango.is_locked()


@pytest.mark.parametrize("path, payload, code", [
    ("commands/sms", {key: value for key, value in SMS.items() if key != "text"}, 3103),
    ("commands/callback", {**CALLBACK, "from": {"number": "79160000000"}}, 3103),
    ("commands/sms", {**SMS, "to_number": "call me"}, 3200),
    ("commands/sms", {**SMS, "command_id": "x" * 129}, 3104),
    ("commands/transfer", {"command_id": "t", "call_id": "c", "to_number": "102", "method": "warm",
                           "initiator": "101"}, 3104),
    ("stats/request", {"date_from": 1700000000, "date_to": 1700000000 + 32 * 86400}, 3111),
    ("ab/contact/init", {"query": "", "limit_rows": 501}, 3503),
    ("schema/set", {"schema_id": 10}, 3103),
])
async def test_a_signed_request_with_bad_content_is_forwarded_and_refused(mango, http, path, payload, code):
    status, body = await post(http, mango.vpbx_url + path, signed(payload))
    assert (status, body["result"]) == (200, code)
    [request] = mango.forwarded(path="vpbx/" + path)
    assert request.valid_sign and request.result == code


async def test_not_post_is_3101_and_an_unknown_path_404(mango, http):
    async with http.get(mango.vpbx_url + "account/balance") as response:
        assert (await response.json())["result"] == 3101
    status, body = await post(http, mango.vpbx_url + "commands/fax", signed({}))
    assert (status, body["result"]) == (404, 3100)


async def test_two_errors_within_the_window_lock_the_account_until_the_lockout_ends(mango, http):
    url = mango.vpbx_url + "incominglines"
    for _ in range(2):
        assert (await post(http, url, {**signed({}), "sign": "bad"}))[1]["result"] == 3102
    assert mango.is_locked() and mango.lockouts == 1
    assert await post(http, url, signed({})) == (401, LOCKED_BODY)
    assert not mango.requests[-1].processed and mango.requests[-1].result is None
    await asyncio.sleep(0.25)
    assert (await post(http, url, signed({})))[1]["result"] == 1000
    assert (mango.errors_3xxx, mango.lockouts, len(mango.forwarded())) == (2, 1, 1)


async def test_the_fifth_callback_within_a_second_is_rate_limited(mango, http):
    answers = [await post(http, mango.vpbx_url + "commands/callback", signed({**CALLBACK, "command_id": f"cb-{n}"}))
               for n in range(5)]
    assert answers[:4] == [(200, {"result": 1000})] * 4
    assert answers[4] == (429, RATE_LIMITED_BODY)
    assert mango.rate_limited == 1 and len(mango.forwarded()) == 4


async def test_rate_limits_can_be_switched_off(http):
    emulator = MangoEmulator(KEY, SALT, rate_limits=False)
    await emulator.start()
    try:
        for n in range(6):
            form = signed({**CALLBACK, "command_id": f"cb-{n}"})
            assert (await post(http, emulator.vpbx_url + "commands/callback", form))[0] == 200
    finally:
        await emulator.stop()


async def test_stats_come_as_a_key_then_204_then_csv_in_the_asked_order(mango, http):
    mango.stats_calls = [
        {"start": 1700000000, "to_number": "74951234567", "records": ["r1", "r2"], "from_number": "79161234567"},
        {"start": 1700000100, "to_number": "74951234568", "records": []},
    ]
    request = {"date_from": "1700000000", "date_to": 1700086400, "fields": "to_number,records,start"}
    status, body = await post(http, mango.vpbx_url + "stats/request", signed(request))
    assert status == 200 and set(body) == {"key"}
    poll = signed({"key": body["key"]})
    assert await post(http, mango.vpbx_url + "stats/result", poll) == (204, "")
    assert await post(http, mango.vpbx_url + "stats/result", poll) == (
        200, "74951234567;[r1,r2];1700000000\n74951234568;[];1700000100")
    assert (await post(http, mango.vpbx_url + "stats/result", signed({"key": "never-issued"})))[0] == 404


async def test_a_slow_pbx_never_processes_a_request_its_client_gave_up_on_and_comes_back_on_its_port(mango, http):
    mango.delay = 0.3
    with pytest.raises(TimeoutError):
        await http.post(mango.vpbx_url + "commands/sms", data=signed(SMS), timeout=aiohttp.ClientTimeout(total=0.05))
    await asyncio.sleep(0.01)
    assert (mango.requests[0].status, mango.forwarded()) == (None, [])
    mango.delay = 0
    port = mango.port
    await mango.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, mango.vpbx_url + "account/balance", signed({}))
    await mango.start()
    assert mango.port == port
    assert (await post(http, mango.vpbx_url + "account/balance", signed({})))[0] == 200


async def test_an_override_answers_the_next_n_requests_then_the_pbx_again(mango, http):
    mango.answer("vpbx/account/balance/", status=200, body={"result": 5008, "message": "unavailable"}, times=1)
    assert (await post(http, mango.vpbx_url + "account/balance", signed({})))[1]["result"] == 5008
    assert (await post(http, mango.vpbx_url + "account/balance", signed({})))[1]["result"] == 1000


async def test_an_accepted_sms_is_followed_by_its_signed_result_and_sms_event(mango, http, herald):
    mango.result_for = lambda request: 1000 if request.body["to_number"].startswith("7") else 4300
    await post(http, mango.vpbx_url + "commands/sms", signed(SMS))
    await mango.drain_webhooks()
    [(result_path, result), (event_path, event)] = herald.received
    assert (result_path, result) == ("result/sms", {"command_id": "sms-1", "result": 1000})
    assert event_path == "events/sms" and event["command_id"] == "sms-1" and event["reason"] == 1000
    assert [webhook.status for webhook in mango.webhooks_sent] == [200, 200]


async def test_a_result_for_of_none_drops_the_result_and_repeat_results_doubles_it(mango, http, herald):
    mango.result_for = lambda request: None
    await post(http, mango.vpbx_url + "commands/callback", signed(CALLBACK))
    await mango.drain_webhooks()
    assert herald.received == []
    mango.result_for = lambda request: 1000
    mango.repeat_results = True
    await post(http, mango.vpbx_url + "commands/callback", signed({**CALLBACK, "command_id": "cb-2"}))
    await mango.drain_webhooks()
    assert herald.received == [("result/callback", {"command_id": "cb-2", "result": 1000})] * 2


async def test_send_webhook_signs_events_and_reports_a_refusal(mango, herald):
    event = call_event("entry-1", "call-1", 1, "Appeared", from_number="79161234567", to_extension="101")
    assert await mango.send_webhook("events/call", event) == 200
    assert await mango.send_webhook("events/call", event, sign="0" * 64) == 403
    assert await mango.send_webhook("events/call", event, key="someone-else") == 403
    assert herald.received == [("events/call", event)]

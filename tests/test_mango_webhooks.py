"""The PBX's webhooks under /mango/ (seed 004), sent by the Mango emulator, signed: accepted only
with our key and the right signature, stored once, call events ordered by seq whatever order they
came in, a summary closing the call and logging it in the caller's CRM history, result/* completing
its command, and the SMS of /send_sms in the message log with its outcome."""

from __future__ import annotations

import pytest

from server.app import create_app
from tests.conftest import AUTH
from tests.mango_emulator import MangoEmulator, call_event, summary_event
from tests.test_telephony import KEY, SALT, mango, pbx_client, telephony_settings  # noqa: F401 (fixtures)

CALLER = "79001234567"


async def get_call(client, entry_id: str) -> dict:
    page = await (await client.get("/telephony/calls/", headers=AUTH)).json()
    [found] = [call for call in page["results"] if call["entry_id"] == entry_id]
    return await (await client.get(f"/telephony/calls/{found['id']}", headers=AUTH)).json()


async def history(client, account_id: int) -> list[dict]:
    answer = await client.get(f"/api/v1/accounts/{account_id}/chat-messages", headers=AUTH)
    assert answer.status == 200
    return (await answer.json())["data"]


async def test_a_signed_webhook_is_answered_1000_and_stored(pbx_client, mango):
    assert await mango.send_webhook("ping", {}) == 200
    assert await mango.send_webhook("events/call", call_event("E1", "C1", 1, "Appeared", from_number=CALLER,
                                                              to_extension="101")) == 200
    call = await get_call(pbx_client, "E1")
    assert call["state"] == "Appeared" and call["from_number"] == CALLER and call["to_extension"] == "101"
    assert [event["kind"] for event in call["events"]] == ["events/call"]


@pytest.mark.parametrize("how,status", [("another key", 401), ("a wrong sign", 403), ("no json", 401),
                                        ("signed, not JSON", 400)])
async def test_a_webhook_without_our_key_or_signature_is_refused_and_not_stored(pbx_client, mango, how, status):
    event = call_event("E2", "C2", 1, "Appeared", from_number=CALLER)
    if how == "another key":
        answered = await mango.send_webhook("events/call", event, key="someone-elses-key")
    elif how == "a wrong sign":
        answered = await mango.send_webhook("events/call", event, sign="0" * 64)
    elif how == "no json":
        response = await pbx_client.post("/mango/events/call", data={"vpbx_api_key": KEY, "sign": "0" * 64})
        answered = response.status
    else:
        answered = await mango.send_webhook("events/call", None, raw_json='{"entry_id": "E2",')
    assert answered == status
    page = await (await pbx_client.get("/telephony/calls/", headers=AUTH)).json()
    assert page["results"] == []


async def test_a_webhook_signed_over_other_json_than_it_carries_is_refused(pbx_client, mango):
    raw = '{"entry_id": "E3", "call_id": "C3", "seq": 1, "call_state": "Appeared"}'
    signature = mango.signature(raw.replace(" ", ""))  # over the compact text, not the text sent
    assert await mango.send_webhook("events/call", None, raw_json=raw, sign=signature) == 403
    assert await mango.send_webhook("events/call", None, raw_json=raw) == 200  # signed over the raw field


async def test_a_repeated_event_is_stored_once(pbx_client, mango):
    event = call_event("E4", "C4", 1, "Appeared", from_number=CALLER, to_extension="101", timestamp=1767225600)
    for _ in range(3):
        assert await mango.send_webhook("events/call", event) == 200
    call = await get_call(pbx_client, "E4")
    assert len(call["events"]) == 1


async def test_call_events_out_of_order_build_the_call_of_the_highest_seq(pbx_client, mango):
    events = {seq: call_event("E5", "C5", seq, state, from_number=CALLER, to_extension="101",
                              timestamp=1767225600 + seq)
              for seq, state in [(1, "Appeared"), (2, "Connected"), (3, "Disconnected")]}
    for seq in (3, 1, 2):
        assert await mango.send_webhook("events/call", events[seq]) == 200
    call = await get_call(pbx_client, "E5")
    assert call["state"] == "Disconnected"
    assert [event["data"]["seq"] for event in call["events"]] == [1, 2, 3]


async def test_a_summary_closes_the_call_and_shows_in_the_callers_crm_history(pbx_client, mango):
    await mango.send_webhook("events/call", call_event("E6", "C6", 1, "Connected", from_number=CALLER,
                                                       to_extension="101"))
    summary = summary_event("E6", from_number=CALLER, to_extension="101", talk_time=134, end_time=1767225900)
    assert await mango.send_webhook("events/summary", summary) == 200
    assert await mango.send_webhook("events/summary", summary) == 200  # a repeat logs nothing more
    call = await get_call(pbx_client, "E6")
    assert (call["direction"], call["talk_seconds"], call["answered"]) == ("incoming", 134, 1)
    assert call["ended_at"].startswith("2026-01-01T00:05:00")
    account = await (await pbx_client.get(f"/api/v1/accounts/{call['contact_id']}", headers=AUTH)).json()
    assert account["data"]["from"] == "PHONE"
    items = await history(pbx_client, call["contact_id"])
    assert [(item["type"], item["text"]) for item in items] == [
        ("SYSTEM_MESSAGE", "Incoming call, answered by 101, 2 min 14 s")]


async def test_a_missed_call_of_a_known_client_is_in_his_history(pbx_client, mango):
    created = await pbx_client.post("/Clients/", json={"phone_number": CALLER, "tag": "vip", "timezone": "UTC"},
                                    headers=AUTH)
    client_id = (await created.json())["id"]
    await mango.send_webhook("events/summary", summary_event("E7", from_number=CALLER, to_extension="101"))
    call = await get_call(pbx_client, "E7")
    assert call["contact_id"] == client_id
    assert [item["text"] for item in await history(pbx_client, client_id)] == ["Missed incoming call", "Tag added: vip"]


async def test_a_result_completes_its_command(pbx_client, mango):
    mango.auto_results = False
    answer = await pbx_client.post("/callback", json={"from_ext": "101", "to_num": CALLER, "command_id": "cb-1"},
                                   headers=AUTH)
    assert answer.status == 200
    stored = await (await pbx_client.get("/telephony/commands/cb-1", headers=AUTH)).json()
    assert stored["result"] is None and stored["completed_at"] is None
    # Under a prefix, as some of Mango's examples post them.
    assert await mango.send_webhook("vpbx/result/callback", {"command_id": "cb-1", "result": "1000"}) == 200
    await mango.send_webhook("result/callback", {"command_id": "cb-1", "result": 3300})  # a later one: ignored
    stored = await (await pbx_client.get("/telephony/commands/cb-1", headers=AUTH)).json()
    assert stored["result"] == 1000 and stored["completed_at"] is not None
    assert [webhook["kind"] for webhook in stored["webhooks"]] == ["result/callback", "result/callback"]


async def sms(client, mango: MangoEmulator, number: str, command_id: str) -> dict:
    answer = await client.post("/send_sms", json={"to_number": number, "text": "Your order is ready",
                                                  "from_extension": "101", "command_id": command_id}, headers=AUTH)
    assert answer.status == 200
    await mango.drain_webhooks()
    return await (await client.get(f"/telephony/commands/{command_id}", headers=AUTH)).json()


async def test_an_sms_through_the_pbx_is_logged_with_its_result_and_delivery_report(pbx_client, mango):
    stored = await sms(pbx_client, mango, CALLER, "sms-1")
    assert stored["result"] == 1000
    assert {webhook["kind"] for webhook in stored["webhooks"]} == {"result/sms", "events/sms"}
    message = stored["message"]
    assert (message["status"], message["last_error"]) == ("sent", None)
    account = await (await pbx_client.get(f"/api/v1/accounts/{message['contact_id']}", headers=AUTH)).json()
    assert account["data"]["from"] == "PHONE"
    assert [(item["id"], item["type"], item["text"]) for item in await history(pbx_client, message["contact_id"])] == [
        (str(message["id"]), "BOT_MESSAGE", "Your order is ready")]


async def test_an_sms_the_pbx_fails_is_failed_with_the_reason(pbx_client, mango):
    mango.result_for = lambda request: 4301
    stored = await sms(pbx_client, mango, "+4915112345678", "sms-2")  # not a Russian number: a contact by it
    assert stored["result"] == 4301
    assert stored["message"]["status"] == "failed" and "4301" in stored["message"]["last_error"]
    again = await sms(pbx_client, mango, "+4915112345678", "sms-3")
    assert again["message"]["contact_id"] == stored["message"]["contact_id"]  # the same contact


async def test_an_sms_the_pbx_refuses_at_once_is_failed(pbx_client, mango):
    mango.answer("vpbx/commands/sms", body={"result": 2240}, times=1)  # no funds
    answer = await pbx_client.post("/send_sms", json={"to_number": CALLER, "text": "Hi", "from_extension": "101",
                                                      "command_id": "sms-4"}, headers=AUTH)
    assert answer.status == 402
    stored = await (await pbx_client.get("/telephony/commands/sms-4", headers=AUTH)).json()
    assert stored["message"]["status"] == "failed"


async def test_a_result_that_beats_mangos_answer_still_counts(pbx_client, mango):
    mango.auto_results = False
    await mango.send_webhook("result/sms", {"command_id": "sms-5", "result": 4301})  # before the command
    stored = await sms(pbx_client, mango, CALLER, "sms-5")
    assert stored["message"]["status"] == "failed"


async def test_webhooks_are_refused_while_telephony_is_not_configured(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings()))
    mango = MangoEmulator(KEY, SALT)
    await mango.start()
    mango.webhook_base = str(client.make_url("/mango/"))
    try:
        assert await mango.send_webhook("ping", {}) == 401
    finally:
        await mango.stop()

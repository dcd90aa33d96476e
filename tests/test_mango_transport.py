"""Mailing SMS through the MANGO OFFICE PBX (notifications.transport = "mango"): the real app sends
commands/sms to the Mango emulator, whose result/sms webhooks (signed, to the app's /mango/)
decide each message. Mango's 1000 only means accepted; a try whose result never comes is tried
again under a new command_id; a late result still counts; a message is recorded sent once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing

import orjson
import pytest

from server.app import create_app
from server.settings import SettingsError
from tests.conftest import AUTH
from tests.mango_emulator import BAD_NUMBER, MangoEmulator, Request
from tests.test_dispatch import add_clients, add_mailing, messages_of, stats, wait_for
from tests.test_telephony import KEY, SALT, mango, telephony_settings  # noqa: F401 (fixtures)

SMS = "vpbx/commands/sms"
FAST_RETRIES = {"retry_base_seconds": 0.05, "retry_max_seconds": 0.2, "timeout_seconds": 2}


@pytest.fixture
def herald(aiohttp_client, make_settings, mango):
    """herald(notifications={...}, telephony={...}) -> the app with transport mango, its webhooks
    registered with the emulator."""

    async def start(notifications: dict | None = None, telephony: dict | None = None):
        settings = make_settings(
            notifications={"transport": "mango", **FAST_RETRIES, **(notifications or {})},
            telephony=telephony_settings(mango, sms_from_extension="101", sms_sender="Shop", **(telephony or {})))
        client = await aiohttp_client(create_app(settings))
        mango.webhook_base = str(client.make_url("/mango/"))
        client.db_path = settings.storage.path
        return client

    return start


def command_ids(mango: MangoEmulator) -> list[str]:
    return [request.body["command_id"] for request in mango.forwarded(SMS)]


async def eventually(condition, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def the_message(api, mailing_id: int) -> dict:
    [message] = messages_of(await stats(api, mailing_id))
    return message


def payload_of(db_path, message_id: int) -> dict:
    with closing(sqlite3.connect(db_path)) as conn:
        return orjson.loads(conn.execute("SELECT payload FROM messages WHERE id = ?", (message_id,)).fetchone()[0])


async def test_each_sms_goes_to_the_pbx_and_its_result_webhook_decides_it(herald, mango):
    def result_for(request: Request) -> int:
        return BAD_NUMBER if request.body["to_number"].endswith("2") else 1000

    mango.result_for = result_for
    mango.repeat_results = True  # a repeated result changes nothing
    api = await herald()
    clients = await add_clients(api, 3)
    mailing = await add_mailing(api, "Sale today")
    final = await wait_for(api, mailing["id"], {"sent": 2, "failed": 1})
    by_phone = {message["phone_number"]: message for message in messages_of(final)}
    forwarded = {request.body["to_number"]: request.body for request in mango.forwarded(SMS)}
    assert len(forwarded) == 3 == len(mango.forwarded(SMS))  # one try each
    for client in clients:
        message = by_phone[client["phone_number"]]
        assert forwarded[client["phone_number"]] == {
            "command_id": f"herald-sms-{message['id']}-1", "text": "Sale today", "from_extension": "101",
            "to_number": client["phone_number"], "sms_sender": "Shop"}
    failed = by_phone[clients[2]["phone_number"]]
    assert failed["status"] == "failed" and "3200" in failed["last_error"]
    sent = by_phone[clients[0]["phone_number"]]
    assert sent["attempts"] == 1 and sent["last_error"] is None and sent["sent_at"] is not None
    await mango.drain_webhooks()
    # events/sms: the delivery report is kept with the message; its result decided it.
    await eventually(lambda: payload_of(api.db_path, sent["id"]) == {"result": 1000, "delivery": 1000},
                     what="the delivery report kept")


async def test_an_accepted_sms_waits_for_its_result(herald, mango):
    mango.auto_results = False
    api = await herald(telephony={"result_timeout_seconds": 30})
    await add_clients(api, 1)
    mailing = await add_mailing(api, "Hello")
    await eventually(lambda: len(mango.forwarded(SMS)) == 1, what="the SMS command")
    await wait_for(api, mailing["id"], lambda current: [(m["status"], m["attempts"]) for m in messages_of(current)]
                   == [("pending", 1)])
    message = await the_message(api, mailing["id"])
    assert message["sent_at"] is None and "herald-sms-" in message["last_error"]
    assert await mango.send_webhook("result/sms", {"command_id": command_ids(mango)[0], "result": 1000}) == 200
    await wait_for(api, mailing["id"], {"sent": 1})
    assert len(mango.forwarded(SMS)) == 1


async def test_a_lost_result_is_tried_again_under_a_new_command_id_and_recorded_sent_once(herald, mango):
    mango.auto_results = False  # the results of the first tries are lost
    api = await herald(notifications={"max_attempts": 10}, telephony={"result_timeout_seconds": 0.2})
    await add_clients(api, 1)
    mailing = await add_mailing(api, "Are you there?")
    await eventually(lambda: len(mango.forwarded(SMS)) >= 2, what="a second try")
    first, second = command_ids(mango)[:2]
    message_id = (await the_message(api, mailing["id"]))["id"]
    assert (first, second) == (f"herald-sms-{message_id}-1", f"herald-sms-{message_id}-2")
    await mango.send_webhook("result/sms", {"command_id": second, "result": 1000})
    sent = (await wait_for(api, mailing["id"], {"sent": 1}))
    sent_at = messages_of(sent)[0]["sent_at"]
    tries = len(mango.forwarded(SMS))
    # The late result of the first try, a success then a failure: the message stays sent, once.
    await mango.send_webhook("result/sms", {"command_id": first, "result": 1000})
    await mango.send_webhook("result/sms", {"command_id": first, "result": BAD_NUMBER})
    await asyncio.sleep(0.6)  # three result timeouts: a message still awaited would be tried again
    assert len(mango.forwarded(SMS)) == tries
    again = messages_of(await stats(api, mailing["id"]))[0]
    assert (again["status"], again["sent_at"], again["last_error"]) == ("sent", sent_at, None)


async def test_the_failure_of_an_earlier_try_does_not_fail_the_one_awaited(herald, mango):
    mango.auto_results = False
    api = await herald(telephony={"result_timeout_seconds": 0.2})
    await add_clients(api, 1)
    mailing = await add_mailing(api, "Second chance")
    await eventually(lambda: len(mango.forwarded(SMS)) >= 2, what="a second try")
    first, second = command_ids(mango)[:2]
    await mango.send_webhook("result/sms", {"command_id": first, "result": BAD_NUMBER})
    await asyncio.sleep(0.1)  # the webhook is applied after its answer
    assert (await the_message(api, mailing["id"]))["status"] != "failed"
    await mango.send_webhook("result/sms", {"command_id": second, "result": 1000})
    await wait_for(api, mailing["id"], {"sent": 1})


async def test_when_no_result_ever_comes_the_message_fails_after_its_attempts_and_a_late_one_still_counts(
        herald, mango):
    mango.auto_results = False
    api = await herald(notifications={"max_attempts": 2}, telephony={"result_timeout_seconds": 0.1})
    await add_clients(api, 1)
    mailing = await add_mailing(api, "Anyone?")
    final = await wait_for(api, mailing["id"], {"failed": 1})
    assert messages_of(final)[0]["last_error"] == "no outcome came for any of its 2 attempts"
    assert len(command_ids(mango)) == 2
    await mango.send_webhook("result/sms", {"command_id": command_ids(mango)[0], "result": 1000})
    await wait_for(api, mailing["id"], {"sent": 1})


async def test_the_pbx_busy_is_retried_and_a_refusal_fails_at_once(herald, mango):
    api = await herald()
    await add_clients(api, 1)
    mango.answer(SMS, body={"result": 5001, "message": "busy"}, times=2)
    busy = await add_mailing(api, "After a busy spell")
    await wait_for(api, busy["id"], {"sent": 1})
    assert command_ids(mango)[-1].endswith("-3")  # two busy answers, then accepted and sent
    mango.answer(SMS, body={"result": BAD_NUMBER, "message": "bad number"}, times=1)
    refused = await add_mailing(api, "To a bad number")
    final = await wait_for(api, refused["id"], {"failed": 1})
    assert messages_of(final)[0]["attempts"] == 1 and "3200" in messages_of(final)[0]["last_error"]


async def test_a_text_too_long_for_the_pbx_fails_unsent(herald, mango):
    api = await herald()
    await add_clients(api, 1)
    mailing = await add_mailing(api, "Ж" * 269)
    final = await wait_for(api, mailing["id"], {"failed": 1})
    assert "268" in messages_of(final)[0]["last_error"]
    assert mango.forwarded(SMS) == []


async def test_the_command_ids_of_mailing_sms_are_not_a_callers_to_take(herald, mango):
    api = await herald()
    answer = await api.post("/send_sms", json={"number": "79001234567", "text": "Hi", "from_ext": "101",
                                               "command_id": "herald-sms-1-1"}, headers=AUTH)
    assert answer.status == 400
    assert "command_id" in (await answer.json())["errors"]
    assert mango.forwarded(SMS) == []


@pytest.mark.parametrize("telephony,named", [
    ({}, "telephony.api_key"),
    ({"api_key": KEY, "api_salt": SALT}, "telephony.sms_from_extension"),
])
def test_the_mango_transport_needs_the_pbx_settings(make_settings, telephony, named):
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        make_settings(notifications={"transport": "mango"}, telephony=telephony)


async def test_mailings_take_at_most_8_of_mangos_10_requests_a_second(herald, mango):
    api = await herald(notifications={"rate_limit": 0, "concurrency": 10})  # no limit of our own
    await add_clients(api, 9)
    mailing = await add_mailing(api, "eight a second")
    await wait_for(api, mailing["id"], {"sent": 9})
    arrivals = sorted(request.at for request in mango.forwarded(SMS))
    assert arrivals[-1] - arrivals[0] >= 0.95  # 8 gaps of 1/8 s

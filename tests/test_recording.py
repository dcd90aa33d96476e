"""Outcomes are recorded as they come, not on a timer: what a kill -9 can leave accepted by the
provider (or the SMTP server) but unrecorded, and so sent again, is what the last few
milliseconds produced (README, "How sending works"; bench/crash.py measures it).

The engine also writes on a timer (`RECORD_EVERY_SECONDS`) when idle. The tests push that timer
out of reach, so only recording-as-they-come can pass: a lone outcome, far from any batch size,
must reach the database while the engine is still busy with something else.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from jobs.delivery import DeliveryEngine
from server.app import create_app
from server.keys import DB
from tests.conftest import AUTH
from tests.provider import Provider
from tests.test_outbox import message, queue_confirmation
from tests.test_price_emails import running_outbox

PROVIDER_TOKEN = "recording-test-provider"


async def eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "not recorded in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def provider():
    provider = Provider(PROVIDER_TOKEN, slow_seconds=30)
    await provider.start()
    yield provider
    await provider.stop()


async def test_a_sent_sms_is_recorded_while_other_messages_are_still_on_the_wire(
        aiohttp_client, make_settings, provider, monkeypatch):
    monkeypatch.setattr(DeliveryEngine, "RECORD_EVERY_SECONDS", 30)
    api = await aiohttp_client(create_app(make_settings(notifications={
        "transport": "http", "provider_url": provider.url, "provider_token": PROVIDER_TOKEN,
        "timeout_seconds": 25})))
    for n in range(2):
        assert (await api.post("/Clients/", data={"phone_number": f"7900000000{n}"}, headers=AUTH)).status == 201
    now = datetime.now(timezone.utc)
    mailing = {"datetime_start": now.isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
               "message_text": "hello"}
    # The provider answers the first request at once and holds the second one.
    first_id, held = None, asyncio.Event()

    async def answer(mode: str, request) -> object:
        nonlocal first_id
        if first_id is None:
            first_id = request.id
            return await Provider._answer(provider, "ok", request)
        held.set()
        return await Provider._answer(provider, "slow", request)

    provider._answer = answer
    assert (await api.post("/Mailing/", json=mailing, headers=AUTH)).status == 201
    await asyncio.wait_for(held.wait(), 10)
    db = api.server.app[DB]

    async def first_recorded() -> bool:
        return await db.fetch_value("SELECT status FROM messages WHERE id = ?", (first_id,)) == "sent"

    await eventually(first_recorded)
    assert await db.fetch_value("SELECT count(*) FROM messages WHERE status = 'sending'") == 1


async def test_a_sent_email_is_recorded_while_another_is_still_being_delivered(db, smtp_server, monkeypatch):
    monkeypatch.setattr(DeliveryEngine, "RECORD_EVERY_SECONDS", 30)
    release = threading.Event()
    deliver = smtp_server._handler.handle_DATA

    async def hold_bob(server, session, envelope):
        if envelope.rcpt_tos == ["bob@example.com"]:
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 20)
        return await deliver(server, session, envelope)

    smtp_server._handler.handle_DATA = hold_bob  # the test's SMTP server keeps Bob's email waiting
    anna = await queue_confirmation(db, "anna@example.com")
    await queue_confirmation(db, "bob@example.com")
    async with running_outbox(db, smtp_server) as outbox:
        run = asyncio.create_task(outbox.deliver_due())
        try:
            async def anna_recorded() -> bool:
                return (await message(db, anna))["status"] == "sent"

            await eventually(anna_recorded)
            assert not run.done()
        finally:
            release.set()
        summary = await run
    assert summary.sent == 2

"""The email delivery engine (jobs/email_channel.py on jobs/delivery.py): due emails from a real
SQLite file to a real aiosmtpd server, with retries, permanent failures, crash recovery,
cancellations, interruption, the background loop and the [email] settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest

from jobs.delivery import DeliverySummary
from jobs.price_emails import queue_price_emails
from server.app import create_app
from server.keys import DB, OUTBOX
from server.links import confirm_link, sha256_hex, unsubscribe_link
from server.timeutil import from_db, to_db, utc_now
from storage.db import Database
from tests.test_price_emails import (
    PUBLIC_URL,
    Progress,
    add_subscriber,
    changed_subscription,
    email_rows,
    running_outbox,
    sql,
    subscription_row,
)

FAST_RETRIES = {"retry_base_seconds": 0.05}


async def queue_confirmation(db: Database, email: str, *, status: str = "pending") -> int:
    """A confirmation email as the subscribe API queues it (the payload's agreed shape)."""
    subscriber_id = await add_subscriber(db, email, confirmed=False)
    contact_id = await db.fetch_value("SELECT contact_id FROM subscribers WHERE id = ?", (subscriber_id,))
    payload = {"kind": "confirmation", "to": email, "subscriber_id": subscriber_id,
               "confirm_link": confirm_link(PUBLIC_URL, subscriber_id, s=sha256_hex("session-1")),
               "unsubscribe_link": unsubscribe_link(PUBLIC_URL, subscriber_id)}
    now = to_db(utc_now())
    async with db.transaction() as tx:
        return await tx.fetch_value(
            "INSERT INTO messages (contact_id, channel, status, next_attempt_at, payload, created_at, updated_at)"
            " VALUES (?, 'email', ?, ?, ?, ?, ?) RETURNING id",
            (contact_id, status, now, json.dumps(payload), now, now))


async def message(db: Database, message_id: int) -> dict[str, Any]:
    return dict(await db.fetch_one("SELECT * FROM messages WHERE id = ?", (message_id,)))


async def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- delivering ------------------------------------------------------------------------------------


async def test_a_due_confirmation_is_sent_and_its_text_recorded(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    async with running_outbox(db, smtp_server) as outbox:
        summary = await outbox.deliver_due()

    [received] = smtp_server.received
    row = await message(db, message_id)
    assert (summary.sent, summary.retried, summary.failed, summary.cancelled) == (1, 0, 0, 0)
    assert received.rcpt_tos == ["anna@example.com"] and received.mail_from == "herald@example.com"
    assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] and row["last_error"] is None
    assert row["body"] == received.body("plain")
    assert "/email_subscription/v1.0/confirm?id=" in row["body"]


async def test_a_price_email_sent_sets_the_subscriptions_baseline(db, smtp_server):
    _, _, subscription_id = await changed_subscription(db, old=5000, new=4500)
    await queue_price_emails(db, public_url=PUBLIC_URL)
    before = await subscription_row(db, subscription_id)

    async with running_outbox(db, smtp_server) as outbox:
        await outbox.deliver_due()

    after = await subscription_row(db, subscription_id)
    assert (before["notified_price"], before["notified_currency"]) == (None, None)
    assert (after["notified_price"], after["notified_currency"]) == (4500, "RUR")
    assert [email["status"] for email in await email_rows(db)] == ["sent"]


async def test_temporary_failures_are_retried_later_and_the_email_goes_out_once(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(2)  # 451 twice
    # Retries 0.2-0.4 s, then 0.4-0.8 s later: long enough for "not due at once" to hold on a busy machine.
    async with running_outbox(db, smtp_server, retry_base_seconds=0.4) as outbox:
        first = await outbox.deliver_due()
        row = await message(db, message_id)
        assert (first.sent, first.retried) == (0, 1)
        assert row["status"] == "pending" and row["attempts"] == 1 and "451" in row["last_error"]
        assert row["next_attempt_at"] > row["updated_at"]  # not due at once: backoff
        assert (await outbox.deliver_due()).retried == 0  # a run right away finds nothing due

        for _ in range(2):
            await wait_until(lambda: _due(db, message_id))
            await outbox.deliver_due()

    row = await message(db, message_id)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["last_error"] is None
    assert len(smtp_server.received) == 1


async def _due(db: Database, message_id: int) -> bool:
    row = await message(db, message_id)
    return row["next_attempt_at"] <= to_db(utc_now())


async def test_a_permanent_refusal_fails_at_once(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(1, "550 5.1.1 No such user")
    async with running_outbox(db, smtp_server, **FAST_RETRIES) as outbox:
        summary = await outbox.deliver_due()

    row = await message(db, message_id)
    assert summary.failed == 1 and summary.retried == 0
    assert row["status"] == "failed" and row["attempts"] == 1 and "550" in row["last_error"]
    assert row["next_attempt_at"] is None
    assert smtp_server.received == []


async def test_after_the_last_attempt_a_temporary_failure_is_final(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(5)
    async with running_outbox(db, smtp_server, max_attempts=2, **FAST_RETRIES) as outbox:
        await outbox.deliver_due()
        await wait_until(lambda: _due(db, message_id))
        await outbox.deliver_due()

    row = await message(db, message_id)
    assert row["status"] == "failed" and row["attempts"] == 2
    assert row["last_error"].startswith("gave up after 2 attempts") and "451" in row["last_error"]


async def test_a_payload_that_cannot_be_rendered_fails_without_retries(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    await sql(db, "UPDATE messages SET payload = json_remove(payload, '$.confirm_link')")
    async with running_outbox(db, smtp_server) as outbox:
        summary = await outbox.deliver_due()

    row = await message(db, message_id)
    assert summary.failed == 1 and row["status"] == "failed" and "confirm_link" in row["last_error"]
    assert smtp_server.received == []


# -- never to the wrong people ---------------------------------------------------------------------


async def test_unsubscribed_meanwhile_the_price_email_is_cancelled(db, smtp_server):
    _, _, subscription_id = await changed_subscription(db)
    await queue_price_emails(db, public_url=PUBLIC_URL)
    await sql(db, "UPDATE subscriptions SET unsubscribed_at = ? WHERE id = ?", (to_db(utc_now()), subscription_id))

    async with running_outbox(db, smtp_server) as outbox:
        summary = await outbox.deliver_due()

    [email] = await email_rows(db)
    assert summary.cancelled == 1 and summary.sent == 0
    assert email["status"] == "cancelled" and email["attempts"] == 0
    assert smtp_server.received == []
    assert (await subscription_row(db, subscription_id))["notified_price"] is None


async def test_an_unconfirmed_address_gets_its_confirmation_but_never_a_price_email(db, smtp_server):
    subscriber_id, _, subscription_id = await changed_subscription(db, "new@example.com", confirmed=False)
    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 0
    # Even a price email that got into the outbox (confirmation withdrawn, say) is not sent:
    await sql(db, "UPDATE subscribers SET confirmed_at = '2026-05-01T00:00:00.000Z' WHERE id = ?", (subscriber_id,))
    await queue_price_emails(db, public_url=PUBLIC_URL)
    await sql(db, "UPDATE subscribers SET confirmed_at = NULL WHERE id = ?", (subscriber_id,))
    await queue_confirmation(db, "other@example.com")

    async with running_outbox(db, smtp_server) as outbox:
        summary = await outbox.deliver_due()

    assert (summary.sent, summary.cancelled) == (1, 1)
    assert [r.rcpt_tos for r in smtp_server.received] == [["other@example.com"]]
    assert smtp_server.received[0].message["Subject"] == "Подтвердите подписку на изменения цен"
    statuses = {email["payload"]["kind"]: email["status"] for email in await email_rows(db)}
    assert statuses == {"price_change": "cancelled", "confirmation": "sent"}
    assert (await subscription_row(db, subscription_id))["notified_price"] is None


async def test_only_to_delivers_to_that_address_alone(db, smtp_server):
    anna = await queue_confirmation(db, "anna@example.com")
    boris = await queue_confirmation(db, "boris@example.com")
    async with running_outbox(db, smtp_server) as outbox:
        summary = await outbox.deliver_due(only_to="BORIS@example.com")

    assert summary.sent == 1
    assert [r.rcpt_tos for r in smtp_server.received] == [["boris@example.com"]]
    assert (await message(db, anna))["status"] == "pending"
    assert (await message(db, boris))["status"] == "sent"


# -- crashes, interruptions, the background loop -----------------------------------------------------


async def test_an_email_left_sending_by_a_crash_is_sent_after_start(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com", status="sending")
    async with running_outbox(db, smtp_server) as outbox:
        assert (await outbox.deliver_due()).sent == 0  # in flight elsewhere: not touched
        await outbox.start()
        try:
            await smtp_server.wait_for(1)
            await wait_until(lambda: _status_is(db, message_id, "sent"))
        finally:
            await outbox.stop()

    assert len(smtp_server.received) == 1


async def _status_is(db: Database, message_id: int, status: str) -> bool:
    return (await message(db, message_id))["status"] == status


async def test_the_background_loop_retries_when_the_retry_falls_due(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(2)
    async with running_outbox(db, smtp_server, **FAST_RETRIES) as outbox:
        await outbox.start()
        try:
            await wait_until(lambda: _status_is(db, message_id, "sent"))
        finally:
            await outbox.stop()

    row = await message(db, message_id)
    assert row["attempts"] == 3 and len(smtp_server.received) == 1


async def test_wake_delivers_what_was_queued_while_idle(db, smtp_server):
    async with running_outbox(db, smtp_server) as outbox:
        await outbox.start()
        try:
            await asyncio.sleep(0.1)  # the loop found nothing and sleeps (for up to a minute)
            message_id = await queue_confirmation(db, "anna@example.com")
            outbox.wake()
            await wait_until(lambda: _status_is(db, message_id, "sent"), timeout=3)
        finally:
            await outbox.stop()


async def test_an_interrupted_run_loses_nothing_and_a_rerun_sends_nothing_twice(db, smtp_server):
    addresses = [f"user{n}@example.com" for n in range(120)]
    for address in addresses:
        await queue_confirmation(db, address)
    async with running_outbox(db, smtp_server) as outbox:
        run = asyncio.create_task(outbox.deliver_due())
        await smtp_server.wait_for(5)
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
        statuses = [email["status"] for email in await email_rows(db)]
        delivered = len(smtp_server.received)
        assert "sending" not in statuses
        assert statuses.count("sent") == delivered < len(addresses)  # what went out is recorded

        summary = await outbox.deliver_due()

    assert summary.sent == len(addresses) - delivered
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(addresses)


async def test_progress_counts_every_due_email(db, smtp_server):
    for n in range(5):
        await queue_confirmation(db, f"user{n}@example.com")
    await changed_subscription(db, "gone@example.com")
    await queue_price_emails(db, public_url=PUBLIC_URL)
    await sql(db, "UPDATE subscriptions SET unsubscribed_at = '2026-05-02T00:00:00.000Z'")
    progress = Progress()
    async with running_outbox(db, smtp_server) as outbox:
        summary = await outbox.deliver_due(progress=progress)

    assert (summary.sent, summary.cancelled) == (5, 1)
    assert (progress.total, progress.done) == (6, 6)


async def test_log_lines_name_the_message_and_the_subscriber(db, smtp_server, caplog):
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(1)
    with caplog.at_level(logging.DEBUG, logger="herald.outbox"):
        async with running_outbox(db, smtp_server, **FAST_RETRIES) as outbox:
            await outbox.deliver_due()

    [retry] = [r for r in caplog.records if "retried" in r.getMessage()]
    assert retry.message_id == message_id and retry.subscriber_id == "sub-anna"


async def test_stop_without_start_and_twice_is_harmless(db, smtp_server):
    async with running_outbox(db, smtp_server) as outbox:
        await outbox.stop()
        await outbox.start()
        await outbox.stop()
        await outbox.stop()
        assert await outbox.deliver_due() == DeliverySummary()  # nothing to do, nothing broken


# -- the [email] section ------------------------------------------------------------------------------


async def test_a_retry_waits_at_most_retry_max_seconds(db, smtp_server):
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(1)
    async with running_outbox(db, smtp_server, retry_base_seconds=3600, retry_max_seconds=0.2) as outbox:
        await outbox.deliver_due()

    row = await message(db, message_id)
    waited = (from_db(row["next_attempt_at"]) - from_db(row["updated_at"])).total_seconds()
    assert row["status"] == "pending" and 0.1 <= waited <= 0.2  # half of the capped delay, or more


async def test_the_email_rate_limit_spaces_the_sends(db, smtp_server):
    for n in range(6):
        await queue_confirmation(db, f"user{n}@example.com")
    async with running_outbox(db, smtp_server, rate_limit=10) as outbox:
        started = time.monotonic()
        summary = await outbox.deliver_due()
        took = time.monotonic() - started

    assert summary.sent == 6 and len(smtp_server.received) == 6
    assert took >= 0.45  # 5 gaps of 1/10 s between the starts


@pytest.mark.parametrize("section", [
    {"email": {"max_attempts": 1}},
    {"subscriptions": {"email_max_attempts": 1}},  # the old key, still accepted
])
async def test_the_servers_email_engine_takes_its_attempts_from_the_settings(
        aiohttp_client, make_settings, smtp_server, section):
    settings = make_settings(smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port,
                                   "timeout_seconds": 5}, **section)
    api = await aiohttp_client(create_app(settings))
    db = api.app[DB]
    message_id = await queue_confirmation(db, "anna@example.com")
    smtp_server.fail_next(1)  # temporary: with 5 attempts (the default) it would be retried
    api.app[OUTBOX].wake()

    await wait_until(lambda: _status_is(db, message_id, "failed"))
    assert (await message(db, message_id))["last_error"].startswith("gave up after 1 attempts")


async def test_an_email_carries_a_message_id_made_from_its_id_in_the_log(db, smtp_server):
    """So that one resent after a crash is the same message to the mail client, which can drop it."""
    message_id = await queue_confirmation(db, "anna@example.com")
    async with running_outbox(db, smtp_server) as outbox:
        await outbox.deliver_due()

    [received] = smtp_server.received
    assert received.message["Message-ID"] == f"<herald-message-{message_id}@example.com>"

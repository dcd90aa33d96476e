"""jobs/delivery.py: the engine every channel plugs into, driven through a channel of the tests' own.

`Ledger` is a complete channel in a few lines, as a new way of sending would be (the PBX's SMS,
an operator's reply): its messages live in a dict instead of the message log, and each attempt's
answer comes from a script. It is not a stand-in for SMS or email (tests/test_dispatch.py and
tests/test_outbox.py run those for real); it pins what the engine promises any channel: every
due message attempted once per claim, retries with the one backoff, outcomes recorded in batches,
wake-ups on demand and on the timer, recovery at start, and stops that lose nothing known.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from jobs.delivery import (CANCELLED, Claim, DeliveryEngine, DeliverySettings, Outcome, Result, Scope, backoff,
                           retry, sent)
from server.timeutil import utc_now


@dataclass(slots=True)
class Item:
    id: int
    attempts: int

    @property
    def ids(self) -> dict[str, Any]:
        return {"message_id": self.id}


class Ledger:
    """A channel whose messages are rows of a dict: status, attempts, due, body, error."""

    name = "ledger"
    log = logging.getLogger("herald.test_ledger")

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.script: dict[int, list[Outcome | Exception]] = {}  # each attempt's answer, else sent
        self.attempts: list[tuple[int, datetime]] = []
        self.batches: list[list[int]] = []
        self.cancel: set[int] = set()
        self.gate: asyncio.Event | None = None  # when set: attempts wait for it
        self.failing_records = 0

    def add(self, message_id: int, *, status: str = "pending", due: datetime | None = None,
            answers: list[Outcome | Exception] = ()) -> None:
        self.rows[message_id] = {"status": status, "attempts": 0, "due": due or utc_now(), "body": None,
                                 "error": None}
        self.script[message_id] = list(answers)

    def status(self, message_id: int) -> str:
        return self.rows[message_id]["status"]

    def attempted(self) -> list[int]:
        return [message_id for message_id, _ in self.attempts]

    async def recover(self, now: datetime) -> int:
        stuck = [row for row in self.rows.values() if row["status"] == "sending"]
        for row in stuck:
            row["status"] = "pending"
        return len(stuck)

    async def claim(self, limit: int, scope: Scope) -> Claim[Item]:
        moment = scope.due_by or utc_now()
        due = sorted(i for i, row in self.rows.items() if row["status"] == "pending" and row["due"] <= moment)
        taken = due[:limit]
        for message_id in taken:
            self.rows[message_id]["status"] = "sending"
        return Claim([Item(i, self.rows[i]["attempts"]) for i in taken], more=len(due) > len(taken))

    def hold(self, job: Item, now: datetime) -> Outcome | None:
        return CANCELLED if job.id in self.cancel else None

    async def attempt(self, job: Item) -> Outcome:
        self.attempts.append((job.id, utc_now()))
        if self.gate is not None:
            await self.gate.wait()
        answers = self.script[job.id]
        answer = answers.pop(0) if answers else sent(f"text of {job.id}")
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def record(self, results: list[Result[Item]]) -> None:
        if self.failing_records:
            self.failing_records -= 1
            raise OSError("disk I/O error")
        self.batches.append([result.row["id"] for result in results])
        for result in results:
            row, update = self.rows[result.row["id"]], result.row
            if row["status"] != "sending":
                continue
            row.update(status=update["status"], body=update["body"] or row["body"], error=update["last_error"])
            row["attempts"] += update["tried"]
            if update["next_attempt_at"] is not None:
                row["due"] = datetime.fromisoformat(update["next_attempt_at"].replace("Z", "+00:00"))

    async def next_wake(self) -> datetime | None:
        return min((row["due"] for row in self.rows.values() if row["status"] == "pending"), default=None)

    async def count_due(self, scope: Scope) -> int | None:
        moment = scope.due_by or utc_now()
        return sum(1 for row in self.rows.values() if row["status"] == "pending" and row["due"] <= moment)


class Progress:
    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0

    def reset(self, total: int | None = None) -> None:
        self.total, self.done = total, 0

    def update(self, n: int = 1) -> None:
        self.done += n


def engine(ledger: Ledger, **settings: Any) -> DeliveryEngine[Ledger]:
    return DeliveryEngine(ledger, DeliverySettings(**{
        "concurrency": 4, "max_attempts": 5, "retry_base_seconds": 0.02, "retry_max_seconds": 0.05, **settings}))


async def eventually(condition, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.01)


@pytest.fixture
async def started():
    """started(engine) starts it, and stops it after the test."""
    engines: list[DeliveryEngine] = []

    async def start(delivery: DeliveryEngine) -> DeliveryEngine:
        engines.append(delivery)
        await delivery.start()
        return delivery

    yield start
    for delivery in engines:
        await delivery.stop()


# -- a run ----------------------------------------------------------------------------------------


async def test_a_channel_of_its_own_gets_every_due_message_out_once_recorded_in_batches():
    ledger = Ledger()
    count = 2 * DeliveryEngine.RECORD_BATCH + 100  # many claims, several batches
    for n in range(count):
        ledger.add(n)
    ledger.add(count, due=utc_now() + timedelta(hours=1))  # not due: not this run's
    progress = Progress()

    summary = await engine(ledger).deliver_due(progress=progress)

    assert (summary.sent, summary.retried, summary.failed, summary.cancelled) == (count, 0, 0, 0)
    assert sorted(ledger.attempted()) == list(range(count))
    assert all(ledger.status(n) == "sent" and ledger.rows[n]["attempts"] == 1 for n in range(count))
    assert ledger.rows[0]["body"] == "text of 0" and ledger.status(count) == "pending"
    assert len(ledger.batches) < count / 10  # batches, not a write per message...
    assert max(len(batch) for batch in ledger.batches) < count  # ...and not one at the end
    assert (progress.total, progress.done) == (count, count)


async def test_a_slow_attempt_does_not_keep_the_others_outcomes_unrecorded():
    ledger = Ledger()
    ledger.add(1)
    ledger.add(2)
    gate = asyncio.Event()

    async def attempt(job: Item) -> Outcome:
        ledger.attempts.append((job.id, utc_now()))
        if job.id == 2:
            await gate.wait()
        return sent("hi")

    ledger.attempt = attempt
    run = asyncio.create_task(engine(ledger, concurrency=2).deliver_due())
    await eventually(lambda: ledger.status(1) == "sent", what="message 1 recorded while 2 hangs")
    assert ledger.status(2) == "sending"
    gate.set()
    await run
    assert ledger.status(2) == "sent"


async def test_a_batch_that_could_not_be_recorded_is_kept_and_recorded_with_the_next():
    ledger = Ledger()
    for n in range(10):
        ledger.add(n)
    ledger.failing_records = 2

    summary = await engine(ledger).deliver_due()

    assert summary.sent == 10 and all(ledger.status(n) == "sent" for n in range(10))
    assert sorted(n for batch in ledger.batches for n in batch) == list(range(10))


async def test_a_run_to_one_recipient_passes_the_scope_to_the_channel():
    seen: list[Scope] = []
    ledger = Ledger()
    claim = ledger.claim

    async def claiming(limit: int, scope: Scope) -> Claim[Item]:
        seen.append(scope)
        return await claim(limit, scope)

    ledger.claim = claiming
    before = utc_now()
    await engine(ledger).deliver_due(only_to="anna@example.com")
    assert seen and all(s.only_to == "anna@example.com" and before <= s.due_by <= utc_now() for s in seen)


# -- retries --------------------------------------------------------------------------------------


async def test_temporary_failures_back_off_then_fail_when_the_attempts_run_out(started):
    ledger = Ledger()
    ledger.add(1, answers=[retry("busy")] * 3)
    ledger.add(2, answers=[retry("busy"), sent("at last")])
    await started(engine(ledger, max_attempts=3))

    await eventually(lambda: ledger.status(1) == "failed" and ledger.status(2) == "sent", what="both settled")
    assert ledger.rows[1]["attempts"] == 3 and ledger.rows[1]["error"] == "gave up after 3 attempts: busy"
    assert ledger.rows[2]["attempts"] == 2 and ledger.rows[2]["body"] == "at last"
    first, second = [moment for message_id, moment in ledger.attempts if message_id == 2]
    assert (second - first).total_seconds() >= 0.01  # the backoff's fixed half of 0.02 s


async def test_an_exception_in_an_attempt_is_retried_never_lost(started):
    ledger = Ledger()
    ledger.add(1, answers=[RuntimeError("a bug")])
    await started(engine(ledger))

    await eventually(lambda: ledger.status(1) == "sent", what="sent after the bug")
    assert ledger.rows[1]["attempts"] == 2


def test_the_backoff_doubles_with_equal_jitter_up_to_its_cap():
    for attempts in range(1, 12):
        delay = min(60, 2 * 2 ** (attempts - 1))
        for _ in range(20):
            assert delay / 2 <= backoff(attempts, 2, 60) <= delay
    assert 30 <= backoff(100_000, 2, 60) <= 60  # no overflow, however many attempts


# -- wake-ups -------------------------------------------------------------------------------------


async def test_wake_delivers_what_came_while_idle_and_the_timer_what_falls_due(started):
    ledger = Ledger()
    delivery = await started(engine(ledger))
    await asyncio.sleep(0.05)  # idle: nothing known, no timer

    ledger.add(1)
    delivery.wake()
    await eventually(lambda: ledger.status(1) == "sent", timeout=3, what="woken")

    due = utc_now() + timedelta(seconds=0.3)
    ledger.add(2, due=due)
    delivery.wake()  # the engine learns of it, finds it not due yet, and sets its timer
    await eventually(lambda: ledger.status(2) == "sent", timeout=3, what="sent by the timer")
    [(_, attempted_at)] = [attempt for attempt in ledger.attempts if attempt[0] == 2]
    assert attempted_at >= due


async def test_start_puts_back_what_a_crash_left_in_flight(started):
    ledger = Ledger()
    ledger.add(1, status="sending")
    await engine(ledger).deliver_due()
    assert ledger.status(1) == "sending"  # a run owns no recovery

    await started(engine(ledger))
    await eventually(lambda: ledger.status(1) == "sent", what="recovered and sent")


# -- stopping -------------------------------------------------------------------------------------


async def test_stop_records_what_is_known_and_puts_back_what_was_not_tried():
    ledger = Ledger()
    ledger.add(1)
    for n in range(2, 6):
        ledger.add(n)
    delivery = engine(ledger, concurrency=1, grace_seconds=0)
    gate = asyncio.Event()

    async def attempt(job: Item) -> Outcome:
        ledger.attempts.append((job.id, utc_now()))
        if job.id == 2:
            await gate.wait()  # on the wire when the engine stops
        return sent("hi")

    ledger.attempt = attempt
    await delivery.start()
    await eventually(lambda: ledger.attempted() == [1, 2], what="message 2 on the wire")
    await delivery.stop()

    assert ledger.status(1) == "sent"  # known before the stop: recorded by it
    assert ledger.status(2) == "sending"  # its outcome is unknown: the next start puts it back
    assert [ledger.status(n) for n in range(3, 6)] == ["pending"] * 3
    assert all(ledger.rows[n]["attempts"] == 0 for n in range(3, 6))
    assert ledger.attempted() == [1, 2]


async def test_an_interrupted_run_lets_the_wire_finish_within_the_grace_and_puts_back_the_rest():
    ledger = Ledger()
    for n in range(1, 6):
        ledger.add(n)
    gate = asyncio.Event()

    async def attempt(job: Item) -> Outcome:
        ledger.attempts.append((job.id, utc_now()))
        await gate.wait()
        return sent("hi")

    ledger.attempt = attempt
    run = asyncio.create_task(engine(ledger, concurrency=2, grace_seconds=5).deliver_due())
    await eventually(lambda: len(ledger.attempts) == 2, what="two on the wire")
    run.cancel()
    await asyncio.sleep(0.05)
    gate.set()  # within the grace
    with pytest.raises(asyncio.CancelledError):
        await run

    assert [ledger.status(n) for n in (1, 2)] == ["sent", "sent"]
    assert [ledger.status(n) for n in (3, 4, 5)] == ["pending"] * 3
    assert ledger.attempted() == [1, 2]


async def test_an_attempt_cut_after_the_grace_of_a_run_goes_back_to_pending():
    ledger = Ledger()
    ledger.add(1)
    ledger.gate = asyncio.Event()  # never opens
    run = asyncio.create_task(engine(ledger, grace_seconds=0.05).deliver_due())
    await eventually(lambda: ledger.attempted() == [1], what="on the wire")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert ledger.status(1) == "pending" and ledger.rows[1]["attempts"] == 0
    ledger.gate = None
    assert (await engine(ledger).deliver_due()).sent == 1


async def test_stop_without_start_and_twice_is_harmless():
    delivery = engine(Ledger())
    await delivery.stop()
    await delivery.start()
    await delivery.stop()
    await delivery.stop()


async def test_a_stop_during_a_claim_that_then_fails_still_stops():
    ledger = Ledger()
    gate = asyncio.Event()
    claims = 0

    async def claim(limit: int, scope: Scope) -> Claim[Item]:
        nonlocal claims
        claims += 1
        await gate.wait()
        raise OSError("database is locked")

    ledger.claim = claim
    delivery = engine(ledger)
    await delivery.start()
    await eventually(lambda: claims == 1, what="the first claim under way")
    stopping = asyncio.create_task(delivery.stop())
    await asyncio.sleep(0.05)
    gate.set()
    started = time.monotonic()
    await asyncio.wait_for(stopping, timeout=10)
    assert time.monotonic() - started < 2  # not after the pause a failed claim gets (5 s)
    assert claims == 1

"""The mailing dispatch engine: fans mailings out, feeds due messages to send workers inside
each recipient's window and the mailing's span, retries with backoff, records outcomes in batches.

The database is the source of truth. The engine keeps nothing that a restart would need: on start
it puts back what was in flight and works out its next wake-up from the tables. The scheduler only
wakes it (a start, an end, a window opening, a retry falling due); API calls wake it too, and so do
the workers when the queue runs low. A pass never waits for the workers: it claims only what the
queue has room for, shared among the running mailings, so one big mailing cannot hold up another's
start or end.

A claimed message is `sending` in the database until its outcome is recorded. Right before each
attempt a worker checks the message against its mailing as it is now (deleted, ended, not started,
window closed, filters changed), so an edit or a delete applies to everything not yet on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time as clock
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from jobs.windows import is_open, next_opening, parse_hhmm
from jobs.waiting import wait_at_most
from server.gateways.sms import SmsTransport
from server.gateways.sms_protocol import Outcome, Verdict
from server.settings import NotificationSettings
from server.timeutil import from_db, to_db, utc_now
from storage import contacts, mailings, messages
from storage.db import Database

log = logging.getLogger("herald.dispatch")

WAKE_JOB = "dispatch-wake"
SAFETY_JOB = "dispatch-safety-wake"


@dataclass(frozen=True)
class Plan:
    """A mailing as the engine needs it, refreshed on every pass and on every edit."""

    id: int
    start: datetime
    end: datetime
    text: str
    window: tuple[time, time] | None
    filters: tuple[str, str]  # (filter_tags, filter_op_codes) as stored
    version: str  # the row's updated_at: of two views of a mailing, the later one wins

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Plan:
        window = None
        if row["window_start"] is not None:
            window = (parse_hhmm(row["window_start"]), parse_hhmm(row["window_end"]))
        return cls(row["id"], from_db(row["datetime_start"]), from_db(row["datetime_end"]),
                   row["message_text"], window, (row["filter_tags"], row["filter_op_codes"]),
                   row["updated_at"])

    def running(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def open_for(self, zone: str, now: datetime) -> bool:
        return self.window is None or is_open(*self.window, zone, now)

    def open_zones(self, zones: list[str], now: datetime) -> list[str] | None:
        """Zones whose window is open now; None means every zone (no window)."""
        if self.window is None:
            return None
        return [zone for zone in zones if is_open(*self.window, zone, now)]


@dataclass(slots=True)
class Job:
    message_id: int
    mailing_id: int
    client_id: int
    phone: str
    zone: str
    attempts: int
    filters: tuple[str, str]  # the mailing's filters when the message was claimed


class RateLimiter:
    """Spaces send starts `1/rate` seconds apart; a rate of 0 means no limit."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1 / per_second if per_second else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self._interval:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class Dispatcher:
    CLAIM_BATCH = 500
    # Outcomes are recorded as they come, in one transaction per FLUSH_GAP_SECONDS at most, and at
    # least every FLUSH_EVERY_SECONDS: what a kill -9 can leave accepted but unrecorded (README).
    FLUSH_GAP_SECONDS = 0.01
    FLUSH_EVERY_SECONDS = 0.1
    FLUSH_RETRY_SECONDS = 1.0
    SAFETY_WAKE_SECONDS = 60

    def __init__(
        self,
        db: Database,
        settings: NotificationSettings,
        transport: SmsTransport,
        scheduler: AsyncIOScheduler,
    ) -> None:
        self._db = db
        self._settings = settings
        self._transport = transport
        self._scheduler = scheduler
        self._limiter = RateLimiter(settings.rate_limit)
        # Only the pump puts jobs in, never more than `_capacity`; workers wake it at `_low_water`.
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._capacity = 4 * settings.concurrency
        self._low_water = self._capacity // 2
        self._more_due = False  # the last pass left due messages behind for want of room
        self._plans: dict[int, Plan] = {}
        self._deleted: set[int] = set()
        self._deleted_clients: set[int] = set()
        self._results: list[dict] = []
        self._refilter: set[int] = set()
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._stopping = False
        self._senders: list[asyncio.Task] = []
        self._flusher: asyncio.Task | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        put_back = await messages.put_back(self._db, "sms", utc_now())
        if put_back:
            log.info("put %d in-flight messages back to pending", put_back)
        self._stopping = False
        self._flusher = asyncio.create_task(self._flush_loop(), name="dispatch-flush")
        self._senders = [asyncio.create_task(self._pump(), name="dispatch-pump")]
        self._senders += [asyncio.create_task(self._work(), name=f"dispatch-worker-{n}")
                          for n in range(self._settings.concurrency)]
        self._scheduler.add_job(self._scheduled_wake, "interval", seconds=self.SAFETY_WAKE_SECONDS,
                                id=SAFETY_JOB, replace_existing=True)
        self.wake()

    async def stop(self) -> None:
        """Stop sending; what was queued goes back to pending, what was in flight stays `sending`
        and is put back by the next start. Every outcome already known is recorded."""
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders = []
        while not self._queue.empty():
            self._results.append(self._result(self._queue.get_nowait(), "pending", tried=0))
        self._stopping = True
        self._flush_now.set()
        if self._flusher is not None:
            await self._flusher
            self._flusher = None
        await self._flush()

    def wake(self) -> None:
        """Look at the tables again soon: something may have become due."""
        self._wake.set()

    async def mailing_changed(self, mailing_id: int) -> None:
        """A mailing was edited or deleted: messages not yet sent follow its new state."""
        row = await mailings.get_mailing_row(self._db, mailing_id)
        if row is None:
            self._deleted.add(mailing_id)
            self._plans.pop(mailing_id, None)
        else:
            self._adopt(Plan.from_row(row))
        self.wake()

    def _adopt(self, plan: Plan) -> Plan | None:
        """Keep the latest view of a mailing (a pass may read it just before an edit lands)."""
        if plan.id in self._deleted:
            return None
        current = self._plans.get(plan.id)
        if current is not None and current.version > plan.version:
            return current
        self._plans[plan.id] = plan
        return plan

    def client_deleted(self, client_id: int) -> None:
        """A client was deleted: its messages already queued are cancelled, not sent."""
        self._deleted_clients.add(client_id)

    async def _scheduled_wake(self) -> None:
        self.wake()

    # -- feeding ------------------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                next_wake = await self._pass()
            except Exception:
                log.exception("dispatch pass failed; trying again in 5 s")
                next_wake = utc_now() + timedelta(seconds=5)
            self._schedule_wake(next_wake)

    async def _pass(self) -> datetime | None:
        now = utc_now()
        await self._start_due(now)
        for mailing_id, expired in (await messages.expire_ended(self._db, now)).items():
            log.info("%d messages expired at the mailing's end", expired, extra={"mailing_id": mailing_id})
        self._forget_ended(now)
        rows = await mailings.running_mailings(self._db, now)
        running = [plan for row in rows if (plan := self._adopt(Plan.from_row(row))) is not None]
        zones = await contacts.timezones(self._db) if any(p.window for p in running) else []
        await self._feed(running, zones)
        return await self._next_wake(running, zones, now)

    async def _start_due(self, now: datetime) -> None:
        for mailing_id in await mailings.mailings_to_fan_out(self._db, now):
            started = clock.perf_counter()
            created = await mailings.fan_out(self._db, mailing_id)
            log.info("mailing started: %d messages created", created, extra={
                "mailing_id": mailing_id, "duration_ms": round((clock.perf_counter() - started) * 1000, 1)})

    def _forget_ended(self, now: datetime) -> None:
        """A job of a forgotten mailing goes back to pending, and its mailing's end expires it."""
        for plan in [plan for plan in self._plans.values() if plan.end <= now]:
            del self._plans[plan.id]

    async def _feed(self, running: list[Plan], zones: list[str]) -> None:
        """Fill the queue's free room, shared evenly among the mailings that have due messages."""
        room = self._capacity - self._queue.qsize()
        hungry = list(running)
        while room > 0 and hungry:
            share = max(1, room // len(hungry))
            for plan in list(hungry):
                wanted = min(share, room, self.CLAIM_BATCH)
                claimed = await self._claim(plan.id, zones, wanted)
                room -= claimed
                if claimed < wanted:
                    hungry.remove(plan)
                if room <= 0:
                    break
        self._more_due = bool(hungry)

    async def _claim(self, mailing_id: int, zones: list[str], limit: int) -> int:
        plan = self._plans.get(mailing_id)
        now = utc_now()
        if plan is None or not plan.running(now):
            return 0
        open_zones = plan.open_zones(zones, now)
        if open_zones == []:
            return 0
        rows = (await messages.claim_due(self._db, "sms", now, limit, mailing_id=mailing_id, zones=open_zones)).sending
        for row in rows:
            self._queue.put_nowait(Job(row["id"], mailing_id, row["contact_id"], row["phone_number"],
                                       row["timezone"], row["attempts"], plan.filters))
        return len(rows)

    async def _next_wake(self, running: list[Plan], zones: list[str], now: datetime) -> datetime | None:
        """`now` is the pass's start: a retry falling due while the pass ran was not claimed, and
        must still be a wake-up (one already past wakes the engine at once)."""
        moments = [await mailings.next_mailing_start(self._db, now)]
        for plan in running:
            moments.append(plan.end)
            moments.append(await messages.next_due(self._db, "sms", mailing_id=plan.id, after=now))
            if plan.window is not None:
                closed = [zone for zone in zones if not plan.open_for(zone, now)]
                moments += [next_opening(plan.window[0], zone, now) for zone in closed]
        return min((moment for moment in moments if moment is not None), default=None)

    def _schedule_wake(self, moment: datetime | None) -> None:
        if moment is None:
            if self._scheduler.get_job(WAKE_JOB):
                self._scheduler.remove_job(WAKE_JOB)
            return
        self._scheduler.add_job(self._scheduled_wake, "date", run_date=moment, id=WAKE_JOB,
                                replace_existing=True, misfire_grace_time=None)

    # -- sending ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            if self._more_due and self._queue.qsize() <= self._low_water:
                self._more_due = False
                self.wake()
            try:
                result = await self._deliver(job)
            except Exception:
                log.exception("could not handle the message; trying again later", extra=self._ids(job))
                later = to_db(utc_now() + timedelta(seconds=self.SAFETY_WAKE_SECONDS))
                result = self._result(job, "pending", tried=0, next_attempt_at=later)
            self._results.append(result)
            self._flush_now.set()

    async def _deliver(self, job: Job) -> dict:
        if (held := self._hold(job, utc_now())) is not None:
            return held
        await self._limiter.wait()
        now = utc_now()
        if (held := self._hold(job, now)) is not None:
            return held
        plan = self._plans[job.mailing_id]
        deadline = min(self._settings.timeout_seconds, (plan.end - now).total_seconds())
        outcome = await self._send(job, plan.text, deadline)
        if outcome.verdict is Verdict.SENT:
            return self._result(job, "sent", body=plan.text)
        attempts = job.attempts + 1
        if outcome.verdict is Verdict.FAIL or attempts >= self._settings.max_attempts:
            error = outcome.error if outcome.verdict is Verdict.FAIL else f"gave up after {attempts} attempts: {outcome.error}"
            log.warning("message failed: %s", error, extra=self._ids(job))
            return self._result(job, "failed", body=plan.text, error=error)
        retry_at = utc_now() + timedelta(seconds=self._backoff(attempts))
        log.info("message will be retried at %s: %s", to_db(retry_at), outcome.error, extra=self._ids(job))
        return self._result(job, "pending", error=outcome.error, next_attempt_at=to_db(retry_at))

    def _hold(self, job: Job, now: datetime) -> dict | None:
        """The result of a job that must not be sent now, or None when it may go."""
        if job.mailing_id in self._deleted or job.client_id in self._deleted_clients:
            return self._result(job, "cancelled", tried=0)
        plan = self._plans.get(job.mailing_id)
        if plan is None:
            return self._result(job, "pending", tried=0)
        if plan.filters != job.filters:
            # Claimed before the filters changed: back to pending, where the new filters apply.
            self._refilter.add(job.mailing_id)
            return self._result(job, "pending", tried=0)
        if now >= plan.end:
            return self._result(job, "expired", tried=0)
        if now < plan.start or not plan.open_for(job.zone, now):
            return self._result(job, "pending", tried=0)
        return None

    async def _send(self, job: Job, text: str, deadline: float) -> Outcome:
        try:
            return await self._transport.send(job.message_id, job.phone, text, deadline)
        except Exception as exc:
            log.exception("sending failed unexpectedly", extra=self._ids(job))
            return Outcome(Verdict.RETRY, f"unexpected error: {exc.__class__.__name__}: {exc}")

    def _backoff(self, attempts: int) -> float:
        """Exponential with 'equal jitter': half the delay fixed, half random."""
        delay = min(self._settings.retry_max_seconds, self._settings.retry_base_seconds * 2 ** (attempts - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    @staticmethod
    def _ids(job: Job) -> dict:
        return {"mailing_id": job.mailing_id, "message_id": job.message_id, "client_id": job.client_id}

    @staticmethod
    def _result(job: Job, status: str, *, tried: int = 1, body: str | None = None,
                error: str | None = None, next_attempt_at: str | None = None) -> dict:
        """A row for `record_send_result`; `sent` is stamped now, `pending` is due now unless told."""
        now = to_db(utc_now())
        if status == "pending" and next_attempt_at is None:
            next_attempt_at = now
        return {"id": job.message_id, "status": status, "tried": tried, "body": body,
                "sent_at": now if status == "sent" else None, "next_attempt_at": next_attempt_at,
                "last_error": error, "now": now}

    # -- recording ----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while not self._stopping:
            await wait_at_most(self._flush_now, self.FLUSH_EVERY_SECONDS)
            self._flush_now.clear()
            recorded = await self._flush()
            # Outcomes gather into the next batch meanwhile; a database that refused one gets a rest.
            await asyncio.sleep(self.FLUSH_GAP_SECONDS if recorded else self.FLUSH_RETRY_SECONDS)

    async def _flush(self) -> bool:
        """Record the outcomes known so far; False if the database refused them (they are kept)."""
        if not self._results:
            return True
        batch, self._results = self._results, []
        refilter, self._refilter = self._refilter, set()
        try:
            await messages.record_outcomes(self._db, batch, refilter=refilter)
        except Exception:
            log.exception("could not record %d results; keeping them for the next flush", len(batch))
            self._keep(batch, refilter)
            return False
        except BaseException:
            self._keep(batch, refilter)
            raise
        if any(result["status"] == "pending" for result in batch):
            self.wake()
        return True

    def _keep(self, batch: list[dict], refilter: set[int]) -> None:
        self._results[:0] = batch
        self._refilter |= refilter

"""The delivery engine: the one loop that sends messages, whatever their channel (SMS, email...).

An engine claims due messages from its channel in bounded batches, hands them to N workers under
a rate limit, retries temporary failures with one backoff (`backoff`: exponential, equal jitter,
capped) until the attempts run out, and records outcomes as they come, in batches: at most one
write per 10 ms (what comes meanwhile joins the next), at least every 100 ms, and when it stops,
so a crash can resend little more than what was on the wire. It wakes on demand (`wake()`: an API call queued or
changed something) and on a timer (the channel says when something falls due next; at least once
a minute in any case), and when it starts it has the channel put back what a crash left in flight.

A channel is what differs: how to recover, claim, check and attempt one message, record a batch,
and when to look again (`Channel`). A new way of sending (the PBX's SMS, an operator's reply) is
a new channel object, not a new engine. The engine holds no SQL and knows no transport; the
database stays the source of truth.

Two ways to run an engine:
- `start()` ... `stop()`: deliver in the background until stopped (the server);
- `deliver_due(only_to=..., progress=...)`: a bounded run of what was due at its start, one run
  at a time, answering a `DeliverySummary` (management commands, the scheduled `send_emails`).
Stopping either (`stop()`, or cancelling the run) starts no new attempt; what was claimed and not
tried goes back to pending; an attempt on the wire may finish within `grace_seconds`; every
outcome known is recorded. An attempt cut after its grace has an unknown outcome: a started engine
leaves it `sending` for its next start to put back, a bounded run (which owns no recovery) puts it
back to pending itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from jobs.waiting import wait_at_most
from server.timeutil import to_db, utc_now

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler


# -- what channels and engines exchange ---------------------------------------------------------


class Job(Protocol):
    """One claimed message, in whatever shape its channel needs to check and attempt it."""

    id: int  # the message's id in the message log
    attempts: int  # attempts made before this claim

    @property
    def ids(self) -> dict[str, Any]:
        """The `extra` of every log line about it: message_id=..., and its mailing, client..."""
        ...


J = TypeVar("J", bound=Job)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt came to (`sent`, `retry`, `failed`, `awaiting`), or why a message was not
    attempted (`HELD`, `CANCELLED`, `EXPIRED`: untried, no attempt is counted)."""

    status: str  # sent, retry, failed, awaiting; or pending (held: due again at once), cancelled, expired
    body: str | None = None  # what was sent, kept in the log
    error: str | None = None
    tried: int = 1
    wait_seconds: float = 0  # awaiting: how long until it is tried again, if nothing else decides


def sent(body: str | None) -> Outcome:
    return Outcome("sent", body=body)


def retry(error: str) -> Outcome:
    """A temporary failure: tried again after `backoff`, or failed once the attempts run out."""
    return Outcome("retry", error=error)


def failed(error: str) -> Outcome:
    """A permanent failure: never tried again."""
    return Outcome("failed", error=error)


def awaiting(body: str | None, note: str, seconds: float) -> Outcome:
    """Taken by a transport that reports the outcome later (a webhook): the message stays pending,
    due again after `seconds` unless that report decides it first (sent or failed), outside the
    engine. `note` says what it waits for."""
    return Outcome("awaiting", body=body, error=note, wait_seconds=seconds)


HELD = Outcome("pending", tried=0)
CANCELLED = Outcome("cancelled", tried=0)
EXPIRED = Outcome("expired", tried=0)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which due messages a claim may take."""

    due_by: datetime | None = None  # due at this moment (a bounded run's start); None: due now
    only_to: str | None = None  # one recipient's alone (a channel that cannot tell refuses it)


@dataclass(slots=True)
class Claim(Generic[J]):
    jobs: list[J]  # now `sending` in the database
    more: bool  # more may be due than this claim took: claim again once there is room
    cancelled: int = 0  # messages the claim cancelled instead of taking (a run counts them)


@dataclass(slots=True)
class Result(Generic[J]):
    job: J
    # The message log's update: id, status, tried, body, sent_at, next_attempt_at, last_error, now.
    row: dict[str, Any]


class Channel(Protocol[J]):
    """A way of sending messages, plugged into a `DeliveryEngine`.

    Only the engine calls these, from one event loop; none of them may block it. `claim` and
    `record` are each one transaction.
    """

    name: str  # short and unique among channels ("sms", "email"): names its tasks and wake-up job
    log: logging.Logger  # every line about its messages, the engine's included

    async def recover(self, now: datetime) -> int:
        """After a crash: put this channel's messages left `sending` back to pending; how many."""
        ...

    async def claim(self, limit: int, scope: Scope) -> Claim[J]:
        """Up to `limit` due messages of `scope`, marked `sending`. `limit` may be 0: the engine
        has no room yet, but the channel's upkeep (starting, expiring) happens on every claim."""
        ...

    def hold(self, job: J, now: datetime) -> Outcome | None:
        """Right before an attempt (before and after the rate limit): None if it may go now, else
        why not (HELD, CANCELLED, EXPIRED). Must not await: nothing may change in between."""
        ...

    async def attempt(self, job: J) -> Outcome:
        """Send it once: `sent(body)`, `retry(error)`, `failed(error)` or `awaiting(...)` (the
        outcome comes later, by another way than the engine). An exception is a bug:
        it is logged and the message retried like a temporary failure."""
        ...

    async def record(self, results: list[Result[J]]) -> None:
        """Write a batch of outcomes in one transaction. If it raises, nothing of it was written:
        the engine keeps the batch and offers it again with the next one."""
        ...

    async def next_wake(self) -> datetime | None:
        """When something may fall due next (asked after each claim); None: nothing known."""
        ...

    async def count_due(self, scope: Scope) -> int | None:
        """How many messages of `scope` are due (a bounded run's progress total); None: unknown."""
        ...


C = TypeVar("C", bound=Channel)


class Progress(Protocol):
    """What a bounded run reports to (tqdm fits): the number due, then outcomes as they come."""

    def reset(self, total: int | None = None) -> None: ...

    def update(self, n: int = 1) -> Any: ...


@dataclass
class DeliverySummary:
    """What a bounded run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    awaiting: int = 0  # taken by the transport, its outcome still to come

    def describe(self, noun: str = "messages") -> str:
        text = (f"{self.sent} {noun} sent, {self.retried} to retry later, {self.failed} failed, "
                f"{self.cancelled} cancelled")
        if self.expired:
            text += f", {self.expired} expired"
        return f"{text}, {self.awaiting} awaiting their outcome" if self.awaiting else text

    def __str__(self) -> str:
        return self.describe()

    def __bool__(self) -> bool:
        return any((self.sent, self.retried, self.failed, self.cancelled, self.expired, self.awaiting))


@dataclass(frozen=True)
class DeliverySettings:
    """One engine's pace and retries (each channel's from its own settings section)."""

    concurrency: int  # workers: attempts in flight at once
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    rate_limit: float = 0  # attempts started per second at most; 0 = no limit
    grace_seconds: float = 0  # how long a stop waits for the attempts on the wire


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th attempt failed: exponential with 'equal jitter',
    half of min(cap, base * 2^(attempts-1)) fixed and half random."""
    delay = min(cap, base * 2.0 ** min(attempts - 1, 64))
    return delay / 2 + random.uniform(0, delay / 2)


class RateLimiter:
    """Spaces starts `1/rate` seconds apart; a rate of 0 means no limit."""

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


# -- the engine ---------------------------------------------------------------------------------


class DeliveryEngine(Generic[C]):
    QUEUE_PER_WORKER = 4  # claimed messages waiting per worker, at most
    RECORD_BATCH = 500  # outcomes in one write at most
    RECORD_EVERY_SECONDS = 0.1  # when idle; outcomes are written as they come, ...
    RECORD_GAP_SECONDS = 0.01  # ...at most one write per gap (what comes meanwhile joins the next)
    RECORD_RETRY_SECONDS = 1.0  # after a failed write (a full disk must not flood the log)
    LAST_FLUSH_ATTEMPTS = 5  # a stop's last write of outcomes, before it gives up on them
    SAFETY_WAKE_SECONDS = 60
    ERROR_PAUSE_SECONDS = 5
    SOONEST_SECONDS = 0.01  # a wake-up already due still waits this long: no spinning

    def __init__(self, channel: C, settings: DeliverySettings,
                 scheduler: AsyncIOScheduler | None = None) -> None:
        """`scheduler`: the timer wake-ups are its jobs; without one, the event loop's timers."""
        self.channel = channel
        self.settings = settings
        self.log = channel.log
        self._scheduler = scheduler
        self._wake_job = f"{channel.name}-wake"
        self._timer: asyncio.TimerHandle | None = None
        self.limiter = RateLimiter(settings.rate_limit)
        self._wake = asyncio.Event()
        self._background: asyncio.Task | None = None
        self._run_lock = asyncio.Lock()

    async def start(self) -> None:
        """Put back what a crash left in flight, then deliver in the background until `stop()`."""
        if self._background is not None:
            return
        put_back = await self.channel.recover(utc_now())
        if put_back:
            self.log.info("put %d in-flight messages back to pending", put_back)
        session = _Session(self, Scope(), signal=self._wake, bounded=False)
        self._background = asyncio.create_task(session.execute(), name=f"{self.channel.name}-delivery")
        self.wake()

    async def stop(self) -> None:
        """Stop delivering (see the module's docstring); harmless when not started."""
        task, self._background = self._background, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # this stop() was cancelled itself, not only the delivery
        finally:
            self.set_timer(None)

    @property
    def running(self) -> bool:
        """Delivering in the background (started, not stopped, not crashed)."""
        return self._background is not None and not self._background.done()

    def wake(self) -> None:
        """Look at the channel again soon: something may have become due."""
        self._wake.set()

    async def deliver_due(self, *, only_to: str | None = None,
                          progress: Progress | None = None) -> DeliverySummary:
        """Deliver what is due now (to `only_to` alone, if given) and return; one run at a time.
        Retries falling due later are left to a later run (or the background)."""
        async with self._run_lock:
            scope = Scope(due_by=utc_now(), only_to=only_to)
            summary = await _Session(self, scope, signal=asyncio.Event(), bounded=True,
                                     progress=progress).execute()
        if summary:
            self.log.info("delivery run: %s", summary)
        return summary

    def set_timer(self, moment: datetime | None) -> None:
        """Wake at `moment` (replacing the previous timer); None: no timer."""
        if self._scheduler is not None:
            if moment is not None:
                self._scheduler.add_job(self._scheduled_wake, "date", run_date=moment, id=self._wake_job,
                                        replace_existing=True, misfire_grace_time=None)
            elif self._scheduler.get_job(self._wake_job):
                self._scheduler.remove_job(self._wake_job)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if moment is not None:
            delay = max(0.0, (moment - utc_now()).total_seconds())
            self._timer = asyncio.get_running_loop().call_later(delay, self.wake)

    async def _scheduled_wake(self) -> None:
        self.wake()


class _Session(Generic[J]):
    """One delivery: a pump claiming into a bounded queue, N workers, a recorder.

    `bounded`: ends once a claim finds nothing more due (a run); else it runs until cancelled,
    waking on `signal` (the engine's wake-ups) or its timer.
    """

    def __init__(self, engine: DeliveryEngine, scope: Scope, *, signal: asyncio.Event, bounded: bool,
                 progress: Progress | None = None) -> None:
        self._engine = engine
        self._channel = engine.channel
        self._settings = engine.settings
        self._log = engine.log
        self._scope = scope
        self._signal = signal  # the pump's: a wake-up, or room in the queue
        self._bounded = bounded
        self._progress = progress
        self._queue: asyncio.Queue[J | None] = asyncio.Queue()
        self._capacity = engine.QUEUE_PER_WORKER * engine.settings.concurrency
        self._low_water = self._capacity // 2
        self._more = False  # the last claim left due messages behind for want of room
        self._stopping = False  # no new attempts
        self._closing = False  # the recorder's last round
        self._results: list[Result[J]] = []
        self._flush_now = asyncio.Event()
        self.summary = DeliverySummary()

    async def execute(self) -> DeliverySummary:
        if self._progress is not None:
            self._progress.reset(total=await self._channel.count_due(self._scope))
        name = self._channel.name
        workers = [asyncio.create_task(self._work(), name=f"{name}-worker-{n}")
                   for n in range(self._settings.concurrency)]
        recorder = asyncio.create_task(self._record_loop(), name=f"{name}-recorder")
        try:
            await self._pump()
            for _ in workers:
                self._queue.put_nowait(None)
            await asyncio.wait(workers)  # unlike gather, being cancelled here spares the workers
        except BaseException:
            await self._wind_down(workers)
            raise
        finally:
            self._closing = True
            self._flush_now.set()
            await recorder
            await self._last_flush()
        return self.summary

    # -- claiming ---------------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            self._signal.clear()
            try:
                claim = await self._claim(self._capacity - self._queue.qsize())
                self._more = claim.more
                if self._bounded:
                    if not claim.more:
                        return
                else:
                    self._plan_wake(await self._channel.next_wake())
            except Exception:
                if self._bounded:
                    raise
                self._log.exception("delivery pass failed; trying again in %d s", self._engine.ERROR_PAUSE_SECONDS)
                self._engine.set_timer(utc_now() + timedelta(seconds=self._engine.ERROR_PAUSE_SECONDS))
            await wait_at_most(self._signal, self._engine.SAFETY_WAKE_SECONDS)

    async def _claim(self, limit: int) -> Claim[J]:
        """A claim that, if this session is stopped meanwhile, still completes and is put back."""
        task = asyncio.ensure_future(self._channel.claim(max(0, limit), self._scope))
        try:
            claim = await asyncio.shield(task)
        except asyncio.CancelledError as cancelled:
            try:
                claim = await task
            except Exception:
                raise cancelled from None  # nothing was claimed; the stop goes on
            self._settled(claim)
            for job in claim.jobs:
                self._add(job, HELD)
            raise
        self._settled(claim)
        for job in claim.jobs:
            self._queue.put_nowait(job)
        return claim

    def _settled(self, claim: Claim[J]) -> None:
        if claim.cancelled:
            self.summary.cancelled += claim.cancelled
            if self._progress is not None:
                self._progress.update(claim.cancelled)

    def _plan_wake(self, moment: datetime | None) -> None:
        now = utc_now()
        if moment is not None and moment <= now:
            # Already due: at once, unless the queue is full anyway (its room will wake the pump).
            moment = None if self._more else now + timedelta(seconds=self._engine.SOONEST_SECONDS)
        self._engine.set_timer(moment)

    # -- attempting -------------------------------------------------------------------------

    async def _work(self) -> None:
        channel, queue, limiter = self._channel, self._queue, self._engine.limiter
        while True:
            job = await queue.get()
            if job is None:
                return
            if self._more and queue.qsize() <= self._low_water:
                self._more = False
                self._signal.set()
            on_the_wire = False
            try:
                outcome = HELD if self._stopping else channel.hold(job, utc_now())
                if outcome is None:
                    await limiter.wait()
                    outcome = HELD if self._stopping else channel.hold(job, utc_now())
                    if outcome is None:
                        on_the_wire = True
                        outcome = await channel.attempt(job)
            except asyncio.CancelledError:
                if not on_the_wire or self._bounded:
                    self._add(job, HELD)
                raise
            except Exception as exc:  # a bug must not lose the message: retry it later
                self._log.exception("could not handle the message; it will be retried", extra=job.ids)
                outcome = retry(f"unexpected error: {exc.__class__.__name__}: {exc}")
            self._add(job, outcome)

    async def _wind_down(self, workers: list[asyncio.Task]) -> None:
        """Stopped: no new attempts; what is on the wire may finish within the grace."""
        self._stopping = True
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                self._add(job, HELD)
        for _ in workers:
            self._queue.put_nowait(None)
        _, unfinished = await asyncio.wait(workers, timeout=self._settings.grace_seconds)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    # -- recording --------------------------------------------------------------------------

    def _add(self, job: J, outcome: Outcome) -> None:
        now = utc_now()
        stamp = to_db(now)
        status, error, next_attempt_at = outcome.status, outcome.error, None
        if status == "retry":
            attempts = job.attempts + 1
            settings = self._settings
            if attempts >= settings.max_attempts:
                status, error = "failed", f"gave up after {attempts} attempts: {error}"
            else:
                delay = backoff(attempts, settings.retry_base_seconds, settings.retry_max_seconds)
                status, next_attempt_at = "pending", to_db(now + timedelta(seconds=delay))
        elif status == "awaiting":
            next_attempt_at = to_db(now + timedelta(seconds=outcome.wait_seconds))
        elif status == "pending":
            next_attempt_at = stamp
        self._results.append(Result(job, {
            "id": job.id, "status": "pending" if status == "awaiting" else status, "tried": outcome.tried,
            "body": outcome.body,
            "sent_at": stamp if status == "sent" else None, "next_attempt_at": next_attempt_at,
            "last_error": error, "now": stamp,
        }))
        self._count(job, status, outcome.tried, error, next_attempt_at)
        self._flush_now.set()  # as it comes: a crash can resend only what was not yet written

    def _count(self, job: J, status: str, tried: int, error: str | None, retry_at: str | None) -> None:
        summary, log = self.summary, self._log
        if status == "sent":
            summary.sent += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("message sent", extra=job.ids)
        elif status == "pending":
            if tried:
                summary.retried += 1
                log.info("message will be retried at %s: %s", retry_at, error, extra=job.ids)
        elif status == "failed":
            summary.failed += 1
            log.warning("message failed: %s", error, extra=job.ids)
        elif status == "awaiting":
            summary.awaiting += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("message awaiting its outcome until %s", retry_at, extra=job.ids)
        elif status == "cancelled":
            summary.cancelled += 1
        elif status == "expired":
            summary.expired += 1

    async def _record_loop(self) -> None:
        while not self._closing:
            await wait_at_most(self._flush_now, self._engine.RECORD_EVERY_SECONDS)
            self._flush_now.clear()
            try:
                await self._flush()
            except Exception:
                self._log.exception("could not record %d outcomes; keeping them for the next try",
                                    len(self._results))
                await asyncio.sleep(self._engine.RECORD_RETRY_SECONDS)
            await asyncio.sleep(self._engine.RECORD_GAP_SECONDS)

    async def _last_flush(self) -> None:
        for attempt in range(1, self._engine.LAST_FLUSH_ATTEMPTS + 1):
            try:
                while self._results:
                    await self._flush()
                return
            except Exception:
                if attempt == self._engine.LAST_FLUSH_ATTEMPTS:
                    # They stay `sending`: the next start puts them back, to be sent again.
                    self._log.exception("could not record %d outcomes; giving up", len(self._results))
                    return
                self._log.exception("could not record %d outcomes; trying again", len(self._results))
                await asyncio.sleep(self._engine.RECORD_EVERY_SECONDS)

    async def _flush(self) -> None:
        if not self._results:
            return
        limit = self._engine.RECORD_BATCH
        batch, self._results = self._results[:limit], self._results[limit:]
        if self._results:
            self._flush_now.set()
        try:
            await self._channel.record(batch)
        except BaseException:
            self._results[:0] = batch
            raise
        if self._progress is not None:  # outcomes; not what was put back untried
            self._progress.update(sum(1 for r in batch if r.row["tried"] or r.row["status"] != "pending"))
        if not self._bounded and any(result.row["status"] == "pending" for result in batch):
            self._engine.wake()  # a retry or a held message: the next wake-up may be sooner

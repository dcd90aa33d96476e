"""The email outbox: delivers the `messages` rows of channel 'email' that are due (confirmations
and price-change emails), as many at once as the SMTP pool has connections, and records outcomes.

The database is the source of truth. A run claims due rows in batches (pending -> sending),
renders each from its payload, hands it to the email gateway and records outcomes in batches:
sent (with its text as `body`; for a price email, the subscription's new baseline in the same
transaction), pending again after exponential backoff with jitter for a temporary SMTP failure
(failed after `email_max_attempts`), failed for a permanent one. A run only takes what was due
when it started; what a run leaves to retry goes out on a later run. A price email whose
subscription was unsubscribed, or whose subscriber is not confirmed, is cancelled, never sent.

Interrupting a run (Ctrl-C, `stop()`) lets the emails on the wire finish, records every known
outcome and puts the rest back to pending, so a re-run sends nothing twice. Rows left `sending`
by a crash are put back by `start()`. This module holds no SQL, builds no payloads and knows no
template: those belong to storage/emails.py, jobs/price_emails.py and jobs/email_templates.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from jobs.email_templates import render
from jobs.waiting import wait_at_most
from server.gateways.email import EmailError, EmailSender
from server.settings import SubscriptionSettings
from server.timeutil import to_db, utc_now
from storage import emails, messages
from storage.db import Database

log = logging.getLogger("herald.outbox")


class Progress(Protocol):
    """What a run reports to (tqdm fits): the number of due emails, then outcomes as they come."""

    def reset(self, total: int | None = None) -> None: ...

    def update(self, n: int = 1) -> Any: ...


@dataclass
class DeliverySummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0

    def __str__(self) -> str:
        return (f"{self.sent} emails sent, {self.retried} to retry later, {self.failed} failed, "
                f"{self.cancelled} cancelled")


@dataclass(slots=True)
class _Job:
    id: int
    contact_id: int | None
    attempts: int
    payload: dict[str, Any] | None  # None: the stored payload is not a JSON object

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> _Job:
        try:
            payload = json.loads(row["payload"]) if row["payload"] else None
        except ValueError:
            payload = None
        return cls(row["id"], row["contact_id"], row["attempts"],
                   payload if isinstance(payload, dict) else None)

    @property
    def ids(self) -> dict[str, Any]:
        """The log line's `extra`."""
        return {"message_id": self.id, "subscriber_id": (self.payload or {}).get("subscriber_id")}


@dataclass(slots=True)
class _Outcome:
    status: str  # sent, pending (to retry), failed; 'back' = put back untried
    body: str | None = None
    error: str | None = None
    retry_in: float = 0.0


class Outbox:
    CLAIM_BATCH = 200
    # Outcomes are recorded as they come, in one transaction per FLUSH_GAP_SECONDS at most, and at
    # least every FLUSH_EVERY_SECONDS: what a kill -9 can leave sent but unrecorded (README).
    FLUSH_GAP_SECONDS = 0.01
    FLUSH_EVERY_SECONDS = 0.1
    FLUSH_RETRY_SECONDS = 1.0
    IDLE_WAKE_SECONDS = 60  # the background loop looks again at least this often
    ERROR_PAUSE_SECONDS = 5
    MAX_RETRY_SECONDS = 6 * 3600

    def __init__(self, db: Database, sender: EmailSender, settings: SubscriptionSettings) -> None:
        self.db = db
        self._sender = sender
        self._settings = settings
        self.concurrency = sender.settings.pool_size
        # An interrupted run waits this long for the emails on the wire.
        self.grace_seconds = sender.settings.timeout_seconds
        self._run_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._background: asyncio.Task | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Put back what a crash left `sending`, then deliver in the background from now on."""
        put_back = await messages.put_back(self.db, "email", utc_now())
        if put_back:
            log.info("put %d in-flight emails back to pending", put_back)
        self._background = asyncio.create_task(self._deliver_forever(), name="outbox")

    async def stop(self) -> None:
        """Stop the background loop; its run ends as an interrupted one does (nothing lost)."""
        if self._background is None:
            return
        self._background.cancel()
        try:
            await self._background
        except asyncio.CancelledError:
            pass
        self._background = None

    def wake(self) -> None:
        """Something may be due (a confirmation was queued): the background loop runs soon."""
        self._wake.set()

    # -- delivering -------------------------------------------------------------------------

    async def deliver_due(
        self, *, only_to: str | None = None, progress: Progress | None = None
    ) -> DeliverySummary:
        """Deliver every email due now (to `only_to` alone, if given); one run at a time."""
        only_to = only_to.strip().lower() if only_to else None
        async with self._run_lock:
            summary = await _Run(self, only_to, progress).execute()
        if summary.sent or summary.retried or summary.failed or summary.cancelled:
            log.info("email run: %s", summary)
        return summary

    async def _deliver_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
                delay = await self._until_next_due()
            except Exception:
                log.exception("email delivery run failed; trying again in %d s", self.ERROR_PAUSE_SECONDS)
                delay = self.ERROR_PAUSE_SECONDS
            await wait_at_most(self._wake, delay)

    async def _until_next_due(self) -> float:
        due = await messages.next_due(self.db, "email")
        if due is None:
            return self.IDLE_WAKE_SECONDS
        seconds = (due - utc_now()).total_seconds()
        return min(self.IDLE_WAKE_SECONDS, max(0.01, seconds))

    async def attempt(self, job: _Job) -> _Outcome:
        """Render and send one email; every failure becomes an outcome, nothing is raised."""
        if job.payload is None:
            return _Outcome("failed", error="the message's payload is not a JSON object")
        try:
            rendered = render(job.payload)
            message = rendered.message(self._sender.from_address)
        except ValueError as exc:
            return _Outcome("failed", error=f"cannot build the email: {exc}")
        try:
            await self._sender.send(message)
        except EmailError as exc:
            return self.after_failure(job, str(exc), temporary=exc.temporary)
        return _Outcome("sent", body=rendered.text)

    def after_failure(self, job: _Job, error: str, *, temporary: bool) -> _Outcome:
        """Retry later (backoff) or fail for good."""
        attempts = job.attempts + 1
        if not temporary:
            return _Outcome("failed", error=error)
        if attempts >= self._settings.email_max_attempts:
            return _Outcome("failed", error=f"gave up after {attempts} attempts: {error}")
        return _Outcome("pending", error=error, retry_in=self.backoff(attempts))

    def backoff(self, attempts: int) -> float:
        """Exponential with 'equal jitter': after attempt n, half of base * 2^(n-1) fixed, half
        random (capped)."""
        delay = min(self.MAX_RETRY_SECONDS, self._settings.email_retry_base_seconds * 2 ** (attempts - 1))
        return delay / 2 + random.uniform(0, delay / 2)


class _Run:
    """One delivery run: a producer claiming batches, `concurrency` workers, a batch recorder."""

    def __init__(self, outbox: Outbox, only_to: str | None, progress: Progress | None) -> None:
        self._outbox = outbox
        self._db = outbox.db
        self._only_to = only_to
        self._progress = progress
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue(
            maxsize=max(outbox.CLAIM_BATCH, outbox.concurrency))
        self._results: list[dict[str, Any]] = []
        self._notified: list[dict[str, Any]] = []
        self._reported = 0  # outcomes in `_results` that count for the progress bar
        self._unqueued: deque[_Job] = deque()  # claimed, not yet in the queue
        self._stopping = False
        self._flush_now = asyncio.Event()
        self.summary = DeliverySummary()

    async def execute(self) -> DeliverySummary:
        started = utc_now()
        if self._progress is not None:
            self._progress.reset(total=await messages.count_due(self._db, "email", started, to=self._only_to))
        workers = [asyncio.create_task(self._work()) for _ in range(self._outbox.concurrency)]
        recorder = asyncio.create_task(self._record_loop())
        try:
            await self._produce(started)
            for _ in workers:
                await self._queue.put(None)
            await asyncio.wait(workers)  # unlike gather, being cancelled here spares the workers
        except BaseException:
            await self._wind_down(workers)
            raise
        finally:
            self._stopping = True
            self._flush_now.set()
            await recorder
            await self._flush()
        return self.summary

    # -- claiming -----------------------------------------------------------------------------

    async def _produce(self, started: datetime) -> None:
        batch = self._outbox.CLAIM_BATCH
        while True:
            claim = await self._claim(started, batch)
            self._cancelled(claim.cancelled)
            self._unqueued.extend(_Job.from_row(row) for row in claim.sending)
            while self._unqueued:
                await self._queue.put(self._unqueued[0])
                self._unqueued.popleft()
            if len(claim.sending) + len(claim.cancelled) < batch:
                return

    async def _claim(self, started: datetime, limit: int) -> emails.Claim:
        """A claim that, if this run is interrupted meanwhile, still completes and is put back."""
        task = asyncio.ensure_future(emails.claim_due(self._db, started, limit, self._only_to))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            claim = await task
            self._cancelled(claim.cancelled)
            for row in claim.sending:
                self._add(_Job.from_row(row), _Outcome("back"))
            raise

    def _cancelled(self, rows: list[sqlite3.Row]) -> None:
        for row in rows:
            log.info("price email cancelled: unsubscribed or not confirmed", extra=_Job.from_row(row).ids)
        self.summary.cancelled += len(rows)
        if rows and self._progress is not None:
            self._progress.update(len(rows))

    # -- sending ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            if self._stopping:
                self._add(job, _Outcome("back"))
                continue
            try:
                outcome = await self._outbox.attempt(job)
            except asyncio.CancelledError:
                self._add(job, _Outcome("back"))
                raise
            except Exception as exc:  # a bug must not lose the message: retry it later
                log.exception("email could not be handled", extra=job.ids)
                outcome = self._outbox.after_failure(job, f"unexpected error: {exc!r}", temporary=True)
            self._add(job, outcome)

    async def _wind_down(self, workers: list[asyncio.Task]) -> None:
        """Interrupted: no new sends; what is on the wire may finish (within the SMTP timeout)."""
        self._stopping = True
        while self._unqueued:
            self._add(self._unqueued.popleft(), _Outcome("back"))
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                self._add(job, _Outcome("back"))
        for _ in workers:
            self._queue.put_nowait(None)
        _, unfinished = await asyncio.wait(workers, timeout=self._outbox.grace_seconds)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    # -- recording ----------------------------------------------------------------------------

    def _add(self, job: _Job, outcome: _Outcome) -> None:
        now = utc_now()
        stamp = to_db(now)
        status = "pending" if outcome.status == "back" else outcome.status
        retry_at = now if outcome.status == "back" else now + timedelta(seconds=outcome.retry_in)
        self._results.append({
            "id": job.id, "status": status, "tried": 0 if outcome.status == "back" else 1,
            "body": outcome.body, "sent_at": stamp if status == "sent" else None,
            "next_attempt_at": to_db(retry_at) if status == "pending" else None,
            "last_error": outcome.error, "now": stamp,
        })
        if outcome.status != "back":
            self._reported += 1
        self._count_and_log(job, outcome)
        if status == "sent" and job.payload.get("kind") == "price_change":
            self._notified.append({"subscription_id": job.payload.get("subscription_id"),
                                   "price": job.payload.get("price"),
                                   "currency": job.payload.get("currency"), "now": stamp})
        self._flush_now.set()

    def _count_and_log(self, job: _Job, outcome: _Outcome) -> None:
        if outcome.status == "sent":
            self.summary.sent += 1
            log.debug("email sent", extra=job.ids)
        elif outcome.status == "pending":
            self.summary.retried += 1
            log.info("email will be retried in %.0f s: %s", outcome.retry_in, outcome.error, extra=job.ids)
        elif outcome.status == "failed":
            self.summary.failed += 1
            log.warning("email failed: %s", outcome.error, extra=job.ids)

    async def _record_loop(self) -> None:
        while not self._stopping:
            await wait_at_most(self._flush_now, self._outbox.FLUSH_EVERY_SECONDS)
            self._flush_now.clear()
            pause = self._outbox.FLUSH_GAP_SECONDS  # outcomes gather into the next batch meanwhile
            try:
                await self._flush()
            except Exception:
                log.exception("could not record email outcomes; keeping them for the next try")
                pause = self._outbox.FLUSH_RETRY_SECONDS
            await asyncio.sleep(pause)

    async def _flush(self) -> None:
        if not self._results:
            return
        results, notified, reported = self._results, self._notified, self._reported
        self._results, self._notified, self._reported = [], [], 0
        try:
            await emails.record_outcomes(self._db, results, notified)
        except BaseException:
            self._results[:0], self._notified[:0] = results, notified
            self._reported += reported
            raise
        if reported and self._progress is not None:
            self._progress.update(reported)

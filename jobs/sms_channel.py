"""The SMS channel of the delivery engine: mailings' messages through the configured SMS transport,
inside each mailing's span and each recipient's local sending window; and the SMS that belong to
no mailing (an operator's reply in the CRM), as soon as they are due, with the same retries.

Every claim is a pass over the mailings: it fans out the ones whose start has come (one set-based
insert each), expires what ended mailings left unsent, and shares the room it is given evenly
among the running mailings that have due messages (in the zones whose window is open), so one big
mailing cannot hold up another's start or end. After it the channel names the next moment worth a
look: a mailing's start or end, a window opening in some zone, a retry falling due. Messages
outside mailings are claimed first (a person waits for a reply; a mailing's span is long), up to
one batch per claim; they have no span and no window, only their recipient, who may be deleted.

Right before each attempt a message is checked against its mailing as it is now (deleted, ended,
not started, window closed, filters changed) and against deleted clients, so an edit or a delete
applies to everything not yet on the wire; handlers report them with `mailing_changed` and
`client_deleted`. A message's id is the provider's msgId, so a resend after a crash carries the
same id: that is why a stop does not wait for the requests on the wire (grace 0).

A transport that only learns later whether an SMS went (the PBX, whose result webhook decides) has
it `awaiting`: pending, due again after a while under a new attempt number, failed once the
attempts run out with no outcome; storage/telephony.py records the outcome when it comes.
"""

from __future__ import annotations

import logging
import sqlite3
import time as clock
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from jobs.delivery import CANCELLED, EXPIRED, HELD, Claim, DeliveryEngine, DeliverySettings, Outcome, Result, \
    Scope, awaiting, failed, retry, sent
from jobs.windows import is_open, next_opening, parse_hhmm
from server.gateways.sms import SmsTransport
from server.gateways.sms_protocol import Verdict
from server.settings import NotificationSettings
from server.timeutil import from_db, utc_now
from storage import contacts, mailings, messages
from storage.db import Database

log = logging.getLogger("herald.dispatch")


@dataclass(frozen=True)
class Plan:
    """A mailing as the channel needs it, refreshed on every claim and on every edit."""

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
class SmsJob:
    id: int
    mailing_id: int | None  # None: a message of no mailing (a reply), sent with its own `body`
    client_id: int
    phone: str | None
    zone: str
    attempts: int
    filters: tuple[str, str]  # the mailing's filters when the message was claimed
    body: str | None = None

    @property
    def ids(self) -> dict[str, Any]:
        if self.mailing_id is None:
            return {"message_id": self.id, "client_id": self.client_id}
        return {"mailing_id": self.mailing_id, "message_id": self.id, "client_id": self.client_id}


class SmsChannel:
    CLAIM_BATCH = 500  # messages of one mailing per statement, at most

    name = "sms"
    log = log

    def __init__(self, db: Database, settings: NotificationSettings, transport: SmsTransport) -> None:
        self._db = db
        self._timeout = settings.timeout_seconds
        self._max_attempts = settings.max_attempts
        self._transport = transport
        self._plans: dict[int, Plan] = {}
        self._deleted: set[int] = set()
        self._deleted_clients: set[int] = set()
        self._refilter: set[int] = set()
        self._running: list[Plan] = []  # as of the last claim
        self._zones: list[str] = []
        self._claimed_at = utc_now()  # when the last claim began

    # -- what handlers report -----------------------------------------------------------------

    async def mailing_changed(self, mailing_id: int) -> None:
        """A mailing was edited or deleted: messages not yet sent follow its new state (wake the
        engine after: its start, end or window may have moved)."""
        row = await mailings.get_mailing_row(self._db, mailing_id)
        if row is None:
            self._deleted.add(mailing_id)
            self._plans.pop(mailing_id, None)
        else:
            self._adopt(Plan.from_row(row))

    def client_deleted(self, client_id: int) -> None:
        """A client was deleted: its messages already claimed are cancelled, not sent."""
        self._deleted_clients.add(client_id)

    def _adopt(self, plan: Plan) -> Plan | None:
        """Keep the latest view of a mailing (a claim may read it just before an edit lands)."""
        if plan.id in self._deleted:
            return None
        current = self._plans.get(plan.id)
        if current is not None and current.version > plan.version:
            return current
        self._plans[plan.id] = plan
        return plan

    # -- the channel --------------------------------------------------------------------------

    async def recover(self, now: datetime) -> int:
        return await messages.put_back(self._db, "sms", now)

    async def claim(self, limit: int, scope: Scope) -> Claim[SmsJob]:
        """A pass (see the module's docstring); `scope.due_by` does not apply: a message is due by
        its mailing's span and its recipient's window, at the moment of the claim."""
        if scope.only_to is not None:
            raise ValueError("the SMS channel cannot claim one recipient's messages alone")
        now = self._claimed_at = utc_now()
        await self._start_due(now)
        for mailing_id, expired in (await messages.expire_ended(self._db, now)).items():
            log.info("%d messages expired at the mailing's end", expired, extra={"mailing_id": mailing_id})
        for plan in [plan for plan in self._plans.values() if plan.end <= now]:
            del self._plans[plan.id]  # a job of a forgotten mailing is held; the end expires it
        rows = await mailings.running_mailings(self._db, now)
        self._running = [plan for row in rows if (plan := self._adopt(Plan.from_row(row))) is not None]
        self._zones = await contacts.timezones(self._db) if any(p.window for p in self._running) else []
        wanted = min(limit, self.CLAIM_BATCH)
        outside = await self._claim_outside_mailings(wanted, now)
        claim = await self._share(limit - len(outside))
        return Claim(outside + claim.jobs, more=claim.more or (wanted > 0 and len(outside) == wanted))

    async def _claim_outside_mailings(self, limit: int, now: datetime) -> list[SmsJob]:
        if limit <= 0:
            return []
        rows = (await messages.claim_due(self._db, "sms", now, limit)).sending
        return [SmsJob(row["id"], None, row["contact_id"], row["phone_number"], row["timezone"] or "UTC",
                       row["attempts"], ("", ""), row["body"]) for row in rows]

    async def _start_due(self, now: datetime) -> None:
        for mailing_id in await mailings.mailings_to_fan_out(self._db, now):
            started = clock.perf_counter()
            created = await mailings.fan_out(self._db, mailing_id)
            log.info("mailing started: %d messages created", created, extra={
                "mailing_id": mailing_id, "duration_ms": round((clock.perf_counter() - started) * 1000, 1)})

    async def _share(self, room: int) -> Claim[SmsJob]:
        """Fill `room`, shared evenly among the running mailings that have due messages."""
        jobs: list[SmsJob] = []
        hungry = list(self._running)
        while room > 0 and hungry:
            share = max(1, room // len(hungry))
            for plan in list(hungry):
                wanted = min(share, room, self.CLAIM_BATCH)
                claimed = await self._claim_of(plan.id, wanted, jobs)
                room -= claimed
                if claimed < wanted:
                    hungry.remove(plan)
                if room <= 0:
                    break
        return Claim(jobs, more=bool(hungry))

    async def _claim_of(self, mailing_id: int, limit: int, into: list[SmsJob]) -> int:
        plan = self._plans.get(mailing_id)
        now = utc_now()
        if plan is None or not plan.running(now):
            return 0
        open_zones = plan.open_zones(self._zones, now)
        if open_zones == []:
            return 0
        rows = (await messages.claim_due(self._db, "sms", now, limit, mailing_id=mailing_id, zones=open_zones)).sending
        into += [SmsJob(row["id"], mailing_id, row["contact_id"], row["phone_number"], row["timezone"],
                        row["attempts"], plan.filters) for row in rows]
        return len(rows)

    def hold(self, job: SmsJob, now: datetime) -> Outcome | None:
        if job.client_id in self._deleted_clients:
            return CANCELLED
        if job.mailing_id is None:
            return None  # no span, no window
        if job.mailing_id in self._deleted:
            return CANCELLED
        plan = self._plans.get(job.mailing_id)
        if plan is None:
            return HELD
        if plan.filters != job.filters:
            # Claimed before the filters changed: back to pending, where the new filters apply.
            self._refilter.add(job.mailing_id)
            return HELD
        if now >= plan.end:
            return EXPIRED
        if now < plan.start or not plan.open_for(job.zone, now):
            return HELD
        return None

    async def attempt(self, job: SmsJob) -> Outcome:
        if job.attempts >= self._max_attempts:
            # Every try was taken (an `awaiting` transport) and no outcome came for any of them.
            return failed(f"no outcome came for any of its {job.attempts} attempts")
        if job.mailing_id is None:
            if job.phone is None:
                return failed("the recipient has no phone number")
            if not job.body:
                return failed("the message has no text")
            text, deadline = job.body, self._timeout
        else:
            plan = self._plans[job.mailing_id]  # hold() has just seen it
            # Cut short so that no request is still running at the mailing's end.
            text, deadline = plan.text, min(self._timeout, (plan.end - utc_now()).total_seconds())
        outcome = await self._transport.send(job.id, job.phone, text, deadline, attempt=job.attempts + 1)
        if outcome.verdict is Verdict.SENT:
            return sent(text)
        if outcome.verdict is Verdict.ACCEPTED:
            return awaiting(text, outcome.error or "accepted; its outcome is still to come", outcome.wait_seconds)
        if outcome.verdict is Verdict.FAIL:
            return failed(outcome.error)
        return retry(outcome.error)

    async def record(self, results: list[Result[SmsJob]]) -> None:
        refilter, self._refilter = self._refilter, set()
        try:
            await messages.record_outcomes(self._db, [result.row for result in results], refilter=refilter)
        except BaseException:
            self._refilter |= refilter
            raise

    async def next_wake(self) -> datetime | None:
        # As of the claim: what fell due since (after its mailing's claim) must count, as past.
        now = self._claimed_at
        moments = [await mailings.next_mailing_start(self._db, now),
                   await messages.next_due(self._db, "sms", after=now)]
        for plan in self._running:
            moments.append(plan.end)
            moments.append(await messages.next_due(self._db, "sms", mailing_id=plan.id, after=now))
            if plan.window is not None:
                closed = [zone for zone in self._zones if not plan.open_for(zone, now)]
                moments += [next_opening(plan.window[0], zone, now) for zone in closed]
        return min((moment for moment in moments if moment is not None), default=None)

    async def count_due(self, scope: Scope) -> int | None:
        return None


def sms_engine(db: Database, settings: NotificationSettings, transport: SmsTransport,
               scheduler: AsyncIOScheduler | None = None) -> DeliveryEngine[SmsChannel]:
    """The SMS engine with `notifications.*`'s pace and retries, never faster than the transport
    can take."""
    rate_limit = min((rate for rate in (settings.rate_limit, transport.max_rate) if rate), default=0)
    return DeliveryEngine(SmsChannel(db, settings, transport), DeliverySettings(
        concurrency=settings.concurrency, rate_limit=rate_limit, max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds, retry_max_seconds=settings.retry_max_seconds,
        grace_seconds=0), scheduler)

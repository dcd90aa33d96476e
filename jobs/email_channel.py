"""The email channel of the delivery engine: the `messages` rows of channel 'email' (confirmations
and price-change emails), rendered from their payload and handed to the email gateway, as many at
once as the SMTP pool has connections (`email_engine`).

A claim takes the oldest due emails; a price email whose subscription was unsubscribed, or whose
subscriber is not confirmed, is cancelled by the claim itself, never sent. An email sent is
recorded with its text as `body` and, for a price email, the subscription's new baseline in the
same transaction. A payload that cannot be rendered and a permanent SMTP refusal fail the email at
once; a temporary SMTP failure is retried with `email.*`'s backoff.

The commands (`send_emails`, `send_email_to`) run the engine bounded (`deliver_due`, with
`only_to` and a progress bar): what is on the wire when one is interrupted may finish within the
SMTP timeout, the rest goes back to pending, and a re-run sends nothing twice. This module holds
no SQL, builds no payloads and knows no template: those belong to storage/emails.py,
jobs/price_emails.py and jobs/email_templates.py.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jobs.delivery import Claim, DeliveryEngine, DeliverySettings, Outcome, Result, Scope, failed, retry, sent
from jobs.email_templates import render
from server.gateways.email import EmailError, EmailSender
from server.settings import EmailSettings
from server.timeutil import utc_now
from storage import emails, messages
from storage.db import Database

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("herald.outbox")


@dataclass(slots=True)
class EmailJob:
    id: int
    contact_id: int | None
    attempts: int
    payload: dict[str, Any] | None  # None: the stored payload is not a JSON object

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EmailJob:
        try:
            payload = json.loads(row["payload"]) if row["payload"] else None
        except ValueError:
            payload = None
        return cls(row["id"], row["contact_id"], row["attempts"],
                   payload if isinstance(payload, dict) else None)

    @property
    def ids(self) -> dict[str, Any]:
        return {"message_id": self.id, "subscriber_id": (self.payload or {}).get("subscriber_id")}


class EmailChannel:
    name = "email"
    log = log

    def __init__(self, db: Database, sender: EmailSender) -> None:
        self._db = db
        self._sender = sender

    async def recover(self, now: datetime) -> int:
        return await messages.put_back(self._db, "email", now)

    async def claim(self, limit: int, scope: Scope) -> Claim[EmailJob]:
        if limit <= 0:
            return Claim([], more=True)
        claim = await emails.claim_due(self._db, scope.due_by or utc_now(), limit, _address(scope.only_to))
        for row in claim.cancelled:
            log.info("price email cancelled: unsubscribed or not confirmed", extra=EmailJob.from_row(row).ids)
        return Claim([EmailJob.from_row(row) for row in claim.sending],
                     more=len(claim.sending) + len(claim.cancelled) >= limit, cancelled=len(claim.cancelled))

    def hold(self, job: EmailJob, now: datetime) -> Outcome | None:
        return None  # what must not go out is cancelled by the claim

    async def attempt(self, job: EmailJob) -> Outcome:
        if job.payload is None:
            return failed("the message's payload is not a JSON object")
        try:
            rendered = render(job.payload)
            message = rendered.message(self._sender.from_address, message_id=job.id)  # a resend keeps its Message-ID
        except ValueError as exc:
            return failed(f"cannot build the email: {exc}")
        try:
            await self._sender.send(message)
        except EmailError as exc:
            return retry(str(exc)) if exc.temporary else failed(str(exc))
        return sent(rendered.text)

    async def record(self, results: list[Result[EmailJob]]) -> None:
        rows, notified = [], []
        for result in results:
            row, payload = result.row, result.job.payload
            rows.append(row)
            if row["status"] == "sent" and payload.get("kind") == "price_change":
                notified.append({"subscription_id": payload.get("subscription_id"), "price": payload.get("price"),
                                 "currency": payload.get("currency"), "now": row["now"]})
        await emails.record_outcomes(self._db, rows, notified)

    async def next_wake(self) -> datetime | None:
        return await messages.next_due(self._db, "email")

    async def count_due(self, scope: Scope) -> int | None:
        return await messages.count_due(self._db, "email", scope.due_by or utc_now(), to=_address(scope.only_to))


def _address(address: str | None) -> str | None:
    return address.strip().lower() if address else None


def email_engine(db: Database, sender: EmailSender, settings: EmailSettings,
                 scheduler: AsyncIOScheduler | None = None) -> DeliveryEngine[EmailChannel]:
    """The email engine: `email.*`'s retries and rate, `smtp.pool_size` workers, and a stop that
    waits up to `smtp.timeout_seconds` for the emails on the wire."""
    return DeliveryEngine(EmailChannel(db, sender), DeliverySettings(
        concurrency=sender.settings.pool_size, rate_limit=settings.rate_limit, max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds, retry_max_seconds=settings.retry_max_seconds,
        grace_seconds=sender.settings.timeout_seconds), scheduler)

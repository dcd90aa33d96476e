"""Emails of passport subscribers who subscribed by passportuid alone (seed 001): ask the account
service (`subscriptions.passport_email_url`) for each one that has an active subscription and no
email yet, and give it the address found, so that its price emails can start.

Run by send_emails before it looks for price changes. A failed or empty lookup changes nothing:
that passportuid is asked again by the next run. This module renders and sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from server.errors import Conflict
from server.gateways.passport_email import PassportEmailError, PassportEmailLookup
from server.timeutil import utc_now
from storage import subscribers
from storage.db import Database

log = logging.getLogger("herald.passport_emails")


@dataclass
class LookupSummary:
    asked: int = 0
    found: int = 0       # addresses given to their subscribers
    unknown: int = 0     # the account has no email (yet)
    failed: int = 0      # no usable answer, or the address is another subscriber's

    def __str__(self) -> str:
        return (f"{self.asked} passport emails asked: {self.found} found, {self.unknown} unknown, "
                f"{self.failed} failed")


async def find_passport_emails(db: Database, lookup: PassportEmailLookup, *,
                               now: datetime | None = None) -> LookupSummary:
    now = now or utc_now()
    waiting = await subscribers.passports_without_email(db)
    summary = LookupSummary(asked=len(waiting))
    gate = asyncio.Semaphore(lookup.CONCURRENCY)

    async def one(subscriber_id: str, passportuid: str) -> None:
        ids = {"subscriber_id": subscriber_id}
        async with gate:
            try:
                email = await lookup.email_of(passportuid)
            except PassportEmailError as exc:
                summary.failed += 1
                log.warning("passport email lookup failed, asked again next run: %s", exc, extra=ids)
                return
        if email is None:
            summary.unknown += 1
            return
        try:
            attached = await subscribers.attach_passport_email(db, subscriber_id, email, now=now)
        except Conflict as exc:
            summary.failed += 1
            log.warning("passport email not attached: %s", exc.detail, extra=ids)
            return
        if attached:
            summary.found += 1
            log.info("passport subscriber's email found: its price emails can start", extra=ids)

    await asyncio.gather(*(one(row["id"], row["passportuid"]) for row in waiting))
    if waiting:
        log.info("%s", summary)
    return summary

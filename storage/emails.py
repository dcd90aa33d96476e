"""The email side of the message log: what the outbox claims and records, and the price changes
that become price-change emails.

Every write here is batched (one transaction per claim or per batch of outcomes, executemany for
rows); nothing here renders, sends or decides about retries. Payloads go in and out as JSON text:
parsing and building them is the callers' business.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.timeutil import from_db, to_db
from storage.db import Database
from storage.sql import Q

NOT_DELIVERABLE = "cancelled: the subscription was unsubscribed or the address is not confirmed"


@dataclass(frozen=True)
class Claim:
    """One claim: rows now `sending` (id, contact_id, attempts, payload) and rows cancelled."""

    sending: list[sqlite3.Row]
    cancelled: list[sqlite3.Row]


async def reset_sending(db: Database, now: datetime) -> int:
    """After a crash: emails left `sending` are pending again, due at `now`."""
    async with db.transaction() as tx:
        return await tx.execute(Q.reset_sending_emails, {"now": to_db(now)})


async def count_due(db: Database, now: datetime, only_to: str | None = None) -> int:
    return await db.fetch_value(Q.count_due_emails, {"now": to_db(now), "to": only_to})


async def claim_due(db: Database, now: datetime, limit: int, only_to: str | None = None) -> Claim:
    """Up to `limit` emails due at `now` (to `only_to` alone if given), oldest first.

    Deliverable ones become `sending`; price emails that must not go out any more (unsubscribed,
    unconfirmed) become `cancelled` in the same transaction.
    """
    stamp = to_db(now)
    async with db.transaction() as tx:
        rows = await tx.fetch_all(Q.due_emails, {"now": stamp, "to": only_to, "limit": limit})
        sending = [row for row in rows if row["deliverable"]]
        cancelled = [row for row in rows if not row["deliverable"]]
        if sending:
            await tx.execute(Q.mark_emails_sending, {"ids": _ids(sending), "now": stamp})
        if cancelled:
            await tx.execute(Q.cancel_undeliverable_emails,
                             {"ids": _ids(cancelled), "now": stamp, "reason": NOT_DELIVERABLE})
    return Claim(sending, cancelled)


def _ids(rows: list[sqlite3.Row]) -> str:
    return json.dumps([row["id"] for row in rows])


async def record_outcomes(
    db: Database, results: list[dict[str, Any]], notified: list[dict[str, Any]]
) -> None:
    """One transaction: each result (id, status, tried, body, sent_at, next_attempt_at,
    last_error, now) and, for price emails sent, their subscription's new baseline
    (subscription_id, price, currency, now)."""
    async with db.transaction() as tx:
        await tx.execute_many(Q.record_send_result, results)
        if notified:
            await tx.execute_many(Q.mark_subscription_notified, notified)


async def next_due(db: Database) -> datetime | None:
    """When the earliest pending email falls due (possibly already), or None."""
    return from_db(await db.fetch_value(Q.next_email_due))


# -- price changes ---------------------------------------------------------------------------


async def price_changes(db: Database, only_email: str | None = None) -> list[sqlite3.Row]:
    """Changes to email: subscription_id, subscriber_id, qkey, email, contact_id, day, price,
    currency, details (JSON text), old_price, old_currency, dedupe_key."""
    return await db.fetch_all(Q.price_changes_to_email, {"email": only_email})


async def cancel_superseded(
    db: Database, now: datetime, only_email: str | None = None
) -> list[sqlite3.Row]:
    """Cancel pending price emails whose price is no longer current; returns (id, subscriber_id)."""
    async with db.transaction() as tx:
        return await tx.fetch_all(Q.cancel_superseded_price_emails,
                                  {"now": to_db(now), "email": only_email})


async def insert_price_emails(db: Database, rows: Iterable[dict[str, Any]]) -> int:
    """Insert (contact_id, payload, dedupe_key, now) rows in one transaction; returns how many
    emails were created or made due again (a change that already has one is left alone)."""
    async with db.transaction() as tx:
        before = await tx.fetch_value(Q.total_changes)
        await tx.execute_many(Q.insert_price_email, rows)
        return await tx.fetch_value(Q.total_changes) - before

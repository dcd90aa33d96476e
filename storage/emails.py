"""The email channel as the subscriptions family uses it: the message log's verbs
(storage/messages.py) with the family's rules around them, and the price changes that become
price-change emails.

The rules: a price email whose subscription was unsubscribed, or whose subscriber is not
confirmed, is cancelled when it is claimed, never sent; one sent moves its subscription's
baseline, in the transaction that records it; one whose price is no longer current is cancelled
before new ones are queued. Nothing here writes `messages` by itself, renders, sends or decides
about retries. Payloads go in and out as JSON text: parsing and building them is the callers'.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from storage import messages, subscribers
from storage.db import Database, WriteTransaction, writes
from storage.messages import Claim
from storage.sql import Q

CHANNEL = "email"
NOT_DELIVERABLE = "cancelled: the subscription was unsubscribed or the address is not confirmed"
SUPERSEDED = "superseded: the price changed again before it was sent"


def _undeliverable(tx: WriteTransaction, rows: list[sqlite3.Row]) -> dict[int, str]:
    ids = json.dumps([row["id"] for row in rows])
    return {row[0]: NOT_DELIVERABLE for row in tx.fetch_all(Q.undeliverable_emails, {"ids": ids})}


@writes
def claim_due(tx: WriteTransaction, now: datetime, limit: int, only_to: str | None = None) -> Claim:
    """Up to `limit` emails due at `now` (to `only_to` alone if given), oldest first.

    Deliverable ones become `sending`; price emails that must not go out any more (unsubscribed,
    unconfirmed) become `cancelled` in the same transaction.
    """
    return messages.claim_due(tx, CHANNEL, now, limit, to=only_to, hold=_undeliverable)


@writes
def record_outcomes(tx: WriteTransaction, results: list[dict[str, Any]], notified: list[dict[str, Any]]) -> None:
    """One transaction: each result (id, status, tried, body, sent_at, next_attempt_at,
    last_error, now) and, for price emails sent, their subscription's new baseline
    (subscription_id, price, currency, now)."""
    messages.record_outcomes(tx, results)
    subscribers.mark_notified(tx, notified)


# -- price changes ---------------------------------------------------------------------------


async def price_changes(db: Database, only_email: str | None = None) -> list[dict[str, Any]]:
    """Changes to email: subscription_id, subscriber_id, qkey, email, contact_id, day, price,
    currency, details (JSON text), old_price, old_currency, dedupe_key. A scan of the active
    subscriptions: read off the event loop."""
    return await db.slow.fetch_all(Q.price_changes_to_email, {"email": only_email})


@writes
def cancel_superseded(tx: WriteTransaction, now: datetime, only_email: str | None = None) -> list[sqlite3.Row]:
    """Cancel pending price emails whose price is no longer current; returns (id, subscriber_id)."""
    rows = tx.fetch_all(Q.superseded_price_emails, {"email": only_email})
    if rows:
        messages.cancel(tx, ids=[row["id"] for row in rows], reason=SUPERSEDED, now=now)
    return rows


@writes
def insert_price_emails(tx: WriteTransaction, rows: Iterable[dict[str, Any]]) -> int:
    """Queue (contact_id, payload, dedupe_key, now) rows in one transaction; returns how many
    emails were created or made due again (a change that already has one is left alone)."""
    return messages.enqueue_many(tx, CHANNEL, rows)

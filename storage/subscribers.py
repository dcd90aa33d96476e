"""Subscribers of email price alerts and their subscriptions (seed 001).

Who a subscriber is: a passport account (`passportuid`) or an email address proven by a browser
session (`session`, kept only as its SHA-256). Each subscriber is also a contact (with its email)
in the shared directory. A changed email is a new address and must be confirmed again. A passport
account may subscribe before its email is known: its subscriptions wait, unmailed, until a later
subscribe gives one (confirmed like any new address) or the account service tells it
(`attach_passport_email`: the account's own address, taken as confirmed). The confirmation email
is queued as a message; sending it is the outbox's job, not this module's.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.directions import Direction, parse_qkey
from server.errors import BadRequest, Conflict, NotFound
from server.links import confirm_page_link, sha256_hex, unsubscribe_link, unsubscribe_page_link
from server.timeutil import from_db, to_db
from storage.db import Connection, Database
from storage.sql import Q


@dataclass(frozen=True)
class Identity:
    email: str | None
    passportuid: str | None
    session: str | None


@dataclass(frozen=True)
class Subscription:
    qkey: str
    date_range: int
    filter: str | None  # the filter JSON as given, or None
    filter_key: str  # what the price depends on ('' = no filter)
    filter_url_postfix: str | None
    email_source: str


@dataclass(frozen=True)
class SubscribeOutcome:
    id: str
    required_double_opt_in: bool
    pending: bool


async def _find(tx: Connection, identity: Identity) -> sqlite3.Row | None:
    if identity.passportuid is not None:
        row = await tx.fetch_one(Q.subscriber_by_passportuid, {"passportuid": identity.passportuid})
        if row is not None or identity.email is None:
            return row
    row = await tx.fetch_one(Q.subscriber_by_email, {"email": identity.email})
    if row is not None and identity.passportuid is not None and row["passportuid"] not in (None, identity.passportuid):
        raise Conflict(f"{identity.email} is subscribed under another passportuid", field="email")
    return row


async def _subscriber(tx: Connection, identity: Identity, now: str) -> sqlite3.Row:
    """The subscriber for `identity`, created or brought up to date."""
    session_sha256 = sha256_hex(identity.session) if identity.session is not None else None
    row = await _find(tx, identity)
    if row is None:
        contact_id = await tx.fetch_value(Q.insert_email_contact, {"email": identity.email, "now": now})
        subscriber_id = str(uuid.uuid4())
        await tx.execute(Q.insert_subscriber, {
            "id": subscriber_id, "contact_id": contact_id, "email": identity.email,
            "passportuid": identity.passportuid, "session_sha256": session_sha256, "now": now})
    else:
        subscriber_id = row["id"]
        email = identity.email or row["email"]
        if email != row["email"]:
            owner = await tx.fetch_one(Q.subscriber_by_email, {"email": email})
            if owner is not None:
                raise Conflict(f"{email} is subscribed under another id", field="email")
            await tx.execute(Q.update_contact_email, {"email": email, "contact_id": row["contact_id"], "now": now})
        await tx.execute(Q.update_subscriber_identity, {
            "id": subscriber_id, "email": email, "passportuid": identity.passportuid,
            "session_sha256": session_sha256, "now": now})
    return await tx.fetch_one(Q.subscriber_by_id, {"id": subscriber_id})


async def _queue_confirmation(tx: Connection, subscriber: sqlite3.Row, public_url: str, now: str) -> None:
    if subscriber["passportuid"] is not None:
        link = confirm_page_link(public_url, subscriber["id"], p=sha256_hex(subscriber["passportuid"]))
    else:
        link = confirm_page_link(public_url, subscriber["id"], s=subscriber["session_sha256"])
    payload = {"kind": "confirmation", "to": subscriber["email"], "subscriber_id": subscriber["id"],
               "confirm_link": link, "unsubscribe_link": unsubscribe_page_link(public_url, subscriber["id"]),
               "list_unsubscribe": unsubscribe_link(public_url, subscriber["id"])}
    await tx.execute(Q.queue_email, {"contact_id": subscriber["contact_id"], "now": now,
                                     "payload": json.dumps(payload, ensure_ascii=False)})
    await tx.execute(Q.mark_confirmation_sent, {"id": subscriber["id"], "now": now})


async def subscribe(
    db: Database, identity: Identity, subscription: Subscription, *, now: datetime, double_opt_in: bool,
    cooldown: timedelta, public_url: str,
) -> SubscribeOutcome:
    """Create or update the subscription; queue a confirmation email when one is due. A passport
    whose email is not known yet has nothing to confirm: its subscription waits for an email."""
    stamp = to_db(now)
    async with db.transaction() as tx:
        subscriber = await _subscriber(tx, identity, stamp)
        await _save_subscription(tx, subscriber["id"], subscription, stamp)
        if subscriber["email"] is None or subscriber["confirmed_at"] is not None:
            return SubscribeOutcome(subscriber["id"], required_double_opt_in=False, pending=False)
        if not double_opt_in:
            await tx.execute(Q.mark_confirmed, {"id": subscriber["id"], "now": stamp})
            return SubscribeOutcome(subscriber["id"], required_double_opt_in=False, pending=False)
        sent_at = from_db(subscriber["confirmation_sent_at"])
        if sent_at is None or now - sent_at >= cooldown:
            await _queue_confirmation(tx, subscriber, public_url, stamp)
        return SubscribeOutcome(subscriber["id"], required_double_opt_in=True, pending=sent_at is not None)


async def _save_subscription(tx: Connection, subscriber_id: str, subscription: Subscription, now: str) -> None:
    direction_id = await tx.fetch_value(Q.upsert_direction, {
        "qkey": subscription.qkey, "date_range": subscription.date_range,
        "filter": subscription.filter_key, "now": now})
    await tx.execute(Q.upsert_subscription, {
        "subscriber_id": subscriber_id, "direction_id": direction_id, "qkey": subscription.qkey,
        "date_range": subscription.date_range, "filter": subscription.filter,
        "filter_url_postfix": subscription.filter_url_postfix, "email_source": subscription.email_source,
        "now": now})


async def passports_without_email(db: Database) -> list[sqlite3.Row]:
    """(id, passportuid) of passport subscribers with an active subscription and no email yet."""
    return await db.fetch_all(Q.passports_without_email)


async def attach_passport_email(db: Database, subscriber_id: str, email: str, *, now: datetime) -> bool:
    """Give a passport subscriber the address its account service knows, taken as confirmed (the
    account's own address, not one typed into a form). False if it got an email meanwhile;
    Conflict if another subscriber has that address."""
    stamp = to_db(now)
    async with db.transaction() as tx:
        owner = await tx.fetch_one(Q.subscriber_by_email, {"email": email})
        if owner is not None and owner["id"] != subscriber_id:
            raise Conflict(f"the address of subscriber {subscriber_id}'s account is another subscriber's", field="email")
        subscriber = await tx.fetch_one(Q.subscriber_by_id, {"id": subscriber_id})
        if subscriber is None or not await tx.execute(Q.set_passport_email, {
                "id": subscriber_id, "email": email, "now": stamp}):
            return False
        await tx.execute(Q.update_contact_email, {"email": email, "contact_id": subscriber["contact_id"], "now": stamp})
    return True


async def confirm(db: Database, subscriber_id: str, *, p: str | None, s: str | None, now: datetime) -> None:
    """Confirm the address if `p` is sha256(passportuid) or `s` is sha256(session)."""
    async with db.transaction() as tx:
        await _proven(tx, subscriber_id, p, s)
        await tx.execute(Q.mark_confirmed, {"id": subscriber_id, "now": to_db(now)})


async def is_confirmed(db: Database, subscriber_id: str, *, p: str | None, s: str | None) -> bool:
    """Whether the address is confirmed already; a wrong id or proof raises as `confirm` does."""
    return (await _proven(db, subscriber_id, p, s))["confirmed_at"] is not None


async def _proven(db: Connection | Database, subscriber_id: str, p: str | None, s: str | None) -> sqlite3.Row:
    subscriber = await _by_id(db, subscriber_id)
    if not _proof_matches(subscriber, p, s):
        raise BadRequest.field("p" if p is not None else "s",
                               "Does not match this subscriber: the link is wrong or out of date.")
    return subscriber


def _proof_matches(subscriber: sqlite3.Row, p: str | None, s: str | None) -> bool:
    if p is not None and subscriber["passportuid"] is not None:
        return hmac.compare_digest(p.lower(), sha256_hex(subscriber["passportuid"]))
    if s is not None and subscriber["session_sha256"] is not None:
        return hmac.compare_digest(s.lower(), subscriber["session_sha256"])
    return False


async def _by_id(db: Connection | Database, subscriber_id: str) -> sqlite3.Row:
    row = await db.fetch_one(Q.subscriber_by_id, {"id": subscriber_id})
    if row is None:
        raise NotFound(f"No subscriber with id {subscriber_id}.")
    return row


async def find(db: Database, *, passportuid: str | None, email: str | None) -> sqlite3.Row | None:
    if passportuid is not None:
        return await db.fetch_one(Q.subscriber_by_passportuid, {"passportuid": passportuid})
    return await db.fetch_one(Q.subscriber_by_email, {"email": email})


async def active_subscriptions(db: Database, subscriber_id: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await db.fetch_all(Q.active_subscriptions, {"subscriber_id": subscriber_id})]


def matching(subscriptions: list[dict[str, Any]], asked: Direction) -> dict[str, Any] | None:
    """The subscription that covers `asked`: the same trip moved by at most its date range,
    the nearest first."""
    covering = []
    for subscription in subscriptions:
        shift = parse_qkey(subscription["qkey"]).shift_to(asked)
        if shift is not None and abs(shift) <= subscription["date_range"]:
            covering.append((abs(shift), subscription))
    return min(covering, key=lambda item: item[0])[1] if covering else None


async def subscription_to(db: Database, subscriber_id: str, qkey: str) -> sqlite3.Row:
    """The subscriber's subscription to `qkey` (qkey, unsubscribed_at, and point_from and point_to
    as the direction's newest price names them, or NULL); NotFound as `unsubscribe` raises it."""
    await _by_id(db, subscriber_id)
    row = await db.fetch_one(Q.subscription_to_qkey, {"subscriber_id": subscriber_id, "qkey": qkey})
    if row is None:
        raise NotFound(f"Subscriber {subscriber_id} has no subscription to {qkey}.")
    return row


async def active_subscriptions_of(db: Database, subscriber_id: str) -> list[dict[str, Any]]:
    """`active_subscriptions` of an id that must exist (NotFound as `unsubscribe` raises it)."""
    await _by_id(db, subscriber_id)
    return await active_subscriptions(db, subscriber_id)


async def unsubscribe(db: Database, subscriber_id: str, *, qkey: str | None, now: datetime) -> None:
    """From everything, or from one qkey. Unsubscribing twice is not an error (one-click links)."""
    async with db.transaction() as tx:
        await _by_id(tx, subscriber_id)
        if qkey is None:
            await tx.execute(Q.unsubscribe_all, {"subscriber_id": subscriber_id, "now": to_db(now)})
        elif not await tx.execute(Q.unsubscribe_qkey, {"subscriber_id": subscriber_id, "qkey": qkey,
                                                       "now": to_db(now)}):
            raise NotFound(f"Subscriber {subscriber_id} has no subscription to {qkey}.")

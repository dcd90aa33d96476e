"""Subscribers of email price alerts and their subscriptions (seed 001).

Who a subscriber is: a passport account (`passportuid`) or an email address proven by a browser
session (`session`, kept only as its SHA-256). Each subscriber is a contact of the shared
directory (storage/contacts.py): the one that has its email already, if any (a person another
family met first is that same contact), else one made for it. A changed email is a new address and must be confirmed again. A passport
account may subscribe before its email is known: its subscriptions wait, unmailed, until a later
subscribe gives one (confirmed like any new address) or the account service tells it
(`attach_passport_email`: the account's own address, taken as confirmed). The confirmation email
is queued as a message (storage/messages.py); sending it is the outbox's job, not this module's.
Each state change goes into the contact's history as it happens (`messages.record_event`, the
CRM's SYSTEM_MESSAGE): a new (or revived) direction subscribed, the address confirmed (the first
time), a direction or all of them unsubscribed (when one was active).
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
from server.timeutil import from_db, to_db, utc_now
from storage import contacts, messages
from storage.db import Database, Reads, WriteTransaction, reads, writes
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


SOURCE = "EMAIL"  # a contact made here says where it came from (the CRM's `from`)

# The state changes written to the subscriber's contact's history (the CRM's SYSTEM_MESSAGE).
SUBSCRIBED = "Subscribed to price alerts"
CONFIRMED = "Subscription confirmed"
UNSUBSCRIBED = "Unsubscribed from price alerts"


def _find(tx: WriteTransaction, identity: Identity) -> sqlite3.Row | None:
    if identity.passportuid is not None:
        row = tx.fetch_one(Q.subscriber_by_passportuid, {"passportuid": identity.passportuid})
        if row is not None or identity.email is None:
            return row
    row = tx.fetch_one(Q.subscriber_by_email, {"email": identity.email})
    if row is not None and identity.passportuid is not None and row["passportuid"] not in (None, identity.passportuid):
        raise Conflict(f"{identity.email} is subscribed under another passportuid", field="email")
    return row


def _contact_with_email(tx: WriteTransaction, contact_id: int, email: str) -> int:
    """The contact a subscriber with the new address `email` belongs to: the one that has the
    address already (the same person, met by another family), else its own, which takes it."""
    found = contacts.find_by_email(tx, email)
    if found is not None:
        return found["id"]
    if contacts.update(tx, contact_id, email=email) is None:  # its own contact was deleted
        return contacts.create(tx, email=email, source=SOURCE)
    return contact_id


def _subscriber(tx: WriteTransaction, identity: Identity, now: str) -> sqlite3.Row:
    """The subscriber for `identity`, created or brought up to date."""
    session_sha256 = sha256_hex(identity.session) if identity.session is not None else None
    row = _find(tx, identity)
    if row is None:
        if identity.email is not None:
            contact_id = contacts.find_or_create_by_email(tx, identity.email, source=SOURCE)
        else:
            contact_id = contacts.create(tx, source=SOURCE)
        subscriber_id = str(uuid.uuid4())
        tx.execute(Q.insert_subscriber, {
            "id": subscriber_id, "contact_id": contact_id, "email": identity.email,
            "passportuid": identity.passportuid, "session_sha256": session_sha256, "now": now})
    else:
        subscriber_id, contact_id = row["id"], row["contact_id"]
        email = identity.email or row["email"]
        if email != row["email"]:
            owner = tx.fetch_one(Q.subscriber_by_email, {"email": email})
            if owner is not None:
                raise Conflict(f"{email} is subscribed under another id", field="email")
            contact_id = _contact_with_email(tx, contact_id, email)
        tx.execute(Q.update_subscriber_identity, {
            "id": subscriber_id, "contact_id": contact_id, "email": email, "passportuid": identity.passportuid,
            "session_sha256": session_sha256, "now": now})
    return tx.fetch_one(Q.subscriber_by_id, {"id": subscriber_id})


def _queue_confirmation(tx: WriteTransaction, subscriber: sqlite3.Row, public_url: str, now: datetime) -> None:
    if subscriber["passportuid"] is not None:
        link = confirm_page_link(public_url, subscriber["id"], p=sha256_hex(subscriber["passportuid"]))
    else:
        link = confirm_page_link(public_url, subscriber["id"], s=subscriber["session_sha256"])
    payload = {"kind": "confirmation", "to": subscriber["email"], "subscriber_id": subscriber["id"],
               "confirm_link": link, "unsubscribe_link": unsubscribe_page_link(public_url, subscriber["id"]),
               "list_unsubscribe": unsubscribe_link(public_url, subscriber["id"])}
    messages.enqueue(tx, "email", subscriber["contact_id"], payload=json.dumps(payload, ensure_ascii=False),
                     now=now)
    tx.execute(Q.mark_confirmation_sent, {"id": subscriber["id"], "now": to_db(now)})


@writes
def subscribe(
    tx: WriteTransaction, identity: Identity, subscription: Subscription, *, now: datetime, double_opt_in: bool,
    cooldown: timedelta, public_url: str,
) -> SubscribeOutcome:
    """Create or update the subscription; queue a confirmation email when one is due. A passport
    whose email is not known yet has nothing to confirm: its subscription waits for an email.
    The subscriber's contact is the one that has its email already, if any (storage/contacts.py)."""
    stamp = to_db(now)
    subscriber = _subscriber(tx, identity, stamp)
    state = tx.fetch_one(Q.subscription_state, {"subscriber_id": subscriber["id"], "qkey": subscription.qkey})
    _save_subscription(tx, subscriber["id"], subscription, stamp)
    if state is None or state["unsubscribed_at"] is not None:
        messages.record_event(tx, subscriber["contact_id"], f"{SUBSCRIBED}: {subscription.qkey}", now=now)
    if subscriber["email"] is None or subscriber["confirmed_at"] is not None:
        return SubscribeOutcome(subscriber["id"], required_double_opt_in=False, pending=False)
    if not double_opt_in:
        _mark_confirmed(tx, subscriber, now)
        return SubscribeOutcome(subscriber["id"], required_double_opt_in=False, pending=False)
    sent_at = from_db(subscriber["confirmation_sent_at"])
    if sent_at is None or now - sent_at >= cooldown:
        _queue_confirmation(tx, subscriber, public_url, now)
    return SubscribeOutcome(subscriber["id"], required_double_opt_in=True, pending=sent_at is not None)


def _save_subscription(tx: WriteTransaction, subscriber_id: str, subscription: Subscription, now: str) -> None:
    direction_id = tx.fetch_value(Q.upsert_direction, {
        "qkey": subscription.qkey, "date_range": subscription.date_range,
        "filter": subscription.filter_key, "now": now})
    tx.execute(Q.upsert_subscription, {
        "subscriber_id": subscriber_id, "direction_id": direction_id, "qkey": subscription.qkey,
        "date_range": subscription.date_range, "filter": subscription.filter,
        "filter_url_postfix": subscription.filter_url_postfix, "email_source": subscription.email_source,
        "now": now})


async def passports_without_email(db: Database) -> list[dict[str, Any]]:
    """(id, passportuid) of passport subscribers with an active subscription and no email yet (a
    scan: read off the event loop)."""
    return await db.slow.fetch_all(Q.passports_without_email)


@writes
def attach_passport_email(tx: WriteTransaction, subscriber_id: str, email: str, *, now: datetime) -> bool:
    """Give a passport subscriber the address its account service knows, taken as confirmed (the
    account's own address, not one typed into a form). False if it got an email meanwhile;
    Conflict if another subscriber has that address."""
    owner = tx.fetch_one(Q.subscriber_by_email, {"email": email})
    if owner is not None and owner["id"] != subscriber_id:
        raise Conflict(f"the address of subscriber {subscriber_id}'s account is another subscriber's", field="email")
    subscriber = tx.fetch_one(Q.subscriber_by_id, {"id": subscriber_id})
    if subscriber is None or subscriber["email"] is not None:
        return False
    contact_id = _contact_with_email(tx, subscriber["contact_id"], email)
    if not tx.execute(Q.set_passport_email, {"id": subscriber_id, "email": email, "contact_id": contact_id,
                                             "now": to_db(now)}):
        return False
    if subscriber["confirmed_at"] is None:
        messages.record_event(tx, contact_id, CONFIRMED, now=now)
    return True


@writes
def confirm(tx: WriteTransaction, subscriber_id: str, *, p: str | None, s: str | None, now: datetime) -> None:
    """Confirm the address if `p` is sha256(passportuid) or `s` is sha256(session)."""
    _mark_confirmed(tx, _proven(tx, subscriber_id, p, s), now)


def _mark_confirmed(tx: WriteTransaction, subscriber: sqlite3.Row, now: datetime) -> None:
    """The address is confirmed now; the first time, that goes into its contact's history."""
    tx.execute(Q.mark_confirmed, {"id": subscriber["id"], "now": to_db(now)})
    if subscriber["confirmed_at"] is None:
        messages.record_event(tx, subscriber["contact_id"], CONFIRMED, now=now)


@reads
def is_confirmed(conn: Reads, subscriber_id: str, *, p: str | None, s: str | None) -> bool:
    """Whether the address is confirmed already; a wrong id or proof raises as `confirm` does."""
    return _proven(conn, subscriber_id, p, s)["confirmed_at"] is not None


@writes
def mark_notified(tx: WriteTransaction, notified: list[dict[str, Any]]) -> None:
    """Each (subscription_id, price, currency, now): the price its subscriber was last told."""
    if notified:
        tx.execute_many(Q.mark_subscription_notified, notified)


def _proven(conn: Reads, subscriber_id: str, p: str | None, s: str | None) -> sqlite3.Row:
    subscriber = _by_id(conn, subscriber_id)
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


def _by_id(conn: Reads, subscriber_id: str) -> sqlite3.Row:
    row = conn.fetch_one(Q.subscriber_by_id, {"id": subscriber_id})
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
    _by_id(db.inline, subscriber_id)
    row = await db.fetch_one(Q.subscription_to_qkey, {"subscriber_id": subscriber_id, "qkey": qkey})
    if row is None:
        raise NotFound(f"Subscriber {subscriber_id} has no subscription to {qkey}.")
    return row


async def active_subscriptions_of(db: Database, subscriber_id: str) -> list[dict[str, Any]]:
    """`active_subscriptions` of an id that must exist (NotFound as `unsubscribe` raises it)."""
    _by_id(db.inline, subscriber_id)
    return await active_subscriptions(db, subscriber_id)


@writes
def unsubscribe(tx: WriteTransaction, subscriber_id: str, *, qkey: str | None, now: datetime) -> None:
    """From everything, or from one qkey. Unsubscribing twice is not an error (one-click links)."""
    subscriber = _by_id(tx, subscriber_id)
    if qkey is None:
        if tx.execute(Q.unsubscribe_all, {"subscriber_id": subscriber_id, "now": to_db(now)}):
            messages.record_event(tx, subscriber["contact_id"], f"{UNSUBSCRIBED}: all", now=now)
        return
    state = tx.fetch_one(Q.subscription_state, {"subscriber_id": subscriber_id, "qkey": qkey})
    if state is None:
        raise NotFound(f"Subscriber {subscriber_id} has no subscription to {qkey}.")
    tx.execute(Q.unsubscribe_qkey, {"subscriber_id": subscriber_id, "qkey": qkey, "now": to_db(now)})
    if state["unsubscribed_at"] is None:
        messages.record_event(tx, subscriber["contact_id"], f"{UNSUBSCRIBED}: {qkey}", now=now)


@writes
def move_contact(tx: WriteTransaction, from_id: int, to_id: int) -> int:
    """Contact `from_id`'s subscribers become contact `to_id`'s (a merge of two accounts that are
    one person); returns how many moved. Their addresses stay as they are."""
    return tx.execute(Q.move_subscribers, {"from_id": from_id, "to_id": to_id, "now": to_db(utc_now())})

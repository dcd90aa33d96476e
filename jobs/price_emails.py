"""Price-change emails (seed 001, "Отправка писем"): find the subscriptions whose direction's
minimum price changed since the subscriber was last told, queue one email per change, send them.

A change is the direction's newest price (its latest `day`) against a baseline: the price of the
last price email sent to that subscription, else the price it started with (the direction's price
when it was made, or its first price after), else the direction's price on the previous day.
Each email is a pending `messages` row whose payload holds seed 001's `content` structure; its
dedupe key (`price:{subscription_id}:{day}:{price}:{currency}`) means a re-run, a second command
or a concurrent server job never makes a second email for the same change. Sending belongs to the
email delivery engine (jobs/email_channel.py); this module never talks SMTP and never retries.
Before looking for changes, `send_emails` asks the passport email lookup (if there is one) about
passport subscribers whose email is not known yet (jobs/passport_emails.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel.dates import format_date

from jobs.delivery import DeliveryEngine, DeliverySummary, Progress
from jobs.passport_emails import LookupSummary, find_passport_emails
from server.directions import Direction, QkeyError, parse_qkey
from server.gateways.passport_email import PassportEmailLookup
from server.links import unsubscribe_by_direction_link, unsubscribe_by_direction_page_link
from server.timeutil import to_db, utc_now
from storage import emails
from storage.db import Database

log = logging.getLogger("herald.price_emails")

INSERT_BATCH = 1000


@dataclass(frozen=True)
class SendSummary:
    queued: int
    delivery: DeliverySummary
    passports: LookupSummary | None = None

    def __str__(self) -> str:
        looked_up = f"{self.passports}; " if self.passports else ""
        return f"{looked_up}{self.queued} price emails queued; {self.delivery.describe('emails')}"


async def send_emails(
    db: Database,
    outbox: DeliveryEngine,
    *,
    public_url: str,
    now: datetime | None = None,
    only_email: str | None = None,
    progress: Progress | None = None,
    passport_emails: PassportEmailLookup | None = None,
) -> SendSummary:
    """`send_emails` / `send_email_to EMAIL`: with `passport_emails`, find the emails of passport
    subscribers that have none yet (not for `only_email`); queue the price changes (of
    `only_email` alone if given), then deliver every email due (to that address alone).
    `progress` follows delivery."""
    passports = None
    if passport_emails is not None and only_email is None:
        passports = await find_passport_emails(db, passport_emails, now=now)
    queued = await queue_price_emails(db, public_url=public_url, now=now, only_email=only_email)
    delivery = await outbox.deliver_due(only_to=only_email, progress=progress)
    return SendSummary(queued, delivery, passports)


async def queue_price_emails(
    db: Database,
    *,
    public_url: str,
    now: datetime | None = None,
    only_email: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Insert a pending price email for every change not emailed yet; returns how many were
    created. Pending price emails whose price is no longer current are cancelled first."""
    now = now or utc_now()
    only_email = normalise_address(only_email)
    for row in await emails.cancel_superseded(db, now, only_email):
        log.info("price email superseded by a newer price",
                 extra={"message_id": row["id"], "subscriber_id": row["subscriber_id"]})
    changes = await emails.price_changes(db, only_email)
    if progress is not None:
        progress.reset(total=len(changes))
    created = 0
    for start in range(0, len(changes), INSERT_BATCH):
        chunk = changes[start:start + INSERT_BATCH]
        created += await emails.insert_price_emails(
            db, [price_email_row(change, public_url, now) for change in chunk])
        if progress is not None:
            progress.update(len(chunk))
    if changes:
        log.info("%d price emails queued for %d changes", created, len(changes))
    return created


def normalise_address(address: str | None) -> str | None:
    return address.strip().lower() if address else None


def price_email_row(change: sqlite3.Row, public_url: str, now: datetime) -> dict[str, Any]:
    """The `messages` row of one change (see storage/emails.py insert_price_emails)."""
    payload = {
        "kind": "price_change",
        "to": change["email"],
        "subscriber_id": change["subscriber_id"],
        "subscription_id": change["subscription_id"],
        "price": change["price"],
        "currency": change["currency"],
        "list_unsubscribe": unsubscribe_by_direction_link(public_url, change["subscriber_id"], change["qkey"]),
        "content": price_content(change, read_details(change["details"]), public_url),
    }
    return {"contact_id": change["contact_id"], "payload": json.dumps(payload, ensure_ascii=False),
            "dedupe_key": change["dedupe_key"], "now": to_db(now)}


def read_details(text: str | None) -> dict[str, Any]:
    """The price index's details JSON, or {} when it is missing or not an object."""
    try:
        details = json.loads(text) if text else {}
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def price_content(change: sqlite3.Row, details: dict[str, Any], public_url: str) -> dict[str, Any]:
    """Seed 001's `content`: what the price-change template is rendered from."""
    price, currency = change["price"], change["currency"]
    min_price = _object(details.get("min_price"))
    direction = _direction(_text(min_price.get("qkey")), change["qkey"])
    content: dict[str, Any] = {
        "diff": round(price - change["old_price"], 2),
        "point_from": _point_name(details.get("point_from")) or (direction and direction.point_from),
        "point_to": _point_name(details.get("point_to")) or (direction and direction.point_to),
        "date_forward": genitive(direction.date_forward) if direction else None,
    }
    if direction and direction.date_backward:
        content["date_backward"] = genitive(direction.date_backward)
    content.update({
        "price": price,
        "currency": currency,
        "old_price": change["old_price"],
        "old_currency": change["old_currency"],
        "unsubscribe_by_direction_link": unsubscribe_by_direction_page_link(
            public_url, change["subscriber_id"], change["qkey"]),
        "avia_search_link": _text(details.get("avia_search_link")),
        "calendar_link": _text(details.get("calendar_link")),
        "min_price_variant_data": {
            "forward": _object(min_price.get("forward")),
            "backward": _object(min_price.get("backward")),
            "price": _number(min_price.get("price"), price),
            "currency": _text(min_price.get("currency")) or currency,
            "order_link": _text(min_price.get("order_link")),
        },
        "popular_section_variants_data": _object(details.get("popular_section_variants_data")),
        "other_data": _object(details.get("other_data")),
    })
    return content


@lru_cache(maxsize=1024)
def genitive(day: date) -> str:
    """2018-05-12 -> '12 мая'."""
    return format_date(day, "d MMMM", locale="ru")


def _direction(cheapest_qkey: str | None, subscribed_qkey: str) -> Direction | None:
    """The trip of the cheapest variant, else the subscribed one; None if neither parses."""
    for qkey in (cheapest_qkey, subscribed_qkey):
        if qkey:
            try:
                return parse_qkey(qkey)
            except QkeyError:
                continue
    return None


def _point_name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("title") or value.get("name")
    return _text(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any, default: float) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default

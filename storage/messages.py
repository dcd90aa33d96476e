"""The message log: the one writer of `messages`, whatever the family or channel.

Verbs: enqueue (one message, many, a mailing's fan-out, a contact joining running mailings),
claim what is due (a mailing's, or a channel's outside mailings), record outcomes in batches, put
in-flight messages back after a restart, cancel, expire, and read a contact's history across
channels; and for the CRM: log a state change (`record_event`, channel `system`), what a person
sent, read marks, and moving a contact's messages to another in a merge. Other storage modules call these inside their own write functions when one transaction
must change both (`messages.enqueue(tx, ...)`); called with the Database, each is a write of its
own. Nothing here renders, sends or decides about retries; payloads go in and out as JSON text.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from server.timeutil import from_db, to_db, utc_now
from storage.db import Database, Reads, WriteTransaction, reads, writes
from storage.sql import Q

STATUSES = ("pending", "sending", "sent", "failed", "expired", "cancelled")
HISTORY_PAGE = 50
_NO_KEY = 2**63 - 1  # `before` of a history's first page: after every id

# Given a claim's due rows, the ids of those to cancel instead of sending, with the reason why.
Hold = Callable[[WriteTransaction, list[sqlite3.Row]], Mapping[int, str]]


@dataclass(frozen=True)
class Claim:
    """One claim: rows now `sending` and rows cancelled instead (each: id, mailing_id, contact_id,
    attempts, body, payload, and the contact's phone_number, email and timezone)."""

    sending: list[sqlite3.Row]
    cancelled: list[sqlite3.Row]


def _now() -> str:
    return to_db(utc_now())


def _ids(ids: Iterable[int]) -> str:
    return orjson.dumps(list(ids)).decode()


# -- enqueue --------------------------------------------------------------------------------


@writes
def enqueue(tx: WriteTransaction, channel: str, contact_id: int | None, *, body: str | None = None,
            payload: str | None = None, mailing_id: int | None = None, sender: str | None = None,
            dedupe_key: str | None = None, now: datetime | None = None) -> int | None:
    """Queue one outgoing message, due `now` (default: when it is written); returns its id. A
    message that must exist once (same `dedupe_key`, or same mailing and contact) is not made
    twice: None then, unless the existing one was cancelled, which is due again with this body
    and payload."""
    return tx.fetch_value(Q.enqueue_message, {
        "channel": channel, "contact_id": contact_id, "body": body, "payload": payload,
        "mailing_id": mailing_id, "sender": sender, "dedupe_key": dedupe_key,
        "now": to_db(now) if now is not None else _now()})


@writes
def enqueue_many(tx: WriteTransaction, channel: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """`enqueue` for each row (contact_id, and any of body, payload, mailing_id, sender,
    dedupe_key, now as UTC text), in the caller's transaction; returns how many were created or
    made due again."""
    now = _now()
    defaults = {"channel": channel, "body": None, "payload": None, "mailing_id": None, "sender": None,
                "dedupe_key": None, "now": now}
    # Counted by what each statement returns: total_changes() would count the triggers' rows too.
    return sum(tx.fetch_value(Q.enqueue_message, {**defaults, **row}) is not None for row in rows)


@writes
def enqueue_mailing(tx: WriteTransaction, mailing_id: int, *, channel: str = "sms",
                    contacts: tuple[int, int] | None = None) -> int:
    """A mailing's fan-out: one message per recipient (of those whose contact id is in the
    half-open range `contacts` = (after, upto], if given), in one set-based statement; returns how
    many were created (or revived)."""
    after, upto = contacts or (None, None)
    return tx.execute(Q.enqueue_mailing, {"id": mailing_id, "channel": channel, "now": _now(),
                                          "after": after, "upto": upto})


@writes
def follow_mailings(tx: WriteTransaction, contact_id: int, *, joined_only: bool = False,
                    channel: str = "sms") -> None:
    """A contact new or changed while mailings run: it joins the running ones it now matches and
    (unless `joined_only`, for a new contact) leaves, unsent, those it no longer matches."""
    now = _now()
    if not joined_only:
        tx.execute(Q.cancel_unmatched_for_contact, {"id": contact_id, "now": now})
    tx.execute(Q.enqueue_for_contact, {"id": contact_id, "channel": channel, "now": now})


EVENT_CHANNEL = "system"


@writes
def record_event(tx: WriteTransaction, contact_id: int, text: str, *, sender: str | None = None,
                 now: datetime | None = None) -> int:
    """Log a state change of the contact's ("Subscribed to price alerts: MOW-LED", "Tag added:
    vip", "Order 7 created") as a done message of channel `system`, in the caller's transaction;
    returns its id. The CRM shows it as a SYSTEM_MESSAGE. `sender`: who made the change, if
    anyone did (`user:<platform user id>`); `now`: when it happened (default: when it is written)."""
    return tx.fetch_value(Q.insert_event, {"contact_id": contact_id, "body": text, "sender": sender,
                                           "now": to_db(now) if now is not None else _now()})


def chat_templates_held(tx: WriteTransaction, contact_ids: Iterable[int], templates: Container[int]) -> dict[int, set[int]]:
    """The chatbot templates among `templates` that each contact holds (given and not failed;
    storage/chat.py): {contact id: template ids}; a contact who holds none is left out."""
    return {contact_id: {template_id for template_id in map(int, ids.split(",")) if template_id in templates}
            for contact_id, ids in tx.fetch_all(Q.chat_templates_of_contacts, {"contacts": _ids(contact_ids)})}


def enqueue_chat(tx: WriteTransaction, sender: str, rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """The chatbot's messages from `sender`, one per row (contact_id, body, payload as JSON text,
    dedupe_key), in one statement, as `enqueue` makes them; returns the dedupe keys written (a key
    another message holds is not)."""
    written = tx.fetch_all(Q.enqueue_chat_messages, {"rows": orjson.dumps(list(rows)).decode(),
                                                     "sender": sender, "now": _now()})
    return {row[0] for row in written}


@dataclass(frozen=True)
class ChatReport:
    """What the site says of one chatbot message it was to send."""

    contact_id: int
    sender: str
    body: str
    site_message_id: int
    sent: bool
    at: datetime
    errors: str | None  # JSON text


def report_chat(tx: WriteTransaction, report: ChatReport) -> tuple[str, dict[str, Any] | None] | None:
    """Mark the pending chatbot message the report is about `sent` or `failed`. Returns its status
    and, when this report changed it, its payload (a report already recorded changes nothing:
    its status and None); None when no message matches."""
    where = {"contact_id": report.contact_id, "site_id": report.site_message_id}
    done = tx.fetch_one(Q.chat_message_reported, where)
    if done is not None:
        return done["status"], None
    found = tx.fetch_one(Q.chat_message_pending, {**where, "sender": report.sender, "body": report.body})
    if found is None:
        return None
    status = "sent" if report.sent else "failed"
    tx.execute(Q.report_chat_message, {
        "id": found["id"], "status": status, "sent_at": to_db(report.at) if report.sent else None,
        "errors": None if report.sent else report.errors, "site_id": report.site_message_id, "now": _now()})
    return status, json.loads(found["payload"] or "{}")


# -- cancel ----------------------------------------------------------------------------------


@writes
def cancel(tx: WriteTransaction, *, ids: Iterable[int] | None = None, mailing_id: int | None = None,
           contact_id: int | None = None, reason: str | None = None, now: datetime | None = None) -> int:
    """Cancel the pending messages among `ids`, or of a mailing, or of a contact (one of them);
    `reason` becomes their last_error. Returns how many were cancelled."""
    params = {"reason": reason, "now": to_db(now) if now is not None else _now()}
    if ids is not None:
        return tx.execute(Q.cancel_messages, {**params, "ids": _ids(ids)})
    if mailing_id is not None:
        return tx.execute(Q.cancel_mailing_messages, {**params, "id": mailing_id})
    if contact_id is not None:
        return tx.execute(Q.cancel_contact_messages, {**params, "id": contact_id})
    raise TypeError("cancel() needs ids, mailing_id or contact_id")


@writes
def cancel_unmatched(tx: WriteTransaction, mailing_id: int) -> int:
    """Cancel the mailing's pending messages to contacts its filters no longer match."""
    return tx.execute(Q.cancel_unmatched_of_mailing, {"id": mailing_id, "now": _now()})


@writes
def expire_ended(tx: WriteTransaction, now: datetime) -> Counter[int]:
    """Expire what ended mailings left unsent; how many per mailing."""
    return Counter(row[0] for row in tx.fetch_all(Q.expire_ended, {"now": to_db(now)}))


# -- deliver ---------------------------------------------------------------------------------


@writes
def claim_due(tx: WriteTransaction, channel: str, now: datetime, limit: int, *, mailing_id: int | None = None,
              zones: list[str] | None = None, to: str | None = None, hold: Hold | None = None) -> Claim:
    """Up to `limit` messages due at `now`, now `sending`: the mailing's (to live contacts in
    `zones`, or any zone if None) if `mailing_id` is given, else the channel's that belong to no
    mailing, oldest first (addressed to `to` alone, if given). Those `hold` names are cancelled
    instead, in the same transaction."""
    stamp = to_db(now)
    if mailing_id is not None:
        rows = tx.fetch_all(Q.due_messages_of_mailing, {
            "mailing_id": mailing_id, "zones": None if zones is None else json.dumps(zones),
            "now": stamp, "limit": limit})
    else:
        rows = tx.fetch_all(Q.due_messages_of_channel, {"channel": channel, "to": to, "now": stamp,
                                                        "limit": limit})
    held = hold(tx, rows) if hold is not None and rows else {}
    sending = [row for row in rows if row["id"] not in held]
    cancelled = [row for row in rows if row["id"] in held]
    if sending:
        tx.execute(Q.mark_sending, {"ids": _ids(row["id"] for row in sending), "now": stamp})
    for reason in set(held.values()):
        tx.execute(Q.cancel_messages, {"ids": _ids(i for i, why in held.items() if why == reason),
                                       "reason": reason, "now": stamp})
    return Claim(sending, cancelled)


@writes
def record_outcomes(tx: WriteTransaction, results: list[dict[str, Any]], *, refilter: Iterable[int] = ()) -> None:
    """Each result: id, status, tried, body, sent_at, next_attempt_at, last_error, now (a message
    no longer `sending` is left alone).

    `refilter`: mailings some of whose messages were taken back unsent after their filters changed;
    those back in `pending` that the new filters no longer match are cancelled.
    """
    tx.execute_many(Q.record_send_result, results)
    for mailing_id in refilter:
        cancel_unmatched(tx, mailing_id)


@reads
def minutes_since(conn: Reads, since: datetime) -> list[dict[str, Any]]:
    """What the engines did per minute from `since` on (message_minutes): minute, channel,
    outcome (sent, failed, retried), count, last_error."""
    return [dict(row) for row in conn.fetch_all(Q.message_minutes_since, {"since": to_db(since)[:16]})]


@writes
def retry_failed(tx: WriteTransaction, mailing_id: int, now: datetime) -> int:
    """The failed messages of a mailing not ended yet, pending again with fresh attempts; how many."""
    return tx.execute(Q.retry_failed_of_mailing, {"id": mailing_id, "now": to_db(now)})


@writes
def put_back(tx: WriteTransaction, channel: str, now: datetime) -> int:
    """After a crash: the channel's messages left `sending` are due again (to be resent with the
    same id), or cancelled if their mailing was deleted meanwhile. Returns how many."""
    return tx.execute(Q.put_back_in_flight, {"channel": channel, "now": to_db(now)})


async def count_due(db: Database, channel: str, now: datetime, *, to: str | None = None) -> int:
    """How many of the channel's messages outside mailings are due at `now` (to `to` alone)."""
    return await db.slow.fetch_value(Q.count_due_of_channel, {"channel": channel, "now": to_db(now), "to": to})


async def next_due(db: Database, channel: str, *, mailing_id: int | None = None,
                   after: datetime | None = None) -> datetime | None:
    """When the earliest pending message of the mailing (or of the channel, outside mailings)
    falls due, later than `after` if given (else possibly already); None if there is none."""
    bound = to_db(after) if after is not None else ""
    if mailing_id is not None:
        value = await db.fetch_value(Q.next_due_of_mailing, {"mailing_id": mailing_id, "after": bound})
    else:
        value = await db.fetch_value(Q.next_due_of_channel, {"channel": channel, "after": bound})
    return from_db(value)


# -- read ------------------------------------------------------------------------------------


async def history(db: Database, contact_id: int, *, before: int | None = None,
                  limit: int = HISTORY_PAGE) -> list[dict[str, Any]]:
    """The contact's messages on every channel, newest first (in the order they were recorded),
    `limit` of them after the message `before` (the last id of the previous page; None for the
    first page). Each page is one range of an index, so the last page costs what the first does;
    it is read on the thread reader all the same, so that a long page never stalls the loop.
    Each: id, channel, direction, status, mailing_id, sender, body, payload (JSON text),
    attempts, last_error, created_at, sent_at, updated_at (UTC text)."""
    return await db.slow.fetch_all(Q.contact_history, {
        "contact_id": contact_id, "before": _NO_KEY if before is None else before, "limit": limit})


# -- the CRM's history of an account (seed 002) ----------------------------------------------


@reads
def is_account(conn: Reads, contact_id: int) -> bool:
    """Whether the contact is a CRM account: live, and not a chatbot sender profile."""
    return conn.fetch_value(Q.live_account, {"id": contact_id}) is not None


@reads
def account_history(conn: Reads, contact_id: int, *, limit: int,
                    offset: int) -> tuple[int, int, orjson.Fragment] | None:
    """(how many messages the account's history holds, how many are on this page, the page newest
    first as the JSON array the CRM answers with); None when there is no such account. The history is every message
    but the cancelled ones; the page is ids from one index range, then their rows, so the last
    page of a long history costs what the first does (both run inline: a page is 100 rows at most)."""
    if not is_account(conn, contact_id):
        return None
    # Past the middle, from the oldest end; the statement itself reads the count it pages by.
    past_middle = offset * 2 > conn.fetch_value(Q.account_history_total, {"contact_id": contact_id})
    query = Q.account_history_page_from_oldest if past_middle else Q.account_history_page
    page = conn.fetch_one(query, {"contact_id": contact_id, "limit": limit, "offset": offset})
    return page["total"], page["count"], orjson.Fragment(page["items"])


@reads
def history_item(conn: Reads, message_id: int) -> dict[str, Any] | None:
    """One message as the CRM's history shows it."""
    item = conn.fetch_value(Q.account_history_item, {"id": message_id})
    return None if item is None else orjson.loads(item)


@reads
def last_message_at(conn: Reads, contact_id: int) -> str | None:
    """When the newest message of the contact's history was recorded (UTC text), or None."""
    return conn.fetch_value(Q.account_last_message_at, {"contact_id": contact_id})


@writes
def record_incoming(tx: WriteTransaction, contact_id: int, channel: str, text: str) -> int:
    """What the person sent on `channel`: in the log as received (direction 'in', status 'sent'),
    unread; returns its id."""
    return tx.fetch_value(Q.insert_incoming, {"contact_id": contact_id, "channel": channel, "body": text,
                                              "now": _now()})


@writes
def mark_read(tx: WriteTransaction, contact_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the contact's incoming messages among `ids` (all of them if None) read; how many were
    unread. Ids of other contacts' messages, or of what went out, change nothing."""
    if ids is None:
        return tx.execute(Q.mark_read_all, {"contact_id": contact_id, "now": _now()})
    return tx.execute(Q.mark_read_ids, {"contact_id": contact_id, "ids": _ids(ids), "now": _now()})


@writes
def move_contact(tx: WriteTransaction, from_id: int, to_id: int) -> int:
    """Make every message of contact `from_id` one of `to_id` (a merge of two accounts that are one
    person); returns how many moved. Where both got the same mailing, one message is kept (the
    one that got further); a chatbot template both were given stays given once."""
    tx.execute(Q.drop_duplicate_mailing_messages, {"from_id": from_id, "to_id": to_id})
    tx.execute(Q.rekey_moved_chat_messages, {"from_id": from_id, "from_key": f":{from_id}", "to_key": f":{to_id}"})
    return tx.execute(Q.move_contact_messages, {"from_id": from_id, "to_id": to_id})


@writes
def record_reply(tx: WriteTransaction, contact_id: int, channel: str, text: str, *, sender: str,
                 sent_by_herald: bool) -> int:
    """An operator's reply, pending; returns its id. `sent_by_herald`: due now, for the channel's
    engine to claim (SMS); else it waits for the channel's integration and no engine claims it."""
    now = _now()
    return tx.fetch_value(Q.insert_reply, {"contact_id": contact_id, "channel": channel, "body": text,
                                           "sender": sender, "due_at": now if sent_by_herald else None, "now": now})


# -- the PBX's SMS (telephony) -------------------------------------------------------------


@writes
def log_pbx_sms(tx: WriteTransaction, contact_id: int | None, text: str, *, accepted: bool,
                payload: Mapping[str, Any], sender: str | None = None) -> int:
    """An SMS sent through the PBX (telephony's /send_sms), as it left: `sent` when the PBX
    accepted it (its result may still make it failed, `pbx_sms_outcome`), else `failed`. No
    engine claims it: the PBX does the sending."""
    return tx.fetch_value(Q.insert_pbx_sms, {"contact_id": contact_id, "body": text,
                                             "status": "sent" if accepted else "failed",
                                             "payload": orjson.dumps(dict(payload)).decode(), "sender": sender,
                                             "now": _now()})


@writes
def pbx_sms_outcome(tx: WriteTransaction, message_id: int, *, ok: bool, code: int | None, what: str,
                    error: str | None = None) -> None:
    """What the PBX said later of an SMS (`what`: `result`, its result/sms code, or `delivery`, the
    reason of events/sms): kept in its payload; it is failed unless `ok`."""
    tx.execute(Q.pbx_sms_outcome, {"id": message_id, "ok": ok, "error": error, "key": f"$.{what}", "code": code,
                                   "now": _now()})


@writes
def pbx_try_outcome(tx: WriteTransaction, message_id: int, attempt: int, *, ok: bool, code: int | None,
                    error: str | None = None) -> None:
    """The PBX's result of the `attempt`-th try at an SMS the SMS engine sends (a mailing's, a
    reply): a success makes it sent, once, whatever became of it meanwhile (a late result of an
    earlier try counts: the SMS did go); a failure fails it only while it waits on that very try
    (a later try decides otherwise). The code is kept in its payload."""
    tx.execute(Q.pbx_try_outcome, {"id": message_id, "attempt": attempt, "ok": ok, "code": code,
                                   "error": error, "now": _now()})


@writes
def pbx_report(tx: WriteTransaction, message_id: int, what: str, code: int) -> None:
    """Keep what the PBX said of an SMS (`what`: `delivery`, the reason of events/sms) in its
    payload, its status as it is."""
    tx.execute(Q.pbx_report, {"id": message_id, "key": f"$.{what}", "code": code, "now": _now()})

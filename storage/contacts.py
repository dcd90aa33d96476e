"""The contact directory: the one writer of `contacts` and `contact_tags`, whatever the family.

A contact is a person as every family sees them: phone number (and its operator code), email,
name, time zone, tags, where it came from (`source`), its ids in other systems (`external_ids`,
e.g. {"victoriabrides": "123"}) and the family's own `attributes` (both JSON objects). One phone
number, and one email, belong to one live contact at most: a family that meets a person by an
address already known finds that contact (`find_by_email`, `find_or_create_by_email`) instead of
making another. Emails are kept lower-cased. A family's shape of a contact ("client", "account")
is built in its handlers, not here.

Every change of a contact's tags (on create, `update`, `set_tags`, `add_tags`, `remove_tags`)
is logged in its history as a state change, "Tag added: vip" / "Tag removed: vip"
(messages.record_event), whichever family made it.

A running mailing reaches the contacts that match it while it runs: creating a contact or
changing its phone, operator code or tags adds it to the running mailings it now matches and
cancels its unsent messages of those it no longer matches (storage/messages.py). Deleting a
contact marks it deleted (its messages stay in the log) and cancels what was still waiting to be
sent to it.

Writes are `@writes` functions: `await contacts.create(db, ...)`, or `contacts.create(tx, ...)`
inside another module's write. Duplicates raise `Taken`, which callers turn into their family's
error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from server.errors import Conflict
from server.timeutil import to_db, utc_now
from storage import messages
from storage.db import Database, Reads, WriteTransaction, reads, writes
from storage.sql import Q

FIELDS = ("phone_number", "operator_code", "email", "name", "timezone", "tags", "source", "external_ids",
          "attributes", "bot_status", "gender", "locale")
BOT_STATUSES = ("BOT", "ADMIN")  # the CRM's botStatus: a bot answers the account, or a person does
_MAILING_FIELDS = {"phone_number", "operator_code", "tags"}  # what decides which mailings reach a contact


class Taken(Conflict):
    """Another live contact has this phone number or email (`field`); `contact_id` is that one."""

    def __init__(self, field: str, contact_id: int) -> None:
        super().__init__(f"Another contact has this {field}.", field=field)
        self.field = field
        self.contact_id = contact_id


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email is not None else None


def _tags(tags: Iterable[str]) -> str:
    if isinstance(tags, str):
        raise TypeError("tags are a list of strings, not one string")
    return json.dumps(sorted({tag.strip() for tag in tags if tag.strip()}), ensure_ascii=False)


def _object(value: dict[str, Any] | None, name: str) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a JSON object (a dict), not {type(value).__name__}")
    return orjson.dumps(value).decode()


def _check_free(tx: Reads, field: str, value: str | None, contact_id: int | None) -> None:
    if value is None:
        return
    query = Q.contact_id_by_phone if field == "phone_number" else Q.contact_id_by_email
    owner = tx.fetch_value(query, {field: value})
    if owner is not None and owner != contact_id:
        raise Taken(field, owner)


def _now() -> str:
    return to_db(utc_now())


def _tags_of(tx: Reads, contact_id: int) -> set[str]:
    return {row[0] for row in tx.fetch_all(Q.tags_of_contact, {"id": contact_id})}


def _log_tag_changes(tx: WriteTransaction, contact_id: int, before: set[str], after: set[str]) -> None:
    for tag in sorted(after - before):
        messages.record_event(tx, contact_id, f"Tag added: {tag}")
    for tag in sorted(before - after):
        messages.record_event(tx, contact_id, f"Tag removed: {tag}")


# -- reads -----------------------------------------------------------------------------------


@reads
def get(conn: Reads, contact_id: int) -> dict[str, Any] | None:
    """The live contact: id, phone_number, operator_code, email, name, timezone, tags (sorted),
    source, external_ids, attributes, bot_status, gender, locale, created_at, updated_at; None if
    there is none."""
    row = conn.fetch_one(Q.contact_by_id, {"id": contact_id})
    if row is None:
        return None
    contact = dict(row)
    for key in ("tags", "external_ids", "attributes"):
        contact[key] = orjson.loads(contact[key])
    return contact


@reads
def find_by_phone(conn: Reads, phone_number: str) -> dict[str, Any] | None:
    contact_id = conn.fetch_value(Q.contact_id_by_phone, {"phone_number": phone_number})
    return None if contact_id is None else get(conn, contact_id)


@reads
def find_by_email(conn: Reads, email: str) -> dict[str, Any] | None:
    contact_id = conn.fetch_value(Q.contact_id_by_email, {"email": normalise_email(email)})
    return None if contact_id is None else get(conn, contact_id)


# The systems whose ids a contact is found by (each has its index; migrations 0011).
_BY_EXTERNAL_ID = {"victoriabrides": Q.contact_id_by_victoriabrides_id, "mango": Q.contact_id_by_mango_number}


@reads
def find_id_by_external_id(conn: Reads, system: str, external_id: str) -> int | None:
    """The id of the live contact whose id in `system` (a key of `external_ids`) is `external_id`."""
    return conn.fetch_value(_BY_EXTERNAL_ID[system], {"external_id": external_id})


async def timezones(db: Database) -> list[str]:
    """Every zone some contact is in (a scan: read off the event loop)."""
    return [row["timezone"] for row in await db.slow.fetch_all(Q.contact_timezones)]


# -- writes ----------------------------------------------------------------------------------


@writes
def create(tx: WriteTransaction, *, phone_number: str | None = None, operator_code: str | None = None,
           email: str | None = None, name: str | None = None, timezone: str = "UTC", tags: Iterable[str] = (),
           source: str | None = None, external_ids: dict[str, Any] | None = None,
           attributes: dict[str, Any] | None = None, bot_status: str = "BOT", gender: str | None = None,
           locale: str | None = None) -> int:
    """A new contact; returns its id. Raises Taken if its phone number or email is another's."""
    email = normalise_email(email)
    _check_free(tx, "phone_number", phone_number, None)
    _check_free(tx, "email", email, None)
    contact_id = tx.fetch_value(Q.insert_contact, {
        "phone_number": phone_number, "operator_code": operator_code, "email": email, "name": name,
        "timezone": timezone, "source": source, "external_ids": _object(external_ids, "external_ids"),
        "attributes": _object(attributes, "attributes"), "bot_status": bot_status, "gender": gender,
        "locale": locale, "now": _now()})
    if tags:
        tx.execute(Q.insert_tags, {"id": contact_id, "tags": _tags(tags)})
        _log_tag_changes(tx, contact_id, set(), _tags_of(tx, contact_id))
    if phone_number is not None:
        messages.follow_mailings(tx, contact_id, joined_only=True)
    return contact_id


@writes
def find_or_create_by_email(tx: WriteTransaction, email: str, **fields: Any) -> int:
    """The id of the live contact that has `email`, else of a new one with it (and `fields`)."""
    found = tx.fetch_value(Q.contact_id_by_email, {"email": normalise_email(email)})
    return found if found is not None else create(tx, email=email, **fields)


@writes
def upsert_by_external_id(tx: WriteTransaction, system: str, external_id: str, *, name: str | None,
                          source: str, attributes: dict[str, Any]) -> int:
    """The id of the live contact known in `system` as `external_id`, its name and `attributes`
    (merged over what it had) brought up to date; else of a new one with them."""
    found = find_id_by_external_id(tx, system, external_id)
    if found is None:
        return create(tx, name=name, source=source, external_ids={system: external_id}, attributes=attributes)
    current = get(tx, found)
    merged = {**current["attributes"], **attributes}
    if current["name"] != name or merged != current["attributes"]:
        update(tx, found, name=name, attributes=merged)
    return found


@writes
def update(tx: WriteTransaction, contact_id: int, /, **changes: Any) -> dict[str, Any] | None:
    """Replace the fields given (any of FIELDS; `tags` replaces the whole set); returns the contact
    as `get` does, or None when there is no such live contact. Raises Taken as `create` does."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"not contact fields: {', '.join(sorted(unknown))}")
    current = get(tx, contact_id)
    if current is None:
        return None
    if "email" in changes:
        changes["email"] = normalise_email(changes["email"])
    new = {**current, **changes}
    for field in ("phone_number", "email"):
        if field in changes:
            _check_free(tx, field, new[field], contact_id)
    tx.execute(Q.update_contact, {
        **{key: new[key] for key in FIELDS if key not in ("tags", "external_ids", "attributes")},
        "external_ids": _object(new["external_ids"], "external_ids"),
        "attributes": _object(new["attributes"], "attributes"), "id": contact_id, "now": _now()})
    if "tags" in changes:
        tx.execute(Q.delete_tags, {"id": contact_id})
        tx.execute(Q.insert_tags, {"id": contact_id, "tags": _tags(changes["tags"])})
        _log_tag_changes(tx, contact_id, set(current["tags"]), _tags_of(tx, contact_id))
    if changes.keys() & _MAILING_FIELDS:
        messages.follow_mailings(tx, contact_id)
    return get(tx, contact_id)


def _change_tags(tx: WriteTransaction, contact_id: int, query: str | None, tags: Iterable[str]) -> bool:
    if not tx.execute(Q.touch_contact, {"id": contact_id, "now": _now()}):
        return False
    before = _tags_of(tx, contact_id)
    if query is None:
        tx.execute(Q.delete_tags, {"id": contact_id})
        query = Q.insert_tags
    tx.execute(query, {"id": contact_id, "tags": _tags(tags)})
    _log_tag_changes(tx, contact_id, before, _tags_of(tx, contact_id))
    messages.follow_mailings(tx, contact_id)
    return True


@writes
def set_tags(tx: WriteTransaction, contact_id: int, tags: Iterable[str]) -> bool:
    """Replace the contact's tags; False when there is no such live contact."""
    return _change_tags(tx, contact_id, None, tags)


@writes
def add_tags(tx: WriteTransaction, contact_id: int, tags: Iterable[str]) -> bool:
    return _change_tags(tx, contact_id, Q.insert_tags, tags)


@writes
def remove_tags(tx: WriteTransaction, contact_id: int, tags: Iterable[str]) -> bool:
    return _change_tags(tx, contact_id, Q.remove_tags, tags)


@writes
def delete(tx: WriteTransaction, contact_id: int) -> bool:
    """Mark the contact deleted and cancel its unsent messages; False when there is none."""
    if not tx.execute(Q.soft_delete_contact, {"id": contact_id, "now": _now()}):
        return False
    messages.cancel(tx, contact_id=contact_id)
    return True


# -- the notification service's list of clients (a read: the page is rendered by SQLite) --------


async def list_clients(
    db: Database, *, limit: int, offset: int, tag: str | None, operator_code: str | None
) -> tuple[int, orjson.Fragment]:
    """The count of matching clients (contacts with a phone number), and one page of them as the
    JSON array of the notification service's client shape."""
    where = {"tag": tag, "operator_code": operator_code}
    count = await db.fetch_value(Q.count_clients, where) or 0
    query = Q.list_clients if tag is None else Q.list_clients_tagged
    page = await db.fetch_value(query, {**where, "limit": limit, "offset": offset})
    return count, orjson.Fragment(page)


# -- merging two contacts that are one person (storage/merge.py) -------------------------------


@writes
def merge_into(tx: WriteTransaction, contact_id: int, other_id: int) -> int:
    """Contact `other_id` turns out to be `contact_id`: the other is deleted (its messages must
    have moved already: storage/merge.py), and this one gains its tags, its ids in other systems
    and its attributes (this one's win where both have one), and its phone number (with operator
    code and time zone), email, name, gender and locale where this one has none. Returns how many
    tags it gained; 0 too when either is not a live contact."""
    current, other = get(tx, contact_id), get(tx, other_id)
    if current is None or other is None or contact_id == other_id:
        return 0
    tx.execute(Q.soft_delete_contact, {"id": other_id, "now": _now()})  # frees its phone and email
    changes: dict[str, Any] = {}
    if current["phone_number"] is None and other["phone_number"] is not None:
        changes.update({key: other[key] for key in ("phone_number", "operator_code", "timezone")})
    for key in ("email", "name"):
        if current[key] is None and other[key] is not None:
            changes[key] = other[key]
    for key in ("external_ids", "attributes"):
        merged = {**other[key], **current[key]}
        if merged != current[key]:
            changes[key] = merged
    gained = set(other["tags"]) - set(current["tags"])
    if gained:
        changes["tags"] = sorted(set(current["tags"]) | gained)
    if changes:
        update(tx, contact_id, **changes)
    tx.execute(Q.merge_contact_profile, {"id": contact_id, "from_id": other_id})
    return len(gained)

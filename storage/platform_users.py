"""The platform's users (the CRM's `users`): the one writer of `platform_users`.

A platform user is an operator, who writes to accounts by hand (their messages' `sender` is
`user:<id>`, shown as YOUR_MESSAGE), or a chatbot sender profile, a contact of the directory whose
templates the site sends (`contact_id` set; its messages' sender is `contact:<contact id>`).
"""

from __future__ import annotations

from typing import Any

from server.timeutil import to_db, utc_now
from storage.db import Reads, WriteTransaction, reads, writes
from storage.sql import Q


def sender_of(user_id: int) -> str:
    """The `sender` of the messages an operator writes."""
    return f"user:{user_id}"


@writes
def create(tx: WriteTransaction, name: str, *, email: str | None = None, contact_id: int | None = None) -> int:
    """A new platform user; returns its id."""
    return tx.fetch_value(Q.insert_platform_user, {"name": name, "email": email, "contact_id": contact_id,
                                                   "now": to_db(utc_now())})


@writes
def for_contact(tx: WriteTransaction, contact_id: int, name: str | None) -> int:
    """The id of the platform user that is this contact (a chatbot sender profile), made the first
    time and renamed when its name changes."""
    found = tx.fetch_one(Q.platform_user_of_contact, {"contact_id": contact_id})
    name = name or f"Profile {contact_id}"
    if found is None:
        return create(tx, name, contact_id=contact_id)
    tx.execute(Q.rename_platform_user, {"id": found["id"], "name": name, "now": to_db(utc_now())})
    return found["id"]


@reads
def get(conn: Reads, user_id: int) -> dict[str, Any] | None:
    """id, name, email, contact_id, created_at, updated_at; None if there is none."""
    row = conn.fetch_one(Q.platform_user_by_id, {"id": user_id})
    return None if row is None else dict(row)


@reads
def page(conn: Reads, *, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """(how many there are, a page of them newest first)."""
    rows = conn.fetch_all(Q.platform_users_page, {"limit": limit, "offset": offset})
    return conn.fetch_value(Q.platform_users_count), [dict(row) for row in rows]

"""The CRM's accounts (seed 002), read: the list page, its counts, one account's detail, the
platform users who wrote to it, and the free-text search. Nothing here writes: an account's
fields are written by storage/contacts.py, its orders by storage/orders.py.

An account is a live contact that is not a chatbot sender profile (platform_users.contact_id).
Pages are rendered as JSON by SQLite (one string per page). A page without a filter or with one
tag, and its count (migration 0013's account_counts), are indexed reads run inline; a page past
DEEP_OFFSET (OFFSET steps through the index), several tags (counted over their contact_tags
ranges) or a search `q` (a scan of the directory) are read on the thread reader (`db.slow`), so
that they never stall the event loop.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from storage import contacts, orders
from storage.db import Database, Reads, reads
from storage.sql import Q

_NOT_DIGITS = re.compile(r"\D")
_PHONE_LIKE = re.compile(r"^[\d\s()+.-]*\d[\d\s()+.-]*$")  # a search for a phone number (or part of one)
DEEP_OFFSET = 2000  # a page further than this steps through that many index entries: read off the loop
MAX_LINKED_ORDERS = 1000  # an account's detail links its newest orders, up to this many


@dataclass(frozen=True)
class Filter:
    """Which accounts a list asks for: any of `tags` (none: every account), and `q`, a text that
    the name or the email contains (case-insensitive for ASCII letters, as SQLite's LIKE), or, when
    `q` is digits (and + ( ) - . spaces), digits the phone number contains; None: no search."""

    tags: tuple[str, ...] = ()
    q: str | None = None


def _like(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for "contains `text`"."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matching_params(where: Filter) -> dict[str, Any]:
    digits = _NOT_DIGITS.sub("", where.q) if where.q is not None and _PHONE_LIKE.match(where.q) else ""
    return {"tags": json.dumps(list(where.tags)) if where.tags else None,
            "pattern": None if where.q is None else _like(where.q),
            "phone_pattern": _like(digits) if digits else None}


@dataclass(frozen=True)
class Page:
    """How many accounts match (`total`), and one page of them newest first: `size` accounts as
    the JSON array of the list's shape (id, name, tags, from, botStatus, lastMessageTime, createdAt)."""

    total: int
    size: int
    data: orjson.Fragment


_EMPTY = orjson.Fragment(b"[]")


async def page(db: Database, where: Filter, *, limit: int, offset: int) -> Page:
    window = {"limit": limit, "offset": offset}
    if where.q is None and len(where.tags) <= 1:
        tag = where.tags[0] if where.tags else None
        total = await db.fetch_value(Q.count_accounts, {"tag": tag})
        if offset >= total:
            return Page(total, 0, _EMPTY)
        query = Q.accounts_page if tag is None else Q.accounts_page_tagged
        reader = db if offset < DEEP_OFFSET else db.slow
        row = await reader.fetch_one(query, {"tag": tag, **window})
    else:
        params = _matching_params(where)
        count = Q.count_accounts_with_any_tag if where.q is None else Q.count_accounts_matching
        total = await db.slow.fetch_value(count, params)
        if offset >= total:
            return Page(total, 0, _EMPTY)
        row = await db.slow.fetch_one(Q.accounts_page_matching, {**params, **window})
    return Page(total, row["size"], orjson.Fragment(row["page"]))


async def directory_page(db: Database, *, tag: str | None, q: str | None, before: int | None,
                         limit: int) -> list[dict[str, Any]]:
    """Accounts newest first below id `before`, with `tag` and matching `q` as `Filter` reads it
    (the admin UI's contacts; on the thread reader, as a search scans)."""
    params = _matching_params(Filter(q=q))
    rows = await db.slow.fetch_all(Q.directory_page, {"tag": tag, "pattern": params["pattern"],
                                                      "phone_pattern": params["phone_pattern"],
                                                      "before": before or 2**63 - 1, "limit": limit})
    return [{**row, "tags": orjson.loads(row["tags"])} for row in rows]


@reads
def exists(conn: Reads, account_id: int) -> bool:
    return conn.fetch_value(Q.account_exists, {"id": account_id}) is not None


@reads
def detail(conn: Reads, account_id: int) -> dict[str, Any] | None:
    """The account as storage/contacts.py `get` has it, with `last_message_time`, its
    `subscriptions` (qkeys, oldest first), its `contacted_users` (platform users, as
    storage/platform_users.py has them) and its `orders` (newest first, up to MAX_LINKED_ORDERS);
    None if there is no such account."""
    if not exists(conn, account_id):
        return None
    account = contacts.get(conn, account_id)
    account["last_message_time"] = conn.fetch_value(Q.account_last_message_time, {"id": account_id})
    account["subscriptions"] = [row["qkey"] for row in conn.fetch_all(Q.account_subscriptions, {"id": account_id})]
    account["contacted_users"] = [dict(row) for row in conn.fetch_all(Q.account_contacted_users, {"id": account_id})]
    account["orders"] = orders.of_contact(conn, account_id, limit=MAX_LINKED_ORDERS)
    return account


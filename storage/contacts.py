"""Contacts as the notification service sees them: clients with a phone, operator code, tags
and a time zone. The `tag` string is the contact's tags joined by commas.

A running mailing reaches the clients that match it while it runs: creating or editing a client
adds it to the running mailings it now matches and cancels its unsent messages of those it no
longer matches. Deleting a client marks it deleted (its messages stay in the log) and cancels
what was still waiting to be sent to it.
"""

from __future__ import annotations

import json
import sqlite3

import orjson
from typing import Any

from server.errors import BadRequest
from server.timeutil import to_db, utc_now
from storage.db import Connection, Database, WriteTransaction
from storage.sql import Q

DUPLICATE_PHONE = "client with this phone_number already exists."


def split_tags(tag: str) -> list[str]:
    return sorted({part.strip() for part in tag.split(",") if part.strip()})


async def get_client(db: Connection, client_id: int) -> dict[str, Any] | None:
    row = await db.fetch_one(Q.get_client, {"id": client_id})
    return dict(row) if row else None


async def list_clients(
    db: Database, *, limit: int, offset: int, tag: str | None, operator_code: str | None
) -> tuple[int, orjson.Fragment]:
    """The count of matching clients, and one page of them as a JSON array SQLite rendered."""
    where = {"tag": tag, "operator_code": operator_code}
    count = await db.fetch_value(Q.count_clients, where) or 0
    query = Q.list_clients if tag is None else Q.list_clients_tagged
    page = await db.fetch_value(query, {**where, "limit": limit, "offset": offset})
    return count, orjson.Fragment(page)


async def _check_phone_free(tx: Connection, phone_number: str, client_id: int | None) -> None:
    owner = await tx.fetch_value(Q.client_id_by_phone, {"phone_number": phone_number})
    if owner is not None and owner != client_id:
        raise BadRequest.field("phone_number", DUPLICATE_PHONE)


async def _write_tags(tx: Connection, client_id: int, tag: str) -> None:
    await tx.execute(Q.delete_tags, {"id": client_id})
    await tx.execute(Q.insert_tags, {"id": client_id, "tags": json.dumps(split_tags(tag))})


async def _follow_running_mailings(tx: Connection, client_id: int, now: str) -> None:
    await tx.execute(Q.cancel_unmatched_for_client, {"id": client_id, "now": now})
    await tx.execute(Q.fan_out_to_client, {"id": client_id, "now": now})


async def create_client(db: Database, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` as validated (tag already normalised); returns the client as the API shows it."""
    now = to_db(utc_now())

    def insert(tx: WriteTransaction) -> int:
        client_id = tx.fetch_value(Q.insert_client, {**fields, "now": now})
        if tags := split_tags(fields["tag"]):
            tx.execute(Q.insert_tags, {"id": client_id, "tags": json.dumps(tags)})
        tx.execute(Q.fan_out_to_client, {"id": client_id, "now": now})
        return client_id

    try:
        client_id = await db.write(insert)
    except sqlite3.IntegrityError as exc:
        if "contacts.phone_number" in str(exc):
            raise BadRequest.field("phone_number", DUPLICATE_PHONE) from None
        raise
    return {"id": client_id, **{key: fields[key] for key in ("phone_number", "operator_code", "tag", "timezone")}}


async def update_client(db: Database, client_id: int, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Replace the client's fields; None when there is no such client."""
    async with db.transaction() as tx:
        now = to_db(utc_now())
        await _check_phone_free(tx, fields["phone_number"], client_id)
        if not await tx.execute(Q.update_client, {**fields, "id": client_id, "now": now}):
            return None
        await _write_tags(tx, client_id, fields["tag"])
        await _follow_running_mailings(tx, client_id, now)
        return await get_client(tx, client_id)


async def delete_client(db: Database, client_id: int) -> bool:
    async with db.transaction() as tx:
        now = to_db(utc_now())
        if not await tx.execute(Q.soft_delete_client, {"id": client_id, "now": now}):
            return False
        await tx.execute(Q.cancel_client_messages, {"id": client_id, "now": now})
        return True



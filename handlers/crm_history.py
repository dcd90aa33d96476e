"""/api/v1/accounts/{id}/chat-messages and the writes on an account's history: what the person
sent, an operator's reply, read marks, and merging two accounts that are one person.

The history is the account's messages on every channel but the cancelled ones, newest first, in
seed 002's shape plus Herald's `channel` and `status` (storage/messages.py renders it). An
operator's reply to an account with a phone is an SMS for the SMS delivery engine, woken here.
"""

from __future__ import annotations

import logging

from aiohttp import web

from handlers.crm_history_schemas import MergeIn, MessageIn, ReadForm, ReadIn
from jobs import contact_changes
from server.errors import BadRequest
from server.families import paginate
from server.http import read_body, respond, route, validate
from server.keys import DB, DISPATCHER
from storage import account_history, merge, messages
from storage.account_history import AccountNotFound

log = logging.getLogger("herald.crm")


def _account_id(request: web.Request) -> int:
    """The path's account id; one that is not decimal digits (or too big to be one) is unknown."""
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**63 - 1:
        raise AccountNotFound(raw)
    return int(raw)


async def list_messages(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    page = paginate(request)
    found = await messages.account_history(request.app[DB], account_id, limit=page.limit, offset=page.offset)
    if found is None:
        raise AccountNotFound(account_id)
    total, count, items = found
    return respond({"data": items, "meta": {"limit": page.limit, "offset": page.offset,
                                            "filteredCount": count, "totalCount": total}, "status": 1})


async def write_message(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    body = validate(MessageIn, await read_body(request))
    written = await contact_changes.write_message(
        request.app[DB], request.app[DISPATCHER], account_id, body.text,
        user_id=body.userId if body.type == "YOUR_MESSAGE" else None, channel=body.channel)
    item = await messages.history_item(request.app[DB], written.message_id)
    return respond({"data": item, "status": 1}, 201)


async def mark_read(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    model = ReadIn if request.content_type == "application/json" else ReadForm
    body = validate(model, await read_body(request))
    read = await account_history.mark_read(request.app[DB], account_id, body.which())
    return respond({"data": {"read": read}, "status": 1})


async def merge_accounts(request: web.Request) -> web.Response:
    account_id = _account_id(request)
    other = validate(MergeIn, await read_body(request)).accountId
    if other == account_id:
        raise BadRequest.field("accountId", "An account cannot be merged into itself.")
    moved = await merge.merge(request.app[DB], account_id, other)
    log.info("account %d merged into this one: %s", other, ", ".join(f"{n} {what}" for what, n in moved.items()),
             extra={"account_id": account_id})
    return respond({"data": {"id": str(account_id), "mergedAccountId": str(other), "moved": moved}, "status": 1})


ACCOUNT = r"/api/v1/accounts/{id}"

routes = [
    route("GET", f"{ACCOUNT}/chat-messages", list_messages),
    route("POST", f"{ACCOUNT}/chat-messages", write_message),
    route("POST", f"{ACCOUNT}/chat-messages/read", mark_read),
    route("POST", f"{ACCOUNT}/merge", merge_accounts),
]

"""The admin UI's contacts: the directory (every family's people: clients, subscribers, CRM
accounts, callers), searched by phone, email or name and filtered by tag, newest first; and a
contact's page: its fields, its tags (edited), its subscriptions, its whole history across every
channel (the CRM's timeline, newest first) and, when it has a phone, a reply box that sends an SMS.

Tags and replies go through jobs/contact_changes.py, as the CRM's API does. An operator replies as
the platform user that is theirs (storage/admins.py), so the CRM shows it as YOUR_MESSAGE.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from handlers.admin_render import redirect, render
from handlers.crm_history_schemas import MessageIn
from handlers.crm_schemas import TagsIn
from jobs import contact_changes
from server.admin_auth import SESSION
from server.errors import BadRequest, NotFound
from server.http import path_id, query, read_body, route, validate, whole_number
from server.keys import DB, DISPATCHER
from storage import accounts, admins, contacts, messages
from storage.account_history import SMS

PAGE = 50
HISTORY_PAGE = 50
NOTICES = {"tags": "Tags saved.", "replied": "Reply queued: it is sent as an SMS in a moment."}


async def list_page(request: web.Request) -> web.Response:
    params = query(request)
    q = params.get("q", "").strip()[:200] or None
    tag = params.get("tag", "").strip()[:100] or None
    before = whole_number(params, "before", 0, 0, 2**63 - 1) or None
    found = await accounts.directory_page(request.app[DB], tag=tag, q=q, before=before, limit=PAGE + 1)
    more = found[PAGE - 1]["id"] if len(found) > PAGE else None
    return render(request, "contacts.html", contacts=found[:PAGE], q=q or "", tag=tag or "", more=more)


async def _account(request: web.Request) -> dict[str, Any]:
    found = await accounts.detail(request.app[DB], path_id(request))
    if found is None:
        raise NotFound(f"There is no contact {request.match_info['id']}.")
    return found


async def _page(request: web.Request, http_status: int = 200, *, errors: dict | None = None,
                draft: str = "", tags_text: str | None = None) -> web.Response:
    contact = await _account(request)
    params = query(request)
    offset = whole_number(params, "offset", 0, 0, 10**9)
    total, _, items = await messages.account_history(request.app[DB], contact["id"], limit=HISTORY_PAGE,
                                                     offset=offset)
    history = orjson.loads(orjson.dumps(items))  # the CRM's page, as JSON text
    more = offset + HISTORY_PAGE if offset + HISTORY_PAGE < total else None
    return render(request, "contact.html", http_status, contact=contact, history=history, total=total,
                  offset=offset, more=more, can_reply=contact["phone_number"] is not None,
                  tags_text=", ".join(contact["tags"]) if tags_text is None else tags_text,
                  errors=errors or {}, draft=draft, notice=NOTICES.get(params.get("notice", "")))


async def contact_page(request: web.Request) -> web.Response:
    return await _page(request)


async def save_tags(request: web.Request) -> web.Response:
    contact = await _account(request)
    body = await read_body(request)
    text = body.get("tags", "")
    try:
        tags = validate(TagsIn, {"tags": text}).all()
    except BadRequest as exc:
        return await _page(request, 400, errors=exc.fields or {}, tags_text=text)
    await contact_changes.change_tags(request.app[DB], request.app[DISPATCHER], contact["id"], contacts.set_tags, tags)
    raise redirect(f"/admin/contacts/{contact['id']}?notice=tags")


async def reply(request: web.Request) -> web.Response:
    contact = await _account(request)
    body = await read_body(request)
    text = body.get("text", "").replace("\r\n", "\n")  # a textarea's line breaks
    db = request.app[DB]
    session = request[SESSION]
    user_id = await admins.platform_user_of(db, session.user_id, session.name)
    try:
        checked = validate(MessageIn, {"text": text, "type": "YOUR_MESSAGE", "userId": user_id, "channel": SMS})
        await contact_changes.write_message(db, request.app[DISPATCHER], contact["id"], checked.text,
                                            user_id=user_id, channel=SMS)
    except BadRequest as exc:
        return await _page(request, 400, errors=exc.fields or {}, draft=text)
    raise redirect(f"/admin/contacts/{contact['id']}?notice=replied")


CONTACT = r"/admin/contacts/{id:\d+}"
routes = [
    route("GET", "/admin/contacts", list_page),
    route("GET", CONTACT, contact_page),
    route("POST", CONTACT + "/tags", save_tags),
    route("POST", CONTACT + "/reply", reply),
]

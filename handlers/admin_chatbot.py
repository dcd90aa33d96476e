"""The admin UI's chatbot: the sender profiles (newest first, searched by name or id on the site),
and a profile's page: her templates (newest first, or the most given first), how often each was
given and how many men hold it, a form that adds templates, one a line, and removing one.

Templates are added through jobs/chat_templates.py, as POST /chatbot/templates/ adds them, so the
form refuses what the API refuses, with the same messages, next to the field. A removed template is
never given again; its history stays, and adding its text again brings it back (storage/chat.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from handlers.admin_render import redirect, render
from jobs import chat_templates
from server.errors import BadRequest, NotFound
from server.http import path_id, query, read_body, route, whole_number
from server.keys import DB
from storage import chat

PAGE = 50
SORTS = {"newest": "Newest first", "given": "Most given first"}
NOTICES = {"removed": "Template removed: it is never given again. Add its text again to bring it back."}
MAX_ID = 2**63 - 1


async def list_page(request: web.Request) -> web.Response:
    params = query(request)
    q = params.get("q", "").strip()[:200]
    before = whole_number(params, "before", 0, 0, MAX_ID) or None
    found = await chat.profiles_page(request.app[DB], q=q or None, before=before, limit=PAGE + 1)
    more = found[PAGE - 1]["id"] if len(found) > PAGE else None
    return render(request, "chatbot.html", profiles=found[:PAGE], q=q, more=more)


async def _profile(request: web.Request) -> dict[str, Any]:
    found = await chat.profile(request.app[DB], path_id(request))
    if found is None:
        raise NotFound(f"There is no sender profile {request.match_info['id']}.")
    return found


def _lines(text: str) -> list[str]:
    """The textarea's templates, one a line; blank lines are skipped, but a text of nothing else is
    one blank template, for the API's check to refuse."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.strip()] or [text]


async def _page(request: web.Request, http_status: int = 200, *, errors: dict | None = None,
                draft: str = "") -> web.Response:
    profile = await _profile(request)
    params = query(request)
    sort = params.get("sort", "newest")
    if sort not in SORTS:
        raise BadRequest.field("sort", f"One of {', '.join(SORTS)}.")
    before = whole_number(params, "before", 0, 0, MAX_ID) or None
    handed = whole_number(params, "handed", MAX_ID, 0, MAX_ID)
    found = await chat.templates_page(request.app[DB], profile["id"], most_handed=sort == "given",
                                      before=(handed, before) if before else None, limit=PAGE + 1)
    more = found[PAGE - 1] if len(found) > PAGE else None
    params_notice = params.get("notice", "")
    notice = NOTICES.get(params_notice)
    if params_notice == "added":
        received = whole_number(params, "received", 0, 0, MAX_ID)
        notice = f"{received} template{'' if received == 1 else 's'} added (one she already has is left as it is)."
    return render(request, "chatbot_profile.html", http_status, profile=profile, templates=found[:PAGE], sorts=SORTS,
                  sort=sort, more=more, errors=errors or {}, draft=draft, notice=notice)


async def profile_page(request: web.Request) -> web.Response:
    return await _page(request)


async def add_templates(request: web.Request) -> web.Response:
    profile = await _profile(request)
    text = (await read_body(request)).get("templates", "")
    if not isinstance(text, str):
        raise BadRequest.field("templates", "Must be text: one template a line.")
    body = {"templates": _lines(text), "profile": {"id_user": int(profile["id_user"]), "name": profile["name"]}}
    try:
        received = await chat_templates.add(request.app[DB], body)
    except BadRequest as exc:
        return await _page(request, 400, errors=exc.fields or {"templates": [exc.detail]}, draft=text)
    raise redirect(f"/admin/chatbot/profiles/{profile['id']}?notice=added&received={received}")


async def remove_template(request: web.Request) -> web.Response:
    profile = await _profile(request)
    template_id = path_id(request, "template")
    if not await chat_templates.remove(request.app[DB], profile["id"], template_id):
        raise NotFound(f"Sender profile {profile['id']} has no template {template_id}.")
    raise redirect(f"/admin/chatbot/profiles/{profile['id']}?notice=removed")


PROFILE = r"/admin/chatbot/profiles/{id:\d+}"
routes = [
    route("GET", "/admin/chatbot", list_page),
    route("GET", PROFILE, profile_page),
    route("POST", PROFILE + "/templates", add_templates),
    route("POST", PROFILE + r"/templates/{template:\d+}/remove", remove_template),
]

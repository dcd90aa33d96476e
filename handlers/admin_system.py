"""The admin UI's system pages: the API tokens (made, shown once, revoked: storage/tokens.py, as
the create_token and revoke_token commands do), the operators (listed with their sessions,
removed; made and given passwords only by `create_admin`), and the settings (read only, every
secret masked) with a health panel: the database, the engines, the scheduler's next runs."""

from __future__ import annotations

import logging
import os
from typing import Any

from aiohttp import web

from handlers.admin_render import redirect, render
from handlers.admin_widgets import scheduled
from server import __version__
from server.admin_auth import SESSION
from server.errors import BadRequest, Conflict, NotFound
from server.http import path_id, read_body, route
from server.keys import DB, DISPATCHER, MANGO, OUTBOX, SCHEDULER, SETTINGS
from storage import admins, mailings
from storage.tokens import TokenError, create_token, list_tokens, revoke_token

log = logging.getLogger("herald.admin")

SECRET_WORDS = ("token", "password", "secret", "salt", "api_key")
NOTICES = {"revoked": "Token revoked: it is refused from the next request on.",
           "removed": "Operator removed: their sessions have ended."}


def _is_secret(key: str) -> bool:
    return any(word in key for word in SECRET_WORDS)


def masked_settings(settings: Any) -> list[dict[str, Any]]:
    """Every section and key with its value, secrets shown only as set or not."""
    sections = []
    for section, values in settings.model_dump(mode="json").items():
        rows = []
        for key, value in values.items():
            if _is_secret(key):
                value = "(set, hidden)" if value else "(not set)"
            rows.append({"key": f"{section}.{key}", "value": value})
        sections.append({"name": section, "rows": rows})
    return sections


async def tokens_page(request: web.Request, http_status: int = 200, *, made: str | None = None,
                      made_name: str = "", problem: str | None = None) -> web.Response:
    notice = NOTICES.get(request.query.get("notice", ""))
    return render(request, "tokens.html", http_status, tokens=await list_tokens(request.app[DB]), made=made,
                  made_name=made_name, problem=problem, static_tokens=len(request.app[SETTINGS].auth.api_tokens),
                  notice=notice)


async def tokens(request: web.Request) -> web.Response:
    return await tokens_page(request)


async def make_token(request: web.Request) -> web.Response:
    name = (await read_body(request)).get("name", "")
    try:
        token = await create_token(request.app[DB], name)
    except TokenError as exc:
        return await tokens_page(request, 400, problem=str(exc), made_name=name)
    log.info("API token made in the admin UI", extra={"token_name": name})
    return await tokens_page(request, 201, made=token, made_name=name)


async def revoke(request: web.Request) -> web.Response:
    name = (await read_body(request)).get("name", "")
    try:
        await revoke_token(request.app[DB], name)
    except TokenError as exc:
        raise BadRequest(str(exc)) from None
    log.info("API token revoked in the admin UI", extra={"token_name": name})
    raise redirect("/admin/tokens?notice=revoked")


async def operators(request: web.Request) -> web.Response:
    return render(request, "operators.html", operators=await admins.list_admins(request.app[DB]),
                  me=request[SESSION].user_id, notice=NOTICES.get(request.query.get("notice", "")))


async def remove_operator(request: web.Request) -> web.Response:
    admin_id = path_id(request)
    if admin_id == request[SESSION].user_id:
        raise Conflict("You cannot remove yourself: another operator can, or `create_admin NAME --reset` "
                       "changes your password.")
    if not await admins.delete_admin(request.app[DB], admin_id):
        raise NotFound(f"There is no operator {admin_id}.")
    log.info("operator removed in the admin UI", extra={"admin_id": admin_id, "by": request[SESSION].name})
    raise redirect("/admin/operators?notice=removed")


async def settings_page(request: web.Request) -> web.Response:
    app = request.app
    db = app[DB]
    problem = await db.health()
    files = [db.path, db.path.with_name(db.path.name + "-wal")]
    health = {
        "database": problem or "ok",
        "database_path": str(db.path),
        "database_bytes": sum(path.stat().st_size for path in files if path.exists()),
        "version": __version__,
        "pid": os.getpid(),
        "sms_transport": app[SETTINGS].notifications.transport,
        "telephony": "configured" if app[SETTINGS].telephony.configured else "not configured",
        "pbx_lockout_seconds": round(app[MANGO].lockout_seconds_left()),
        "sms_engine": "running" if app[DISPATCHER].running else "stopped",
        "email_engine": "running" if app[OUTBOX].running else "stopped",
        "messages": await mailings.message_totals(db),
    }
    return render(request, "settings.html", 503 if problem else 200, health=health, jobs=scheduled(app[SCHEDULER]),
                  sections=masked_settings(app[SETTINGS]))


routes = [
    route("GET", "/admin/tokens", tokens),
    route("POST", "/admin/tokens", make_token),
    route("POST", "/admin/tokens/revoke", revoke),
    route("GET", "/admin/settings", settings_page),
    route("GET", "/admin/operators", operators),
    route("POST", r"/admin/operators/{id:\d+}/remove", remove_operator),
]

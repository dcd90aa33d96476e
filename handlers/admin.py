"""The operators' web UI at /admin/: the family, the login and logout, the dashboard.

Pages are server-rendered (templates/admin/) and enhanced with htmx (static/vendor/), which
polls the fragments under /admin/fragments/ for what changes live. Who may see them is
server/admin_auth.py; what they show comes from the same storage functions the APIs use.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from handlers import (admin_chatbot, admin_contacts, admin_mailings, admin_subscriptions, admin_system,
                      admin_telephony)
from handlers.admin_render import error_page, headers, redirect, render
from handlers.admin_widgets import CHART_HOURS, activity, progress, scheduled
from server import passwords
from server.admin_auth import (COOKIE, CSRF_FIELD, LOGIN_CSRF_COOKIE, LOGIN_PATH, AdminSession, new_login_csrf,
                               same, set_cookie)
from server.errors import BadRequest
from server.families import Family
from server.http import read_body, route
from server.keys import ADMIN_THROTTLE, DB, SCHEDULER, SETTINGS
from server.timeutil import utc_now
from storage import admins, mailings, messages

log = logging.getLogger("herald.admin")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_FIELD = 1024
DASHBOARD_MAILINGS = 20


def _next_page(value: str | None) -> str:
    """Where a login goes on: a page of the UI, never another site (`//evil`, `/\\evil`)."""
    if value and value.startswith("/admin/") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    return "/admin/"


def _login_page(request: web.Request, status: int = 200, *, problem: str | None = None, name: str = "",
                next_page: str = "/admin/") -> web.Response:
    token = new_login_csrf()
    response = render(request, "login.html", status, login_csrf=token, problem=problem, name=name, next=next_page)
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, next_page=_next_page(request.query.get("next")))


async def login(request: web.Request) -> web.Response:
    form = await read_body(request)
    fields = {key: form.get(key) for key in ("name", "password", CSRF_FIELD)} | {"next": form.get("next", "")}
    if not all(isinstance(value, str) and len(value) <= MAX_FIELD for value in fields.values()):
        raise BadRequest("The login form needs a name, a password and its token, each at most 1,024 characters.")
    name, password, next_page = fields["name"].strip(), fields["password"], _next_page(fields["next"])
    if not same(request.cookies.get(LOGIN_CSRF_COOKIE), fields[CSRF_FIELD]):
        return _login_page(request, 403, name=name, next_page=next_page,
                           problem="This login form has expired or did not come from Herald. Try again.")
    throttle = request.app[ADMIN_THROTTLE]
    if wait := throttle.wait_seconds(name):
        seconds = math.ceil(wait)
        log.warning("login refused: too many wrong passwords", extra={"admin": name})
        response = _login_page(request, 429, name=name, next_page=next_page,
                               problem=f"Too many wrong passwords for {name!r}. Try again in {seconds} s.")
        response.headers["Retry-After"] = str(seconds)
        return response
    db = request.app[DB]
    found = await admins.credentials(db, name)
    if not await asyncio.to_thread(passwords.verify, found.password_hash if found else None, password):
        throttle.failed(name)
        log.warning("login failed", extra={"admin": name})
        return _login_page(request, 401, name=name, next_page=next_page, problem="Wrong name or password.")
    throttle.succeeded(name)
    hours = request.app[SETTINGS].admin.session_hours
    token, _ = await admins.start_session(db, found.id, hours)
    log.info("logged in", extra={"admin": name})
    response = redirect(next_page)
    set_cookie(response, request, COOKIE, token, max_age=int(hours * 3600))
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/admin/")
    raise response


async def logout(request: web.Request) -> web.Response:
    await admins.end_session(request.app[DB], request.cookies[COOKIE])
    response = redirect(LOGIN_PATH)
    response.del_cookie(COOKIE, path="/admin/")
    raise response


async def _active_mailings(request: web.Request) -> list[dict]:
    found = await mailings.active_mailings_with_counts(request.app[DB], utc_now(), limit=DASHBOARD_MAILINGS)
    return [{**mailing, "progress": progress(mailing)} for mailing in found]


async def _activity(request: web.Request) -> dict:
    now = utc_now()
    rows = await messages.minutes_since(request.app[DB], now - timedelta(hours=CHART_HOURS))
    return activity(rows, now)


async def dashboard(request: web.Request) -> web.Response:
    return render(request, "dashboard.html", mailings=await _active_mailings(request),
                  activity=await _activity(request), jobs=scheduled(request.app[SCHEDULER]))


async def activity_fragment(request: web.Request) -> web.Response:
    return render(request, "_activity.html", activity=await _activity(request))


async def active_mailings_fragment(request: web.Request) -> web.Response:
    return render(request, "_active_mailings.html", mailings=await _active_mailings(request))


routes = [
    route("GET", LOGIN_PATH, login_form),
    route("POST", LOGIN_PATH, login),
    route("POST", "/admin/logout", logout),
    route("GET", "/admin/", dashboard),
    route("GET", "/admin/fragments/active-mailings", active_mailings_fragment),
    route("GET", "/admin/fragments/activity", activity_fragment),
    *admin_mailings.routes,
    *admin_contacts.routes,
    *admin_system.routes,
    *admin_subscriptions.routes,
    *admin_chatbot.routes,
    *admin_telephony.routes,
    web.static("/admin/static", STATIC_DIR, name="admin-static"),
]

FAMILY = Family(
    "admin",
    routes=routes,
    prefixes=("/admin/",),
    paths=("/admin",),
    auth=AdminSession(),
    public=(LOGIN_PATH, "/admin/static/"),
    response_headers=headers,
    error_page=error_page,
)

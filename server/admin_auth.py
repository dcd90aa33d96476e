"""How the operators' web UI (/admin/) knows who is there: its session cookie and its CSRF tokens.
The APIs' tokens do not open it; password guessing is slowed by server/login_throttle.py.

- `AdminSession` is the admin family's auth strategy: the `herald_admin` cookie (a random token,
  HttpOnly, SameSite=Lax, Secure when server.public_url is https, Path=/admin/) names a live
  session (storage/admins.py); without one a page redirects to the login, keeping where it was
  going. A request that changes something (any method but GET and HEAD) must carry the session's
  CSRF token, in the `csrf_token` form field or the `X-CSRF-Token` header (htmx sends it), compared
  in constant time; else a 403.
- The login form, before there is a session, is guarded by a double-submit token: the login page
  sets `herald_admin_csrf` and puts the same value in the form (no other site can read or set it).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from aiohttp import web

from server.errors import Forbidden
from server.http import read_body
from server.keys import DB, SETTINGS
from storage import admins

COOKIE = "herald_admin"
LOGIN_CSRF_COOKIE = "herald_admin_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PATH = "/admin/login"
COOKIE_PATH = "/admin/"
SESSION = web.RequestKey("admin_session", admins.Session)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def secure_cookies(request: web.Request) -> bool:
    return request.app[SETTINGS].server.public_url.startswith("https://")


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="Lax",
                        secure=secure_cookies(request))


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def login_url(request: web.Request) -> str:
    target = request.path_qs if request.method in SAFE_METHODS else "/admin/"
    return f"{LOGIN_PATH}?next={quote(target, safe='/')}"


class AdminSession:
    challenge = None

    async def check(self, request: web.Request) -> None:
        token = request.cookies.get(COOKIE)
        session = await admins.session_of(request.app[DB], token) if token else None
        if session is None:
            if request.headers.get("HX-Request"):  # a fragment: htmx sends the whole page to the login
                raise web.HTTPNoContent(headers={"HX-Redirect": login_url(request)})
            raise web.HTTPSeeOther(login_url(request))
        if request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER)
            if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                given = (await read_body(request)).get(CSRF_FIELD)
            if not same(given if isinstance(given, str) else None, session.csrf_token):
                raise Forbidden("This form has expired or did not come from Herald's pages (CSRF check). "
                                "Reload the page and try again.")
        request[SESSION] = session


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)

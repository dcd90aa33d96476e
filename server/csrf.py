"""The chatbot's browser calls: Django's AJAX CSRF recipe (a double-submit cookie) and CORS. Pure.

`GET /chatbot/csrf/` sets a `csrftoken` cookie (a random token from `secrets`) and returns it;
the page sends each POST with that cookie and the same token in `X-CSRFToken`, with credentials.
`CsrfOrToken` accepts such a POST when the header equals the cookie (compared in constant time)
and its `Origin` is one of `chatbot.allowed_origins`; a service token (`Authorization: Token`)
is accepted too, for server-to-server calls. Anything else is refused with the rule that failed.

Why header == cookie is enough, although Herald stores no token: a page on another site can make
the browser send Herald's cookie, but it cannot read it (the cookie belongs to Herald's host) nor
set one for Herald's host, so it cannot put the same value in a header; and a custom header on a
cross-site request needs a CORS preflight, which Herald answers only for the allowed origins.
The Origin check closes the rest (a sibling subdomain that could plant a cookie is still not an
allowed origin). This is Django's own reasoning for its AJAX recipe (CSRF_COOKIE + X-CSRFToken,
with an origin check).

`cors_headers` are the headers every answer to an allowed origin carries (the chatbot family's
`response_headers`); `preflight_headers` those of an accepted `OPTIONS`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

from server.errors import Forbidden
from server.families import ServiceToken
from server.keys import SETTINGS

COOKIE = "csrftoken"
HEADER = "X-CSRFToken"
ALLOWED_HEADERS = "Content-Type, X-CSRFToken, Authorization"
PREFLIGHT_MAX_AGE = 7200  # seconds; what Chrome caps it at


def new_token() -> str:
    return secrets.token_urlsafe(32)


def allowed_origin(request: web.Request) -> str | None:
    """The request's Origin if it is one of `chatbot.allowed_origins`, else None."""
    origin = request.headers.get("Origin")
    return origin if origin is not None and origin in request.app[SETTINGS].chatbot.allowed_origins else None


def cors_headers(request: web.Request) -> dict[str, str]:
    """Access-Control-Allow-Origin (that origin) and -Credentials for an allowed origin; Vary: Origin always."""
    origin = allowed_origin(request)
    if origin is None:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def preflight_headers(request: web.Request, methods: str) -> dict[str, str]:
    return {**cors_headers(request), "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE)}


def refuse_origin(request: web.Request) -> None:
    """A preflight from an origin not allowed is a 403 naming it."""
    if allowed_origin(request) is None:
        origin = request.headers.get("Origin")
        raise Forbidden("CORS preflight refused: no Origin header." if origin is None else
                        f"CORS preflight refused: Origin {origin} is not one of chatbot.allowed_origins.")


def set_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    """The csrftoken cookie as a page on another site can send it back: SameSite=None, and Secure
    when Herald is served over https (`server.public_url`); readable by the page's script."""
    secure = request.app[SETTINGS].server.public_url.startswith("https://")
    response.set_cookie(COOKIE, token, max_age=365 * 24 * 3600, path="/chatbot/", samesite="None", secure=secure,
                        httponly=False)


@dataclass(frozen=True)
class CsrfOrToken:
    """A service token, or a browser's double-submit CSRF token from an allowed origin (403s).
    A preflight (`OPTIONS`) carries neither: its handler checks the origin (`refuse_origin`)."""

    token: ServiceToken = ServiceToken(challenge=None, refused=Forbidden)
    challenge: str | None = None
    refused: type[Forbidden] = Forbidden

    async def check(self, request: web.Request) -> None:
        if request.method == "OPTIONS":
            return None
        if self.token.token_of(request) is not None or "Authorization" in request.headers:
            return await self.token.check(request)
        origin = request.headers.get("Origin")
        cookie = request.cookies.get(COOKIE)
        header = request.headers.get(HEADER)
        if origin is None and cookie is None and header is None:
            raise Forbidden("Authentication credentials were not provided.")
        if origin is None:
            raise Forbidden("CSRF Failed: no Origin header; a browser call must come from an allowed origin.")
        if allowed_origin(request) is None:
            raise Forbidden(f"CSRF Failed: Origin {origin} is not one of chatbot.allowed_origins.")
        if not cookie:
            raise Forbidden("CSRF Failed: CSRF cookie not set (GET /chatbot/csrf/ first).")
        if not header:
            raise Forbidden(f"CSRF Failed: CSRF token missing (the {HEADER} header).")
        if not hmac.compare_digest(header.encode(), cookie.encode()):
            raise Forbidden(f"CSRF Failed: CSRF token incorrect (the {HEADER} header differs from the cookie).")

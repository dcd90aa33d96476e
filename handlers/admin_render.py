"""The admin UI's rendering: pages from templates/admin/ (with the session and its CSRF token in
every context), the headers every admin answer carries, and errors as pages.

Pages load only Herald's own files (`static/`, htmx vendored there): the Content-Security-Policy
allows nothing else, no inline script, and no framing.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server.admin_auth import SESSION
from server.errors import HeraldError

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def headers(request: web.Request) -> dict[str, str]:
    return HEADERS


def render(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    session = request.get(SESSION)
    base = {"session": session, "csrf_token": session.csrf_token if session else "", "path": request.path,
            "notice": None}
    return aiohttp_jinja2.render_template(f"admin/{template}", request, {**base, **context}, status=http_status)


def redirect(location: str) -> web.HTTPSeeOther:
    """Where a form's POST sends the browser on (303: the next request is a GET); raise it."""
    return web.HTTPSeeOther(location)


def error_page(error: HeraldError, request: web.Request) -> web.Response:
    return render(request, "error.html", error.status, error=error)

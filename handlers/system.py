"""System routes: /health for probes (the database can be read and written), /metrics for
Prometheus; and the system family, which also owns /openapi.json and /docs/ (handlers/docs.py) and
every path no other family claims (a 404 there is DRF-shaped, like the notification service's)."""

from __future__ import annotations

from aiohttp import web

from handlers import docs
from server.families import PUBLIC, Family, drf_error
from server.http import respond, route
from server.keys import DB, METRICS
from storage import mailings


async def health(request: web.Request) -> web.Response:
    if (problem := await request.app[DB].health()) is not None:
        return respond({"status": "error", "database": problem}, 503)
    return respond({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render(await mailings.message_totals(request.app[DB]))
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


routes = [route("GET", "/health", health), route("GET", "/metrics", metrics)]

FAMILY = Family(
    "system",
    routes=(*routes, *docs.routes),
    paths=("/health", "/metrics", docs.SPEC_URL, "/docs"),
    prefixes=("/docs/",),
    auth=PUBLIC,
    error_body=drf_error,
)

"""System routes: /health for probes (checks the database answers)."""

from __future__ import annotations

from aiohttp import web

from server.http import respond, route
from server.keys import DB


async def health(request: web.Request) -> web.Response:
    await request.app[DB].fetch_value("SELECT 1")
    return respond({"status": "ok"})


routes = [route("GET", "/health", health)]

"""/Stats/: each mailing with its message count by status, and one mailing's messages (seed 003)."""

from __future__ import annotations

from aiohttp import web

from server.errors import NotFound
from server.families import paginate
from server.http import path_id, respond, route
from server.keys import DB
from storage import mailings


async def list_stats(request: web.Request) -> web.Response:
    page = paginate(request)
    count, results = await mailings.list_mailings_with_counts(request.app[DB], limit=page.limit, offset=page.offset)
    return respond(page.envelope(count, results))


async def mailing_stats(request: web.Request) -> web.Response:
    db = request.app[DB]
    stats = await mailings.get_mailing_with_counts(db, path_id(request))
    if stats is None:
        raise NotFound("Not found.")
    page = paginate(request)
    page_of_messages = await mailings.list_messages(db, stats["id"], limit=page.limit, offset=page.offset)
    return respond({**stats, "messages": page.envelope(stats["total"], page_of_messages)})


routes = [
    route("GET", "/Stats/", list_stats),
    route("GET", r"/Stats/{id:\d+}/", mailing_stats),
]

"""/Stats/: each mailing with its message count by status, and one mailing's messages (seed 003)."""

from __future__ import annotations

from aiohttp import web

from server.errors import NotFound
from server.http import Page, path_id, respond, route
from server.keys import DB
from storage import mailings


def _with_counts(mailing: dict, statuses: dict[str, int]) -> dict:
    return {**mailing, "total": sum(statuses.values()), "statuses": statuses}


async def list_stats(request: web.Request) -> web.Response:
    page = Page(request)
    count, results = await mailings.list_mailings_with_counts(request.app[DB], limit=page.limit, offset=page.offset)
    return respond(page.envelope(count, results))


async def mailing_stats(request: web.Request) -> web.Response:
    db = request.app[DB]
    mailing = await mailings.get_mailing(db, path_id(request))
    if mailing is None:
        raise NotFound("Not found.")
    page = Page(request)
    statuses = (await mailings.status_counts(db, [mailing["id"]]))[mailing["id"]]
    page_of_messages = await mailings.list_messages(db, mailing["id"], limit=page.limit, offset=page.offset)
    stats = _with_counts(mailing, statuses)
    stats["messages"] = page.envelope(stats["total"], page_of_messages)
    return respond(stats)


routes = [
    route("GET", "/Stats/", list_stats),
    route("GET", r"/Stats/{id:\d+}/", mailing_stats),
]

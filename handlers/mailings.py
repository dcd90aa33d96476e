"""/Mailing/: the notification service's mailings (seed 003). Every change wakes the engine."""

from __future__ import annotations

from aiohttp import web

from handlers.notification_schemas import MailingIn
from jobs import mailing_changes
from server.errors import NotFound
from server.families import paginate
from server.http import path_id, read_body, respond, route, validate
from server.keys import DB, DISPATCHER
from storage import mailings


async def _existing(request: web.Request) -> dict:
    mailing = await mailings.get_mailing(request.app[DB], path_id(request))
    if mailing is None:
        raise NotFound("Not found.")
    return mailing


async def list_mailings(request: web.Request) -> web.Response:
    page = paginate(request)
    count, results = await mailings.list_mailings(request.app[DB], limit=page.limit, offset=page.offset)
    return respond(page.envelope(count, results))


async def create_mailing(request: web.Request) -> web.Response:
    mailing = validate(MailingIn, await read_body(request))
    return respond(await mailing_changes.create(request.app[DB], request.app[DISPATCHER], mailing.model_dump()), 201)


async def get_mailing(request: web.Request) -> web.Response:
    return respond(await _existing(request))


async def replace_mailing(request: web.Request) -> web.Response:
    body = await read_body(request)
    if request.method == "PATCH":
        body = {**await _existing(request), **body}
    mailing = validate(MailingIn, body)
    updated = await mailing_changes.update(request.app[DB], request.app[DISPATCHER], path_id(request),
                                           mailing.model_dump())
    if updated is None:
        raise NotFound("Not found.")
    return respond(updated)


async def delete_mailing(request: web.Request) -> web.Response:
    if not await mailing_changes.delete(request.app[DB], request.app[DISPATCHER], path_id(request)):
        raise NotFound("Not found.")
    return web.Response(status=204)


routes = [
    route("GET", "/Mailing/", list_mailings),
    route("POST", "/Mailing/", create_mailing),
    route("GET", r"/Mailing/{id:\d+}/", get_mailing),
    route("PUT", r"/Mailing/{id:\d+}/", replace_mailing),
    route("PATCH", r"/Mailing/{id:\d+}/", replace_mailing),
    route("DELETE", r"/Mailing/{id:\d+}/", delete_mailing),
]

"""/Clients/: the notification service's client directory (seed 003)."""

from __future__ import annotations

import logging

from aiohttp import web

from handlers.notification_schemas import ClientIn
from server.errors import NotFound
from server.families import paginate
from server.http import path_id, read_body, respond, route, validate
from server.keys import DB, DISPATCHER
from storage import contacts

log = logging.getLogger("herald.clients")


async def _existing(request: web.Request) -> dict:
    client = await contacts.get_client(request.app[DB], path_id(request))
    if client is None:
        raise NotFound("Not found.")
    return client


async def list_clients(request: web.Request) -> web.Response:
    page = paginate(request)
    count, results = await contacts.list_clients(
        request.app[DB],
        limit=page.limit,
        offset=page.offset,
        tag=page.query.get("tag") or None,
        operator_code=page.query.get("operator_code") or None,
    )
    return respond(page.envelope(count, results))


async def create_client(request: web.Request) -> web.Response:
    client = validate(ClientIn, await read_body(request))
    created = await contacts.create_client(request.app[DB], client.fields())
    log.info("client created", extra={"client_id": created["id"]})
    request.app[DISPATCHER].wake()
    return respond(created, 201)


async def get_client(request: web.Request) -> web.Response:
    return respond(await _existing(request))


async def replace_client(request: web.Request) -> web.Response:
    body = await read_body(request)
    if request.method == "PATCH":
        body = {**await _existing(request), **body}
    client = validate(ClientIn, body)
    updated = await contacts.update_client(request.app[DB], path_id(request), client.fields())
    if updated is None:
        raise NotFound("Not found.")
    request.app[DISPATCHER].wake()
    return respond(updated)


async def delete_client(request: web.Request) -> web.Response:
    client_id = path_id(request)
    if not await contacts.delete_client(request.app[DB], client_id):
        raise NotFound("Not found.")
    request.app[DISPATCHER].client_deleted(client_id)
    return web.Response(status=204)


routes = [
    route("GET", "/Clients/", list_clients),
    route("POST", "/Clients/", create_client),
    route("GET", r"/Clients/{id:\d+}/", get_client),
    route("PUT", r"/Clients/{id:\d+}/", replace_client),
    route("PATCH", r"/Clients/{id:\d+}/", replace_client),
    route("DELETE", r"/Clients/{id:\d+}/", delete_client),
]

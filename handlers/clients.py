"""/Clients/: the notification service's client directory (seed 003).

A client is a contact with a phone number, shown as {id, phone_number, operator_code, tag,
timezone}: `tag` is the contact's tags joined by commas.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from handlers.notification_schemas import ClientIn
from server.errors import BadRequest, NotFound
from server.families import paginate
from server.http import path_id, read_body, respond, route, validate
from server.keys import DB, DISPATCHER
from storage import contacts

log = logging.getLogger("herald.clients")

SOURCE = "SMS"  # the CRM's `from` of a notification client
DUPLICATE_PHONE = "client with this phone_number already exists."


def client_of(contact: dict[str, Any]) -> dict[str, Any]:
    return {"id": contact["id"], "phone_number": contact["phone_number"], "operator_code": contact["operator_code"],
            "tag": ",".join(contact["tags"]), "timezone": contact["timezone"]}


def contact_fields(client: ClientIn) -> dict[str, Any]:
    return {"phone_number": client.phone_number, "operator_code": client.operator_code,
            "timezone": client.timezone, "tags": client.tag.split(",") if client.tag else []}


async def _existing(request: web.Request) -> dict:
    contact = await contacts.get(request.app[DB], path_id(request))
    if contact is None or contact["phone_number"] is None:
        raise NotFound("Not found.")
    return client_of(contact)


def _duplicate(exc: contacts.Taken) -> BadRequest:
    return BadRequest.field(exc.field, DUPLICATE_PHONE if exc.field == "phone_number" else exc.detail)


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
    fields = contact_fields(validate(ClientIn, await read_body(request)))
    try:
        client_id = await contacts.create(request.app[DB], **fields, source=SOURCE)
    except contacts.Taken as exc:
        raise _duplicate(exc) from None
    log.info("client created", extra={"client_id": client_id})
    request.app[DISPATCHER].wake()
    return respond(client_of({"id": client_id, **fields}), 201)


async def get_client(request: web.Request) -> web.Response:
    return respond(await _existing(request))


async def replace_client(request: web.Request) -> web.Response:
    body = await read_body(request)
    if request.method == "PATCH":
        body = {**await _existing(request), **body}
    fields = contact_fields(validate(ClientIn, body))
    if request.method == "PUT":
        await _existing(request)  # a contact without a phone number is no client
    try:
        updated = await contacts.update(request.app[DB], path_id(request), **fields)
    except contacts.Taken as exc:
        raise _duplicate(exc) from None
    if updated is None:
        raise NotFound("Not found.")
    request.app[DISPATCHER].wake()
    return respond(client_of(updated))


async def delete_client(request: web.Request) -> web.Response:
    client_id = (await _existing(request))["id"]
    if not await contacts.delete(request.app[DB], client_id):
        raise NotFound("Not found.")
    request.app[DISPATCHER].channel.client_deleted(client_id)
    return web.Response(status=204)


routes = [
    route("GET", "/Clients/", list_clients),
    route("POST", "/Clients/", create_client),
    route("GET", r"/Clients/{id:\d+}/", get_client),
    route("PUT", r"/Clients/{id:\d+}/", replace_client),
    route("PATCH", r"/Clients/{id:\d+}/", replace_client),
    route("DELETE", r"/Clients/{id:\d+}/", delete_client),
]

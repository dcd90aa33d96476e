"""The telephony gateway (seed 004): the seed's 32 endpoints at the root, forwarding to the MANGO
OFFICE PBX, and what Herald keeps of it under /telephony/ (commands, calls).

Each endpoint validates everything before anything is forwarded (handlers/telephony_schemas.py:
Mango locks the account out after repeated 3xxx errors), then calls the PBX (server/gateways/
mango.py) and answers Mango's JSON as it came, with an HTTP status that says what happened (200
for a 1xxx result) and a one-line `detail` for its result code. A command is stored before it
goes, under the caller's `command_id` or one Herald makes (`herald-<uuid>`), with Mango's answer;
its result webhook completes it later (handlers/mango_webhooks.py). `/send_sms` also writes its SMS
to the message log. The statistics endpoints do both of Mango's steps in one call and answer the
rows as JSON (or Mango's CSV with `Accept: text/csv`). Errors: `{"detail": ..., "errors": {field: [...]}}`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from handlers.telephony_schemas import ENDPOINTS, Endpoint, SendSms, Stats
from server.errors import BadRequest, Conflict, GatewayError, HeraldError, NotFound
from server.families import Family, ServiceToken
from server.gateways import mango_protocol as protocol
from server.http import field_errors, query, read_body, respond, route, whole_number
from server.keys import DB, MANGO
from server.timeutil import parse_datetime, to_db
from storage import telephony

PAGE_LIMIT, MAX_PAGE_LIMIT = 50, 500


def telephony_error(error: HeraldError) -> dict:
    """{"detail": "<what>", "errors": {"<field>": ["..."]}}."""
    body: dict[str, Any] = {"detail": error.detail or "; ".join(
        f"{name}: {' '.join(why)}" for name, why in error.fields.items())}
    if error.fields:
        body["errors"] = error.fields
    return body


def check(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """`model` from `data`, or a 400 naming each bad field (a rule over two fields names the one
    its message starts with: `date_to: at most a month ...`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {}
        for name, messages in field_errors(exc).items():
            for message in messages:
                if name == "non_field_errors" and ": " in message and " " not in message.split(": ", 1)[0]:
                    name, message = message.split(": ", 1)
                fields.setdefault(name, []).append(message)
        raise BadRequest(fields=fields) from None


def mango_answer(answer: protocol.Answer) -> web.Response:
    """Mango's answer as it came, its HTTP status saying what happened."""
    if not isinstance(answer.data, dict):
        raise GatewayError(502, f"Mango answered HTTP {answer.status} with no JSON object: "
                                f"{answer.text[:200]!r}.")
    body = dict(answer.data)
    code = answer.result
    if code is None:
        return respond(body, 200 if answer.status == 200 else 502)
    body["detail"] = protocol.describe(code)
    return respond(body, protocol.http_status(code))


async def _fields(request: web.Request, endpoint: Endpoint) -> dict[str, Any]:
    data = await read_body(request)
    if endpoint.method == "DELETE":  # a DELETE's parameters may be in its query string
        data = {**query(request), **data}
    return data


def handler(endpoint: Endpoint):
    async def forward(request: web.Request) -> web.StreamResponse:
        params = check(endpoint.request, await _fields(request, endpoint))
        if isinstance(params, Stats):
            return await _stats(request, endpoint, params)
        payload = params.payload()
        if not endpoint.is_command:
            _, answer = await request.app[MANGO].call(endpoint.product, endpoint.mango_path, payload)
            return mango_answer(answer)
        return await _command(request, endpoint, params, payload)
    forward.__name__ = endpoint.path.strip("/")
    return forward


async def _command(request: web.Request, endpoint: Endpoint, params: BaseModel, payload: dict) -> web.Response:
    db = request.app[DB]
    command_id = payload.setdefault("command_id", f"herald-{uuid.uuid4().hex}")
    if not await telephony.start_command(db, command_id, endpoint.path, endpoint.mango_path, protocol.compact(payload)):
        raise Conflict(f"command_id {command_id!r} was used before; give each command its own.", field="command_id")
    try:
        _, answer = await request.app[MANGO].call(endpoint.product, endpoint.mango_path, payload)
    except GatewayError as exc:
        await telephony.answered(db, command_id, None, exc.detail)
        if isinstance(params, SendSms):
            await telephony.log_sms(db, command_id, params.to_number, params.text, accepted=False, error=exc.detail)
        raise
    await telephony.answered(db, command_id, answer.status, answer.text)
    if isinstance(params, SendSms):
        accepted = answer.result is not None and protocol.is_success(answer.result)
        error = None if accepted else (protocol.describe(answer.result) if answer.result is not None
                                       else f"Mango answered HTTP {answer.status}.")
        await telephony.log_sms(db, command_id, params.to_number, params.text, accepted=accepted, error=error)
    response = mango_answer(answer)
    response.headers["X-Command-Id"] = command_id
    return response


async def _stats(request: web.Request, endpoint: Endpoint, params: Stats) -> web.Response:
    """stats/request, then stats/result every `stats_poll_seconds` until the CSV is ready."""
    client = request.app[MANGO]
    settings = client.settings
    _, answer = await client.call(endpoint.product, endpoint.mango_path, params.payload())
    key = answer.data.get("key") if isinstance(answer.data, dict) else None
    if not key:
        return mango_answer(answer)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.stats_timeout_seconds
    while True:
        await asyncio.sleep(settings.stats_poll_seconds)
        _, result = await client.call(endpoint.product, "stats/result", {"key": key})
        if result.status == 200 and result.result is None:
            break
        if result.status == 404:
            raise GatewayError(502, "Mango no longer knows the statistics key it gave; ask again.")
        if result.status != 204:
            return mango_answer(result)
        if loop.time() + settings.stats_poll_seconds > deadline:
            raise GatewayError(504, f"Mango's statistics were not ready within {settings.stats_timeout_seconds:g} s.")
    if "text/csv" in request.headers.get("Accept", ""):
        return web.Response(text=result.text, content_type="text/csv")
    rows = protocol.parse_stats_csv(result.text, params.fields)
    return respond({"result": 1000, "key": key, "request_id": params.request_id, "fields": params.fields,
                    "records": rows})


async def command(request: web.Request) -> web.Response:
    found = await telephony.command(request.app[DB], request.match_info["command_id"])
    if found is None:
        raise NotFound(f"No command {request.match_info['command_id']!r}.")
    return respond(found)


def _time(params: dict[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return to_db(parse_datetime(raw))
    except ValueError as exc:
        raise BadRequest.field(name, f"Not an ISO 8601 date and time: {exc}") from None


async def calls(request: web.Request) -> web.Response:
    params = query(request)
    limit = whole_number(params, "limit", PAGE_LIMIT, 1, MAX_PAGE_LIMIT)
    offset = whole_number(params, "offset", 0, 0, 2**62)
    found = await telephony.calls(request.app[DB], number=params.get("number") or None,
                                  extension=params.get("extension") or None, since=_time(params, "date_from"),
                                  until=_time(params, "date_to"), limit=limit, offset=offset)
    return respond({"limit": limit, "offset": offset, "next_offset": offset + limit if len(found) == limit else None,
                    "results": found})


async def call(request: web.Request) -> web.Response:
    found = await telephony.call(request.app[DB], int(request.match_info["id"]))
    if found is None:
        raise NotFound(f"No call {request.match_info['id']}.")
    return respond(found)


routes = [
    *[route(endpoint.method, endpoint.path, handler(endpoint)) for endpoint in ENDPOINTS],
    route("GET", "/telephony/commands/{command_id:[^/]{1,128}}", command),
    route("GET", "/telephony/calls/", calls),
    route("GET", r"/telephony/calls/{id:\d{1,18}}", call),
]

FAMILY = Family(
    "telephony",
    routes=routes,
    paths=tuple(endpoint.path for endpoint in ENDPOINTS),
    prefixes=("/telephony/",),
    auth=ServiceToken(),
    error_body=telephony_error,
)

"""The admin UI's telephony pages (the MANGO OFFICE PBX gateway of handlers/telephony.py and
handlers/mango_webhooks.py): three lists, newest first, 50 a page below an id (keyset) — the calls
(by number and extension), the commands Herald forwarded (by endpoint, each result code with its
meaning) and the webhooks as received (by kind, with their JSON) — a call's page (its events in
seq order) and a command's (its request, Mango's answer, its outcome, its webhooks).

Read only: nothing here calls the PBX or changes what is stored (storage/telephony.py). While
telephony is not configured every page says which settings to set, and still shows what is stored.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from aiohttp import web

from handlers.admin_render import render
from handlers.telephony_schemas import ENDPOINTS
from server.errors import BadRequest, NotFound
from server.gateways.mango_protocol import code_of, describe, is_success
from server.http import path_id, query, route, whole_number
from server.keys import DB, SETTINGS
from server.timeutil import to_api
from storage import telephony

PAGE = 50
MAX_FILTER = 100
COMMAND_ENDPOINTS = tuple(endpoint.path for endpoint in ENDPOINTS if endpoint.is_command)
KINDS = ("events/call", "events/summary", "events/recording", "events/record/added", "events/sms", "events/dtmf",
         *(f"result/{endpoint.mango_path.removeprefix('commands/')}" for endpoint in ENDPOINTS if endpoint.is_command),
         "ping")
_PHONE = re.compile(r"\+?[\d\s()-]+")


def _page(request: web.Request, template: str, **context: Any) -> web.Response:
    settings = request.app[SETTINGS]
    return render(request, template, configured=settings.telephony.configured,
                  webhook_base=settings.server.public_url.rstrip("/") + "/mango/", **context)


def _text(params: dict[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > MAX_FILTER:
        raise BadRequest.field(name, f"At most {MAX_FILTER} characters.")
    return value or None


def _number(value: str | None) -> str | None:
    """A phone number as Mango writes it (79001234567) from what an operator types (+7 900 123-45-67)."""
    if value is not None and _PHONE.fullmatch(value):
        return re.sub(r"\D", "", value) or value
    return value


def _before(params: dict[str, str]) -> int | None:
    return whole_number(params, "before", 0, 0, 2**63 - 1) or None


def _more(found: list[dict[str, Any]]) -> int | None:
    """The id the next page starts below, when there is one (a page is asked for PAGE + 1 rows)."""
    return found[PAGE - 1]["id"] if len(found) > PAGE else None


def _times(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **{key: to_api(value) for key, value in row.items() if key.endswith("_at")}}


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def _code(code: Any) -> dict[str, Any] | None:
    """A result code of Mango's with what it means; None when there is none."""
    number = code_of(code)
    if number is None:
        return None
    return {"code": number, "meaning": describe(number).removesuffix(f" (code {number})"),  # it is shown
            "tone": "ok" if is_success(number) else "error"}


def _outcome(call: dict[str, Any]) -> str:
    """answered or missed (from the summary, else from its events), or ongoing."""
    if call["answered"] is not None:
        return "answered" if call["answered"] == 1 else "missed"
    if call["state"] == "Disconnected":
        return "answered" if call["answered_at"] else "missed"
    return "ongoing" if call["state"] else "unknown"


def _call(call: dict[str, Any]) -> dict[str, Any]:
    return {**_times(call), "outcome": _outcome(call), "disconnect": _code(call["disconnect_reason"])}


def _command(command: dict[str, Any]) -> dict[str, Any]:
    return {**_times(command), "link": quote(command["command_id"], safe=""), "outcome_code": _code(command["result"])}


def _webhook(webhook: dict[str, Any]) -> dict[str, Any]:
    command_id = webhook.get("command_id") or webhook["data"].get("command_id")
    return {**_times(webhook), "json": _pretty(webhook["data"]),
            "command_link": quote(str(command_id), safe="") if command_id is not None else None}


async def calls_page(request: web.Request) -> web.Response:
    params = query(request)
    number, extension = _number(_text(params, "number")), _text(params, "extension")
    found = await telephony.admin_calls(request.app[DB], number=number, extension=extension,
                                        before=_before(params), limit=PAGE + 1)
    return _page(request, "telephony.html", tab="calls", calls=[_call(call) for call in found[:PAGE]],
                 number=number or "", extension=extension or "", more=_more(found))


async def commands_page(request: web.Request) -> web.Response:
    params = query(request)
    endpoint = _text(params, "endpoint")
    if endpoint is not None and endpoint not in COMMAND_ENDPOINTS:
        raise BadRequest.field("endpoint", f"One of {', '.join(COMMAND_ENDPOINTS)}, or nothing.")
    found = await telephony.admin_commands(request.app[DB], endpoint=endpoint, before=_before(params),
                                           limit=PAGE + 1)
    return _page(request, "telephony_commands.html", tab="commands", endpoints=COMMAND_ENDPOINTS,
                 commands=[_command(command) for command in found[:PAGE]], endpoint=endpoint or "",
                 more=_more(found))


async def webhooks_page(request: web.Request) -> web.Response:
    params = query(request)
    kind = _text(params, "kind")
    found = await telephony.admin_webhooks(request.app[DB], kind=kind, before=_before(params), limit=PAGE + 1)
    return _page(request, "telephony_webhooks.html", tab="webhooks", kinds=KINDS,
                 webhooks=[_webhook(webhook) for webhook in found[:PAGE]], kind=kind or "", more=_more(found))


async def call_page(request: web.Request) -> web.Response:
    found = await telephony.call(request.app[DB], path_id(request))
    if found is None:
        raise NotFound(f"There is no call {request.match_info['id']}.")
    events = [{**_webhook(event), "seq": event["data"].get("seq"), "state": event["data"].get("call_state")}
              for event in found.pop("events")]
    return _page(request, "telephony_call.html", call=_call(found), events=events)


def _answer(text: str | None) -> tuple[str | None, dict[str, Any] | None]:
    """Mango's immediate answer as the page shows it (its JSON indented) and its result code."""
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return text, None  # not JSON: what went wrong, in words, or what Mango sent
    return _pretty(data), _code(data.get("result")) if isinstance(data, dict) else None


async def command_page(request: web.Request) -> web.Response:
    command_id = request.match_info["command_id"]
    found = await telephony.command(request.app[DB], command_id)
    if found is None:
        raise NotFound(f"There is no command {command_id!r}.")
    answer, answer_code = _answer(found["answer"])
    return _page(request, "telephony_command.html", command=_command(found), answer=answer,
                 answer_code=answer_code, request_json=_pretty(found["request"]),
                 outcome=_pretty(found["outcome"]) if found["outcome"] is not None else None,
                 webhooks=[_webhook(webhook) for webhook in found["webhooks"]])


routes = [
    route("GET", "/admin/telephony", calls_page),
    route("GET", "/admin/telephony/commands", commands_page),
    route("GET", "/admin/telephony/webhooks", webhooks_page),
    route("GET", r"/admin/telephony/calls/{id:\d+}", call_page),
    route("GET", "/admin/telephony/commands/{command_id:[^/]{1,400}}", command_page),
]

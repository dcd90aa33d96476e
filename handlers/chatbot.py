"""/chatbot/...: the dating site's chat mass-mailing (seed 000).

The site sends a sender profile's templates (`templates/`, through jobs/chat_templates.py, as the
admin UI's profile page adds them; a template an operator removed there is never given again, and
sending its text again brings it back), then asks which text each man of a search should get
(`mailing/`); the choice is written to the message log as it is answered (storage/chat.py); the
site reports each send (`report/`): sent, or failed (the template is free for that man again).
Requests need a service token, or come from the site's pages with the CSRF cookie and header
(server/csrf.py: `csrf/` sets the cookie; `OPTIONS` answers preflights); without either the
answer is a 403. Answers to an allowed origin carry CORS headers. Every answer
is {"result": true, ...}; errors are {"result": false, "error": ..., "errors": {field: [...]}}.
Bodies are JSON of up to 1 MiB, a mailing's up to `MAX_MAILING_BODY`.
"""

from __future__ import annotations

from aiohttp import web

import orjson

from handlers.chatbot_schemas import MailingIn, ReportIn, kept_profile_fields
from jobs import chat_templates
from server import csrf
from server.errors import BadRequest, HeraldError, NotFound
from server.families import Family
from server.http import read_body, respond, route, validate
from server.keys import DB
from server.timeutil import parse_datetime
from storage import chat


MAX_MAILING_BODY = 32 * 2**20  # 10,000 men as the site sends them (full profiles) are about 10 MB


def chatbot_error(error: HeraldError) -> dict:
    """{"result": false, "error": "<what and where>", "errors": {"<field path>": [...]}}."""
    body: dict = {"result": False,
                  "error": error.detail or "; ".join(f"{name}: {' '.join(why)}" for name, why in error.fields.items())}
    if error.fields:
        body["errors"] = error.fields
    return body


async def templates(request: web.Request) -> web.Response:
    received = await chat_templates.add(request.app[DB], await read_body(request))
    return respond({"result": True, "received": received})


async def mailing(request: web.Request) -> web.Response:
    data = validate(MailingIn, kept_profile_fields(await read_body(request, max_size=MAX_MAILING_BODY))).data
    men = [chat_templates.person(user) for user in data.users]
    chosen = await chat.give(request.app[DB], str(data.female_id), men)
    if chosen is None:
        raise BadRequest.field("data.female_id", f"Profile {data.female_id} has no templates.")
    return respond({"result": True, "received": len({man.id_user for man in men}) - len(chosen), "data": chosen})


async def report(request: web.Request) -> web.Response:
    data = validate(ReportIn, await read_body(request)).data
    message = data.details.message
    status = await chat.report(
        request.app[DB], str(message.id_user_to), str(message.id_user_from), message.text(),
        site_message_id=message.id, sent=data.type == "success", at=parse_datetime(message.date_created),
        errors=orjson.dumps(data.errors or []).decode(),
        profiles=[chat_templates.person(profile) for profile in (data.details.profiles or {}).values()])
    if status is None:
        raise NotFound(f"No pending message from {message.id_user_from} to {message.id_user_to} with this text.")
    return respond({"result": True, "status": status})


async def csrf_token(request: web.Request) -> web.Response:
    """The entry point of browser calls: a new csrftoken cookie, and the token in the body."""
    token = csrf.new_token()
    response = respond({"result": True, "csrftoken": token})
    csrf.set_cookie(response, request, token)
    return response


def preflight(methods: str):
    async def answer(request: web.Request) -> web.Response:
        csrf.refuse_origin(request)
        return web.Response(status=204, headers=csrf.preflight_headers(request, methods))
    return answer


async def csrf_preflight(request: web.Request) -> web.Response:
    """The entry point's preflight never refuses (the route needs no credentials); only an allowed
    origin gets the CORS headers, so the browser refuses the others."""
    if csrf.allowed_origin(request) is None:
        return web.Response(status=204, headers=csrf.cors_headers(request))
    return web.Response(status=204, headers=csrf.preflight_headers(request, "GET, OPTIONS"))


routes = [
    route("GET", "/chatbot/csrf/", csrf_token),
    route("OPTIONS", "/chatbot/csrf/", csrf_preflight),
    *[r for path, handler in (("/chatbot/templates/", templates), ("/chatbot/mailing/", mailing),
                              ("/chatbot/report/", report))
      for r in (route("POST", path, handler), route("OPTIONS", path, preflight("POST, OPTIONS")))],
]

FAMILY = Family(
    "chatbot",
    routes=routes,
    prefixes=("/chatbot/",),
    auth=csrf.CsrfOrToken(),
    public=("/chatbot/csrf",),
    error_body=chatbot_error,
    response_headers=csrf.cors_headers,
)

"""/chatbot/...: the dating site's chat mass-mailing (seed 000).

The site sends a sender profile's templates (`templates/`), then asks which text each man of a
search should get (`mailing/`); the choice is written to the message log as it is answered
(storage/chat.py); the site reports each send (`report/`): sent, or failed (the template is free
for that man again). Requests need a service token; without one the answer is a 403. Every answer
is {"result": true, ...}; errors are {"result": false, "error": ..., "errors": {field: [...]}}.
"""

from __future__ import annotations

from aiohttp import web

import orjson

from handlers.chatbot_schemas import MailingIn, Profile, ReportIn, TemplatesIn
from server.errors import BadRequest, Forbidden, HeraldError, NotFound
from server.families import Family, ServiceToken
from server.http import read_body, respond, route, validate
from server.keys import DB
from server.timeutil import parse_datetime
from storage import chat


def chatbot_error(error: HeraldError) -> dict:
    """{"result": false, "error": "<what and where>", "errors": {"<field path>": [...]}}."""
    body: dict = {"result": False,
                  "error": error.detail or "; ".join(f"{name}: {' '.join(why)}" for name, why in error.fields.items())}
    if error.fields:
        body["errors"] = error.fields
    return body


def _person(profile: Profile) -> chat.Person:
    return chat.Person(str(profile.id_user), profile.name, profile.attributes())


async def templates(request: web.Request) -> web.Response:
    params = validate(TemplatesIn, await read_body(request))
    received = await chat.add_templates(request.app[DB], _person(params.profile), params.templates)
    return respond({"result": True, "received": received})


async def mailing(request: web.Request) -> web.Response:
    data = validate(MailingIn, await read_body(request)).data
    men = [_person(user) for user in data.users]
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
        profiles=[_person(profile) for profile in (data.details.profiles or {}).values()])
    if status is None:
        raise NotFound(f"No pending message from {message.id_user_from} to {message.id_user_to} with this text.")
    return respond({"result": True, "status": status})


routes = [
    route("POST", "/chatbot/templates/", templates),
    route("POST", "/chatbot/mailing/", mailing),
    route("POST", "/chatbot/report/", report),
]

FAMILY = Family(
    "chatbot",
    routes=routes,
    prefixes=("/chatbot/",),
    auth=ServiceToken(challenge=None, refused=Forbidden),
    error_body=chatbot_error,
)

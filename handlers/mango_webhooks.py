"""/mango/...: the webhooks the MANGO OFFICE PBX sends (seed 004), verified, stored once, applied.

Register `<server.public_url>/mango/` as the webhook base in Mango's dashboard: Mango posts
`events/call`, `events/summary`, `events/recording`, `events/record/added`, `events/sms`,
`events/dtmf`, `result/<command>` and `ping` under it (and any other event path it adds, also
under a prefix such as `vpbx/result/...`: the kind is read from the path's last segments). Each is
a form of `vpbx_api_key`, `sign` and `json`; the key must be ours and the signature right, else
401/403 and nothing is stored. A verified webhook is stored and applied in one transaction
(storage/telephony.py) and answered 200 with `{"result": 1000}`; a repeat is answered the same and
not stored again. Mango reads only the status.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from handlers.telephony import telephony_error
from server.errors import BadRequest, Forbidden, Unauthorized
from server.families import Family
from server.gateways import mango_protocol as protocol
from server.http import read_body, respond
from server.keys import DB, SETTINGS
from storage import telephony

PREFIX = "/mango/"
WEBHOOK = web.RequestKey("mango_webhook", protocol.Webhook)


@dataclass(frozen=True)
class MangoSignature:
    """Mango's own credential: `vpbx_api_key` and `sign` in the form (shared/reference/mango-vpbx.md)."""

    challenge: str | None = None

    async def check(self, request: web.Request) -> None:
        settings = request.app[SETTINGS].telephony
        if not settings.configured:
            raise Unauthorized("Telephony is not configured: set telephony.api_key and telephony.api_salt.")
        form = await read_body(request)
        try:
            request[WEBHOOK] = protocol.verify_webhook(
                {name: value for name, value in form.items() if isinstance(value, str)},
                settings.api_key, settings.api_salt)
        except protocol.WebhookRefused as exc:
            raise {401: Unauthorized, 403: Forbidden}.get(exc.status, BadRequest)(str(exc)) from None


async def webhook(request: web.Request) -> web.Response:
    path = request.match_info["path"]
    received = request[WEBHOOK]
    await telephony.receive(request.app[DB], protocol.event_kind(path), path, received.json_text, received.data)
    return respond({"result": 1000})


routes = [web.post(PREFIX + "{path:.*}", webhook)]

FAMILY = Family(
    "mango",
    routes=routes,
    prefixes=(PREFIX,),
    auth=MangoSignature(),
    error_body=telephony_error,
)

"""A real SMS provider for tests: seed 003's external API served on 127.0.0.1 by aiohttp.

`POST /send/{msgId}` with JSON `{"id": <int>, "phone": <int>, "text": "<str>"}` and
`Authorization: Bearer <token>`; in mode `ok` the answer is 200 `{"code": 0, "message": "OK"}`.
A wrong token is answered 401 and a body of the wrong shape 400; both are kept in
`protocol_errors`, which a correct client never fills.

Every request is recorded in `requests` and every delivery the provider accepted (it answered, or
was about to answer, 200 code 0) in `accepted`. What it does can be switched at run time:

    provider.mode = "ok" | "error" (500) | "busy" (429) | "slow" (sleeps `slow_seconds`, longer than
                    any client timeout, then answers like ok) | "garbage" (200 that is not JSON) |
                    "reject" (422, a permanent refusal)
    await provider.stop(); ...; await provider.start()   # down: connection refused, same port after
    provider.fail_first(2, "error")   # the first 2 requests for each id get "error", then `mode`
    provider.delay = 0.1              # "ok" works this long before accepting
    provider.answer_delay = 0.2       # "ok" accepts, then takes this long to say so

It also tracks how many requests it was serving at once (`in_flight`, `max_in_flight`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from tests.local_server import LocalServer

MODES = ("ok", "error", "busy", "slow", "garbage", "reject")
OK_BODY = {"code": 0, "message": "OK"}


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Request:
    """One request as the provider saw it; `body_id`, `phone` and `text` as sent (None if absent)."""

    id: int
    body_id: int | None
    phone: int | None
    text: str | None
    authorization: str | None
    arrived_at: datetime
    accepted_at: datetime | None = None
    finished_at: datetime | None = None  # answered, or abandoned by the client


class Provider(LocalServer):
    def __init__(self, token: str, *, slow_seconds: float = 30.0) -> None:
        self.token = token
        self.slow_seconds = slow_seconds
        self.mode = "ok"
        self.delay = 0.0
        self.answer_delay = 0.0
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self.protocol_errors: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: tuple[int, str] | None = None

    # -- control ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{self.base_url}/send"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(r"/send/{id:\d+}", self._send)

    def fail_first(self, count: int, mode: str) -> None:
        """Answer the first `count` requests for each message id in `mode`, later ones in `self.mode`."""
        assert mode in MODES, mode
        self._script = (count, mode)

    # -- what happened ------------------------------------------------------------------------

    def accepted_ids(self) -> Counter[int]:
        return Counter(request.id for request in self.accepted)

    def requests_for(self, message_id: int) -> list[Request]:
        return [request for request in self.requests if request.id == message_id]

    # -- the protocol -------------------------------------------------------------------------

    async def _send(self, http: web.Request) -> web.StreamResponse:
        raw = await http.read()
        body = _json_object(raw)
        request = Request(
            id=int(http.match_info["id"]),
            body_id=body.get("id"),
            phone=body.get("phone"),
            text=body.get("text"),
            authorization=http.headers.get("Authorization"),
            arrived_at=now(),
        )
        self.requests.append(request)
        if request.authorization != f"Bearer {self.token}":
            self.protocol_errors.append(f"{request.id}: Authorization {request.authorization!r}")
            return web.json_response({"code": 401, "message": "bad token"}, status=401)
        if problem := _shape_problem(request.id, body, raw):
            self.protocol_errors.append(f"{request.id}: {problem}")
            return web.json_response({"code": 400, "message": problem}, status=400)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(self._mode_for(request.id), request)
        finally:
            self.in_flight -= 1
            request.finished_at = now()

    def _mode_for(self, message_id: int) -> str:
        if self._script is not None:
            count, mode = self._script
            if len(self.requests_for(message_id)) <= count:
                return mode
        return self.mode

    async def _answer(self, mode: str, request: Request) -> web.StreamResponse:
        if mode == "error":
            return web.Response(status=500, text="Internal Server Error")
        if mode == "busy":
            return web.json_response({"code": 429, "message": "Too Many Requests"}, status=429)
        if mode == "garbage":
            return web.Response(status=200, text="<html>upstream confused</html>", content_type="text/html")
        if mode == "reject":
            return web.json_response({"code": 22, "message": "phone is not served"}, status=422)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return await self._accept(request)

    async def _accept(self, request: Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        request.accepted_at = now()
        self.accepted.append(request)
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return web.json_response(OK_BODY)


def _json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _shape_problem(path_id: int, body: dict, raw: bytes) -> str | None:
    """What is wrong with a request body, or None if it is exactly {id, phone, text} for this id."""
    if set(body) != {"id", "phone", "text"}:
        return f"body is not a JSON object of id, phone and text: {raw[:200]!r}"
    if type(body["id"]) is not int or body["id"] != path_id:
        return f"body id {body['id']!r} is not the id in the path"
    if type(body["phone"]) is not int:
        return f"phone {body['phone']!r} is not an integer"
    if not isinstance(body["text"], str):
        return f"text {body['text']!r} is not a string"
    return None

"""A real passport email service for tests: the protocol of server/gateways/passport_email_protocol.py
served on 127.0.0.1 by aiohttp.

`GET /emails?passportuid=<uid>` with `Authorization: Bearer <token>` answers `{"email": ...}` from
`emails` (an account mapped to None has no email), and 404 for an account it does not know. A
wrong token is answered 401, a request of the wrong shape 400; both are kept in
`protocol_errors`, which a correct client never fills. Every asked passportuid is in `asked`.

    service.mode = "ok" | "error" (500) | "garbage" (200 that is not JSON) | "slow" (sleeps
                   `slow_seconds`, longer than any client timeout) | "not_an_email"
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.local_server import LocalServer

PATH = "/emails"


class PassportService(LocalServer):
    def __init__(self, token: str = "passport-token", *, slow_seconds: float = 30.0) -> None:
        self.token = token
        self.slow_seconds = slow_seconds
        self.mode = "ok"
        self.emails: dict[str, str | None] = {}
        self.asked: list[str] = []
        self.protocol_errors: list[str] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}{PATH}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._email)

    async def _email(self, http: web.Request) -> web.StreamResponse:
        if http.headers.get("Authorization") != f"Bearer {self.token}":
            self.protocol_errors.append(f"Authorization {http.headers.get('Authorization')!r}")
            return web.json_response({"error": "bad token"}, status=401)
        uids = http.query.getall("passportuid", [])
        if len(uids) != 1 or not uids[0] or http.can_read_body:
            self.protocol_errors.append(f"bad request {http.query_string!r}")
            return web.json_response({"error": "one passportuid, no body"}, status=400)
        self.asked.append(uids[0])
        if self.mode == "error":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "garbage":
            return web.Response(status=200, text="<html>upstream confused</html>", content_type="text/html")
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.mode == "not_an_email":
            return web.json_response({"email": "nobody at all"})
        if uids[0] not in self.emails:
            return web.json_response({"error": "no such account"}, status=404)
        return web.json_response({"email": self.emails[uids[0]], "login": "ignored"})

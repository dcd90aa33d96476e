"""Requests that do not parse as HTTP (a NUL in a header, an 8 KB URL, a body that does not
decode): one WARNING line each and a JSON 400 in the error envelope of the family the request
line points at.

aiohttp answers these in its connection handler, before the application and its middlewares
see anything; by default it logs them at ERROR with a traceback and answers with a text body that
echoes the offending header (an `Authorization` value included). `Runner` is the AppRunner whose
connections answer them as Herald does instead; `main.py` serves through it.
Nothing here decides anything about a request that did parse.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from server.errors import BadRequest
from server.families import FamilyTable
from server.http import respond
from server.keys import FAMILY_TABLE

log = logging.getLogger("herald.http")

_REQUEST_LINE = re.compile(rb"[A-Z]{3,10} (/[^ ?#\r\n]*)")
_QUOTED = re.compile(r"""\s*['"(].*""")


def describe(exc: HttpProcessingError) -> str:
    """What is wrong, without the request's bytes (they may hold a secret)."""
    if isinstance(exc, LineTooLong):
        line, limit = exc.args[0], exc.args[1]
        starts = line[:1] if isinstance(line, str) else bytes(line[:1]).decode("latin-1")
        what = "The URL" if starts == "/" else "A request line or header"
        return f"{what} is longer than {limit} bytes."
    return f"Malformed HTTP request: {_reason(exc)}."


def describe_body(exc: RequestPayloadError) -> str:
    """What is wrong with a body that broke off or does not decode (the handler was reading it)."""
    cause = exc.__cause__
    return f"The request body cannot be read: {_reason(cause) if isinstance(cause, HttpProcessingError) else exc}."


def _reason(exc: HttpProcessingError) -> str:
    first = (exc.message or "Bad request").splitlines()[0]
    return _QUOTED.sub("", first.split(":")[0]).strip() or "Bad request"


class _ProtocolErrors(RequestHandler):
    _path = "/"  # of the latest request line seen on this connection: it picks the envelope

    def __init__(self, manager: web.Server, *, families: FamilyTable, **kwargs) -> None:
        super().__init__(manager, **kwargs)
        self._families = families

    def data_received(self, data: bytes) -> None:
        if match := _REQUEST_LINE.match(data):
            self._path = match[1].decode("latin-1")
        super().data_received(data)

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        detail = describe(exc)
        # Non-HTTP bytes as a connection's first request are port scanners and TLS clients: debug.
        level = logging.DEBUG if self._request_count == 1 and isinstance(exc, BadHttpMethod) else logging.WARNING
        log.log(level, "bad HTTP request from %s: %s", request.remote, detail, extra={"status": status})
        response = respond(self._families.of(self._path).error_body(BadRequest(detail)), status)
        response.force_close()
        return response

    def log_exception(self, *args, **kw) -> None:
        # A body that broke off was answered 400 and logged by the error middleware already;
        # aiohttp meets it again when it drains the rest of the body.
        if not isinstance(kw.get("exc_info"), (RequestPayloadError, HttpProcessingError)):
            super().log_exception(*args, **kw)


class _Server(web.Server):
    families: FamilyTable

    def __call__(self) -> RequestHandler:
        return _ProtocolErrors(self, families=self.families, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """`web.AppRunner` whose connections answer unparseable requests as described above."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        ours = _Server(server.request_handler, request_factory=server.request_factory,
                       handler_cancellation=server.handler_cancellation, **server._kwargs)
        ours.families = self.app[FAMILY_TABLE]
        return ours

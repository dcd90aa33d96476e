"""Requests that do not parse as HTTP, sent over a raw socket to the app served as main.py serves
it (server.protocol.Runner): a JSON 400 in the family's envelope and one WARNING line each, with
no traceback and nothing of the request's bytes (a token in a broken header stays out of the log).
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web

from server.app import create_app
from server.protocol import Runner
from tests.conftest import SEED_TOKEN

SECRET = "s3cr3t-token-value"


@pytest.fixture
async def served(make_settings):
    runner = Runner(create_app(make_settings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]
    await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, str, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers["Content-Type"], json.loads(body)


CASES = [
    pytest.param(b"GET /Clients/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + SECRET.encode() + b"\x00\r\n\r\n",
                 {"detail": "Malformed HTTP request: Invalid header value char."}, id="nul-in-header"),
    pytest.param(b"GET /Clients/?q=" + b"a" * 8200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 {"detail": "The URL is longer than 8190 bytes."}, id="8kb-url"),
    pytest.param(b"GET /email_subscription/v1.0/subscribe?email=" + b"a" * 8200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 {"status": "error", "message": "The URL is longer than 8190 bytes."}, id="8kb-url-subscriptions"),
    pytest.param(b"POST /email_subscription/v1.0/unsubscribe HTTP/1.1\r\nHost: x\r\nContent-Length: x1\r\n\r\n",
                 {"status": "error", "message": "Malformed HTTP request: Invalid character in Content-Length."},
                 id="bad-content-length"),
    pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
                 {"detail": "A request line or header is longer than 8190 bytes."}, id="8kb-header"),
]


@pytest.mark.parametrize(("raw", "body"), CASES)
async def test_a_request_that_does_not_parse_is_a_json_400_and_one_warning_line(served, caplog, raw, body):
    with caplog.at_level(logging.DEBUG):
        status, content_type, answer = await exchange(served, raw)
    assert (status, answer) == (400, body)
    assert content_type.startswith("application/json")
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname, r.exc_info) for r in problems] == [("herald.http", "WARNING", None)]
    assert problems[0].getMessage() == f"bad HTTP request from 127.0.0.1: {body.get('detail') or body['message']}"
    assert not any(SECRET in r.getMessage() for r in caplog.records)


async def test_requests_that_parse_are_untouched(served):
    status, content_type, answer = await exchange(served, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (status, answer) == (200, {"status": "ok"})


BODY_CASES = [
    pytest.param(b"POST /Clients/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + SEED_TOKEN.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nabcde",
                 {"detail": "The request body cannot be read: Can not decode content-encoding."}, id="notifications"),
    pytest.param(b"POST /email_subscription/v1.0/unsubscribe HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\nContent-Encoding: deflate\r\n"
                 b"Content-Length: 5\r\n\r\nid=12",
                 {"status": "error", "message": "The request body cannot be read: Can not decode content-encoding."},
                 id="subscriptions"),
]


@pytest.mark.parametrize(("raw", "body"), BODY_CASES)
async def test_a_body_that_does_not_decode_is_a_json_400_and_one_warning_line(served, caplog, raw, body):
    with caplog.at_level(logging.INFO):
        status, content_type, answer = await exchange(served, raw)
    assert (status, answer) == (400, body)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname, r.exc_info) for r in problems] == [("herald.http", "WARNING", None)]
    assert problems[0].getMessage().endswith(body.get("detail") or body["message"])

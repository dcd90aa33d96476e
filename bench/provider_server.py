"""A fast SMS provider for the dispatch benchmark, meant to run in its own process.

Speaks seed 003's external API (`POST /send/{msgId}`, JSON `{"id", "phone", "text"}`,
`Authorization: Bearer <token>`) and answers every well-formed request 200 `{"code": 0}`.
It counts what it accepted, per msgId, and prints the count when stopped; `GET /counts` answers
`{"accepted", "distinct", "repeated"}` (requests accepted, msgIds among them, msgIds accepted more
than once) for bench/crash.py. It does nothing else, so that the benchmark measures Herald and not
the provider.

    python bench/provider_server.py --token TOKEN [--port 0]    # prints "listening on PORT"
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import serve_main  # noqa: E402

OK = json.dumps({"code": 0, "message": "OK"}).encode()


def make_app(token: str) -> web.Application:
    expected = f"Bearer {token}"
    accepted = {"count": 0}
    per_id: Counter[int] = Counter()

    async def send(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        body = json.loads(await request.read())
        if body.get("id") != int(request.match_info["id"]) or not isinstance(body.get("phone"), int):
            return web.Response(status=400)
        accepted["count"] += 1
        per_id[body["id"]] += 1
        return web.Response(body=OK, content_type="application/json")

    async def counts(request: web.Request) -> web.Response:
        repeated = sum(1 for n in per_id.values() if n > 1)
        return web.json_response({"accepted": accepted["count"], "distinct": len(per_id), "repeated": repeated})

    app = web.Application()
    app["accepted"] = accepted
    app.router.add_post("/send/{id:\\d+}", send)
    app.router.add_get("/counts", counts)
    return app


def summary(app: web.Application) -> str:
    return f"accepted {app['accepted']['count']}"


if __name__ == "__main__":
    sys.exit(serve_main(sys.argv[1:], __doc__.splitlines()[0], make_app, summary))

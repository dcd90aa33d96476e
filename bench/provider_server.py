"""A fast SMS provider for the dispatch benchmark, meant to run in its own process.

Speaks seed 003's external API (`POST /send/{msgId}`, JSON `{"id", "phone", "text"}`,
`Authorization: Bearer <token>`) and answers every well-formed request 200 `{"code": 0}`.
It counts what it accepted and prints the count when stopped; it does nothing else, so that the
benchmark measures Herald and not the provider.

    python bench/provider_server.py --token TOKEN [--port 0]    # prints "listening on PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from aiohttp import web

OK = json.dumps({"code": 0, "message": "OK"}).encode()


def make_app(token: str) -> web.Application:
    expected = f"Bearer {token}"
    accepted = {"count": 0}

    async def send(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        body = json.loads(await request.read())
        if body.get("id") != int(request.match_info["id"]) or not isinstance(body.get("phone"), int):
            return web.Response(status=400)
        accepted["count"] += 1
        return web.Response(body=OK, content_type="application/json")

    app = web.Application()
    app["accepted"] = accepted
    app.router.add_post("/send/{id:\\d+}", send)
    return app


async def serve(token: str, port: int) -> None:
    app = make_app(token)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(f"listening on {site._server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()
    print(f"accepted {app['accepted']['count']}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.token, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A fast price index for the subscriptions benchmark, meant to run in its own process.

Speaks the protocol of server/gateways/price_index_protocol.py (`POST /min_prices`,
`Authorization: Bearer <token>`, `{"directions": [...]}`) and answers every direction found, at a
price made from its qkey. It counts the requests and directions it answered and prints the counts
when stopped; it does nothing else, so that the benchmark measures Herald and not the index.

    python bench/price_index_server.py --token TOKEN [--port 0]    # prints "listening on PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
import zlib

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import serve_until_signalled  # noqa: E402

LEG = {
    "departure_time": "12:00", "arrival_time": "13:10", "departure_date": "15.02", "arrival_date": "15.02",
    "airlines": "Уральские Авиалинии, Победа", "airlines_count": 2, "airline_avatar": None,
    "connections": "прямой рейс",
}


def result(qkey: str) -> dict:
    price = float(3000 + zlib.crc32(qkey.encode()) % 30000)
    return {
        "qkey": qkey, "found": True, "point_from": "Москва", "point_to": "Сочи",
        "avia_search_link": "https://avia.example.com/search/", "calendar_link": "https://avia.example.com/calendar/",
        "min_price": {"price": price, "currency": "RUB", "qkey": qkey, "forward": LEG, "backward": {},
                      "order_link": "https://avia.example.com/order/"},
        "popular_section_variants_data": {}, "other_data": {},
    }


def make_app(token: str) -> web.Application:
    expected = f"Bearer {token}"
    counts = {"requests": 0, "directions": 0}

    async def min_prices(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        directions = orjson.loads(await request.read())["directions"]
        counts["requests"] += 1
        counts["directions"] += len(directions)
        body = orjson.dumps({"results": [result(direction["qkey"]) for direction in directions]})
        return web.Response(body=body, content_type="application/json")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["counts"] = counts
    app.router.add_post("/min_prices", min_prices)
    return app


async def serve(token: str, port: int) -> None:
    app = make_app(token)
    await serve_until_signalled(app, port)
    counts = app["counts"]
    print(f"answered {counts['requests']} requests, {counts['directions']} directions", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.token, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

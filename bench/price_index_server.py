"""A fast price index for the subscriptions benchmark, meant to run in its own process.

Speaks the protocol of server/gateways/price_index_protocol.py (`POST /min_prices`,
`Authorization: Bearer <token>`, `{"directions": [...]}`) and answers every direction found, at a
price made from its qkey. It counts the requests and directions it answered and prints the counts
when stopped; it does nothing else, so that the benchmark measures Herald and not the index.

    python bench/price_index_server.py --token TOKEN [--port 0]    # prints "listening on PORT"
"""

from __future__ import annotations

import sys
from pathlib import Path
import zlib

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import serve_main  # noqa: E402

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


def summary(app: web.Application) -> str:
    return f"answered {app['counts']['requests']} requests, {app['counts']['directions']} directions"


if __name__ == "__main__":
    sys.exit(serve_main(sys.argv[1:], __doc__.splitlines()[0], make_app, summary))

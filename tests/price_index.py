"""A real price index for tests: the protocol of server/gateways/price_index_protocol.py served on
127.0.0.1 by aiohttp.

`POST /min_prices` with `Authorization: Bearer <token>` and `{"directions": [{"qkey", "date_range",
"filter"}, ...]}`; in mode `ok` each direction is answered found, at `prices[qkey]` if set (else a
price made from the qkey), in `currency`, unless its qkey is in `missing` (answered found: false).
A wrong token is answered 401 and a body of the wrong shape 400; both are kept in
`protocol_errors`, which a correct client never fills.

Every request's directions are recorded in `requests` (`asked()` counts them by qkey). What it
does can be switched at run time:

    index.mode = "ok" | "error" (500) | "garbage" (200 that is not JSON) | "slow" (sleeps
                 `slow_seconds`, longer than any client timeout) | "short" (one result too few) |
                 "negative" (every price below zero)
    index.fail_qkeys = {"..."}   # a request asking about any of these is answered 500, others ok
    index.delay = 0.05            # "ok" takes this long to answer
    await index.stop()            # down: connection refused

It also tracks how many requests it was serving at once (`in_flight`, `max_in_flight`).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter

from aiohttp import web

from tests.local_server import LocalServer

MODES = ("ok", "error", "garbage", "slow", "short", "negative")
LEG = {
    "departure_time": "12:00", "arrival_time": "13:10", "departure_date": "15.02", "arrival_date": "15.02",
    "airlines": "Уральские Авиалинии, Победа", "airlines_count": 2, "airline_avatar": None,
    "connections": "2 пересадки",
}


def default_price(qkey: str) -> float:
    return float(1000 + zlib.crc32(qkey.encode()) % 9000)


class PriceIndex(LocalServer):
    def __init__(self, token: str = "price-index-token", *, slow_seconds: float = 30.0) -> None:
        self.token = token
        self.slow_seconds = slow_seconds
        self.mode = "ok"
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.prices: dict[str, float] = {}
        self.currency = "RUB"
        self.missing: set[str] = set()
        self.fail_qkeys: set[str] = set()
        self.requests: list[list[dict]] = []
        self.protocol_errors: list[str] = []

    @property
    def url(self) -> str:
        return self.base_url

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/min_prices", self._min_prices)

    def asked(self) -> Counter[str]:
        return Counter(direction["qkey"] for request in self.requests for direction in request)

    def price_for(self, qkey: str) -> float:
        return self.prices.get(qkey, default_price(qkey))

    # -- the protocol -------------------------------------------------------------------------

    async def _min_prices(self, http: web.Request) -> web.StreamResponse:
        if http.headers.get("Authorization") != f"Bearer {self.token}":
            self.protocol_errors.append(f"Authorization {http.headers.get('Authorization')!r}")
            return web.json_response({"error": "bad token"}, status=401)
        raw = await http.read()
        directions, problem = _directions(raw)
        if problem:
            self.protocol_errors.append(problem)
            return web.json_response({"error": problem}, status=400)
        self.requests.append(directions)
        if self.fail_qkeys & {direction["qkey"] for direction in directions}:
            return web.Response(status=500, text="Internal Server Error")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(directions)
        finally:
            self.in_flight -= 1

    async def _answer(self, directions: list[dict]) -> web.StreamResponse:
        if self.mode == "error":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "garbage":
            return web.Response(status=200, text="<html>upstream confused</html>", content_type="text/html")
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.delay:
            await asyncio.sleep(self.delay)
        results = [self._result(direction) for direction in directions]
        if self.mode == "short":
            results = results[:-1]
        return web.json_response({"results": results})

    def _result(self, direction: dict) -> dict:
        qkey = direction["qkey"]
        if qkey in self.missing:
            return {"qkey": qkey, "found": False}
        price = -self.price_for(qkey) if self.mode == "negative" else self.price_for(qkey)
        return {
            "qkey": qkey,
            "found": True,
            "point_from": "Москва",
            "point_to": "Сочи",
            "avia_search_link": f"https://avia.test/search/?qkey={qkey}",
            "calendar_link": f"https://avia.test/calendar/?qkey={qkey}",
            "min_price": {
                "price": price, "currency": self.currency, "qkey": qkey,
                "forward": LEG, "backward": {}, "order_link": f"https://avia.test/order/?qkey={qkey}",
            },
            "popular_section_variants_data": {},
            "other_data": {"filter": direction["filter"]},
        }


def _directions(raw: bytes) -> tuple[list[dict], str | None]:
    """The asked directions, or what is wrong with the body."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return [], f"body is not JSON: {raw[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"directions"} or not isinstance(body["directions"], list):
        return [], f"body is not {{\"directions\": [...]}}: {raw[:200]!r}"
    if not body["directions"]:
        return [], "no directions asked"
    for direction in body["directions"]:
        if not isinstance(direction, dict) or set(direction) != {"qkey", "date_range", "filter"}:
            return [], f"a direction is not {{qkey, date_range, filter}}: {direction!r}"
        if not isinstance(direction["qkey"], str) or type(direction["date_range"]) is not int:
            return [], f"bad qkey or date_range: {direction!r}"
        if direction["filter"] is not None and not isinstance(direction["filter"], dict):
            return [], f"filter is neither an object nor null: {direction!r}"
    return body["directions"], None

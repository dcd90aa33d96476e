"""Price sources: `http` asks the price index (see price_index_protocol), `sandbox` makes prices up.

A source answers `fetch(batch)` with one PriceResult per asked direction, in order, or raises
PriceIndexError for the whole batch. The HTTP client only moves bytes; what they mean is decided
in price_index_protocol. The sandbox needs no network: its prices are a deterministic function of
(qkey, filter, date range, day) that moves a little every day, so a fresh machine sees price
changes. Neither source knows about the database or about subscriptions.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Protocol

import aiohttp
import orjson

from server.directions import Direction, parse_qkey
from server.gateways.price_index_protocol import (
    BatchError,
    DirectionRequest,
    PriceResult,
    Result,
    build_request,
    parse_reply,
    parse_result,
)
from server.settings import SubscriptionSettings
from server.timeutil import utc_now


class PriceIndexError(Exception):
    """A batch the price index did not answer usably; its directions are to be asked again later."""


class PriceSource(Protocol):
    batch_size: int  # directions per fetch
    concurrency: int  # fetches worth running at once

    async def fetch(self, batch: list[DirectionRequest]) -> list[PriceResult]: ...

    async def close(self) -> None: ...


def make_price_source(settings: SubscriptionSettings) -> PriceSource:
    if settings.price_index == "http":
        return HttpPriceSource(settings)
    return SandboxPriceSource(batch_size=settings.price_index_batch_size,
                              concurrency=settings.price_index_concurrency)


class HttpPriceSource:
    """The price index over HTTP: one session, one request per batch, each with its time limit."""

    def __init__(self, settings: SubscriptionSettings) -> None:
        self.batch_size = settings.price_index_batch_size
        self.concurrency = settings.price_index_concurrency
        self._url = settings.price_index_url
        self._token = settings.price_index_token
        self._timeout = aiohttp.ClientTimeout(total=settings.price_index_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, batch: list[DirectionRequest]) -> list[PriceResult]:
        request = build_request(self._url, self._token, batch)
        try:
            async with self._open_session().post(
                request.url, data=request.body, headers=request.headers, allow_redirects=False,
                timeout=self._timeout,
            ) as reply:
                answer = parse_reply(batch, reply.status, await reply.read())
        except asyncio.TimeoutError:
            raise PriceIndexError(f"price index did not answer within {self._timeout.total:g} s") from None
        except aiohttp.ClientError as exc:
            raise PriceIndexError(f"price index unreachable: {exc.__class__.__name__}: {exc}") from None
        if isinstance(answer, BatchError):
            raise PriceIndexError(answer.message)
        return answer

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, json_serialize=orjson.dumps)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# -- the sandbox -----------------------------------------------------------------------------

SANDBOX_HOST = "https://avia.example.com"
POINT_NAMES = {
    "c213": "Москва", "c2": "Санкт-Петербург", "c239": "Сочи", "c54": "Екатеринбург",
    "c65": "Новосибирск", "c35": "Краснодар", "c146": "Симферополь", "c43": "Казань",
    "c39": "Ростов-на-Дону", "c62": "Красноярск", "c75": "Владивосток", "c11508": "Стамбул",
    "c10502": "Париж", "c10393": "Лондон", "c10398": "Рим", "c10429": "Берлин",
}
CURRENCIES = {"ru": "RUB", "ua": "UAH", "kz": "KZT", "by": "BYN", "tr": "TRY", "uk": "GBP", "us": "USD"}
AIRLINES = ("Аэрофлот", "S7 Airlines", "Победа", "Уральские Авиалинии", "Utair", "Россия", "Nordwind")
CONNECTIONS = ("прямой рейс", "1 пересадка", "2 пересадки")


class SandboxPriceSource:
    """Made-up prices for a fresh machine; `today` is the day the prices are for."""

    def __init__(self, *, batch_size: int = 100, concurrency: int = 4,
                 today: Callable[[], date] = lambda: utc_now().date()) -> None:
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._today = today

    async def fetch(self, batch: list[DirectionRequest]) -> list[PriceResult]:
        day = self._today()
        return [sandbox_result(request, day) for request in batch]

    async def close(self) -> None:
        pass


def sandbox_price(request: DirectionRequest, day: date) -> tuple[float, str]:
    """A base price of the direction, moved by at most 8 % for the day."""
    currency = CURRENCIES.get(parse_qkey(request.qkey).national_version, "EUR")
    low, high = (3_000, 40_000) if currency in ("RUB", "UAH", "KZT") else (40, 600)
    base = low + _hash(request, "base") % (high - low)
    move = (_hash(request, day.isoformat()) % 1601 - 800) / 10_000
    price = base * (1 + move)
    return (float(round(price)) if high > 1000 else round(price, 2)), currency


def sandbox_result(request: DirectionRequest, day: date, *, price: float | None = None) -> PriceResult:
    """The sandbox's PriceResult, read through the protocol like an HTTP answer; `price` overrides."""
    answer = sandbox_answer(request, day, price=price)
    result = parse_result(request, Result.model_validate(answer))
    if isinstance(result, BatchError):
        raise PriceIndexError(result.message)
    return result


def sandbox_answer(request: DirectionRequest, day: date, *, price: float | None = None) -> dict[str, Any]:
    """The answer a price index would give for `request` on `day` (at `price`, if given)."""
    asked = parse_qkey(request.qkey)
    variant = _cheapest_variant(request, asked, day)
    sandbox, currency = sandbox_price(request, day)
    price = sandbox if price is None else price
    transfers = _transfers(request)
    return {
        "qkey": request.qkey,
        "found": True,
        "point_from": POINT_NAMES.get(asked.point_from, f"Город {asked.point_from}"),
        "point_to": POINT_NAMES.get(asked.point_to, f"Город {asked.point_to}"),
        "avia_search_link": f"{SANDBOX_HOST}/search/?{_trip_query(variant)}",
        "calendar_link": f"{SANDBOX_HOST}/search/calendar/?{_trip_query(asked)}",
        "min_price": {
            "price": price,
            "currency": currency,
            "qkey": variant.qkey,
            "forward": _leg(request, "forward", variant.date_forward, transfers),
            "backward": _leg(request, "backward", variant.date_backward, transfers) if variant.date_backward else {},
            "order_link": f"{SANDBOX_HOST}/order/?qkey={variant.qkey}&price={price:.2f}",
        },
        "popular_section_variants_data": {},
        "other_data": {},
    }


def _cheapest_variant(request: DirectionRequest, asked: Direction, day: date) -> Direction:
    span = 2 * request.date_range + 1
    variant = asked.shifted(_hash(request, "variant", day.isoformat()) % span - request.date_range)
    return variant if variant.date_forward >= day else asked


def _transfers(request: DirectionRequest) -> int:
    transfers = _hash(request, "transfers") % len(CONNECTIONS)
    if request.filter:
        allowed = (orjson.loads(request.filter).get("transfer") or {}).get("count")
        if allowed is not None:
            transfers = min(transfers, allowed)
    return transfers


def _leg(request: DirectionRequest, way: str, day: date, transfers: int) -> dict[str, Any]:
    departure = _hash(request, way, "departure") % (24 * 12) * 5  # minutes after midnight
    arrival = departure + 60 + _hash(request, way, "duration") % 300 + 90 * transfers
    count = 1 + _hash(request, way, "airlines") % 2
    first = _hash(request, way, "airline") % len(AIRLINES)
    airlines = [AIRLINES[(first + i) % len(AIRLINES)] for i in range(count)]
    return {
        "departure_time": _clock(departure),
        "arrival_time": _clock(arrival),
        "departure_date": day.strftime("%d.%m"),
        "arrival_date": (day + timedelta(days=arrival // (24 * 60))).strftime("%d.%m"),
        "airlines": ", ".join(airlines),
        "airlines_count": count,
        "airline_avatar": None,
        "connections": CONNECTIONS[transfers],
    }


def _trip_query(trip: Direction) -> str:
    backward = trip.date_backward.isoformat() if trip.date_backward else ""
    return (f"fromId={trip.point_from}&toId={trip.point_to}&when={trip.date_forward.isoformat()}"
            f"&return_date={backward}&klass={trip.klass}&adult_seats={trip.adults}"
            f"&children_seats={trip.children}&infant_seats={trip.infants}")


def _clock(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _hash(request: DirectionRequest, *salt: str) -> int:
    text = "|".join((request.qkey, request.filter, str(request.date_range), *salt))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

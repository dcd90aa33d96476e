"""The price index's protocol (seed 001's minimum prices), without I/O.

This module builds the request for a batch of directions and reads the answer; it never touches
the network, the database or the clock. What a real price source must do:

Request: `POST {price_index_url}/min_prices` with `Authorization: Bearer <price_index_token>` and
`Content-Type: application/json`; the body asks about up to `price_index_batch_size` directions:

    {"directions": [
        {"qkey": "c213_c239_2026-05-02_None_economy_1_0_0_ru",  // the subscribed trip
         "date_range": 0,      // days either side of the qkey's dates that are also acceptable
         "filter": null},      // or the filter object of seed 001, without filter_url_postfix
        ...]}

Answer: HTTP 200 with one result per asked direction, in the order asked:

    {"results": [
        {"qkey": "c213_c239_2026-05-02_None_economy_1_0_0_ru",  // as asked
         "found": true,        // false: no price for this direction now (nothing else is needed)
         "point_from": "Москва", "point_to": "Сочи",            // names for the email
         "avia_search_link": "https://...", "calendar_link": "https://...",   // or null
         "min_price": {
             "price": 200.12,             // the minimum price, > 0
             "currency": "EUR",           // ISO 4217 code: three capital letters
             "qkey": "c213_c239_2026-05-03_None_economy_1_0_0_ru",  // the cheapest variant's
                                          // trip: the asked one moved by at most date_range days
             "forward": {"departure_time": "12:00", "arrival_time": "13:10",
                         "departure_date": "15.02", "arrival_date": "15.02",
                         "airlines": "Уральские Авиалинии, Победа", "airlines_count": 2,
                         "airline_avatar": null, "connections": "2 пересадки"},
             "backward": {},              // same shape as forward; {} or null for a one-way trip
             "order_link": "https://..."},  // or null
         "popular_section_variants_data": {},  // optional objects, passed on to the email as is
         "other_data": {}},
        ...]}

Unknown fields are ignored. Anything else — another status, a body that is not this JSON, a
missing or short results list, a result for another qkey, a price that is not positive, a
currency that is not three capital letters, a variant outside the date range — makes the whole
batch unusable: `parse_reply` returns a `BatchError` saying why, and nothing of it is stored.
A found result becomes a `PriceResult` whose `details`, stored in `direction_prices.details`, are
the result as answered, checked and without unknown fields or `found`:

    {"qkey", "point_from", "point_to", "avia_search_link", "calendar_link",
     "min_price": {"price", "currency", "qkey", "forward", "backward", "order_link"},
     "popular_section_variants_data", "other_data"}

(`backward` is {} for a one-way trip); the price email's `content` is made from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from server.directions import QkeyError, parse_qkey

PATH = "/min_prices"


@dataclass(frozen=True)
class DirectionRequest:
    """One direction to ask about; `filter` is the canonical filter JSON ('' = no filter)."""

    qkey: str
    date_range: int = 0
    filter: str = ""


@dataclass(frozen=True)
class PriceResult:
    """What the index said about one asked direction; price, currency and details only if found."""

    request: DirectionRequest
    found: bool
    price: float | None = None
    currency: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchError:
    """Why a batch's answer cannot be used."""

    message: str


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    body: bytes


# -- the request -----------------------------------------------------------------------------

def request_item(request: DirectionRequest) -> dict[str, Any]:
    return {
        "qkey": request.qkey,
        "date_range": request.date_range,
        "filter": orjson.loads(request.filter) if request.filter else None,
    }


def build_request(price_index_url: str, token: str, batch: list[DirectionRequest]) -> HttpRequest:
    body = orjson.dumps({"directions": [request_item(request) for request in batch]})
    return HttpRequest(
        url=price_index_url.rstrip("/") + PATH,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=body,
    )


# -- the answer ------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Leg(_Model):
    departure_time: StrictStr
    arrival_time: StrictStr
    departure_date: StrictStr
    arrival_date: StrictStr
    airlines: StrictStr
    airlines_count: Annotated[StrictInt, Field(ge=0)]
    airline_avatar: StrictStr | None = None
    connections: StrictStr


class MinPrice(_Model):
    price: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
    qkey: StrictStr
    forward: Leg
    backward: Leg | None = None
    order_link: StrictStr | None = None

    @field_validator("backward", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == {} else value


class Result(_Model):
    qkey: StrictStr
    found: StrictBool
    point_from: StrictStr | None = None
    point_to: StrictStr | None = None
    avia_search_link: StrictStr | None = None
    calendar_link: StrictStr | None = None
    min_price: MinPrice | None = None
    popular_section_variants_data: dict[str, Any] = {}
    other_data: dict[str, Any] = {}


class Reply(_Model):
    results: list[Result]


def parse_reply(batch: list[DirectionRequest], status: int, body: bytes) -> list[PriceResult] | BatchError:
    """One PriceResult per asked direction, in the order asked, or why the answer is unusable."""
    if status != 200:
        return BatchError(f"price index answered HTTP {status}: {_excerpt(body)}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return BatchError(f"price index answered garbage: {_excerpt(body)}")
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return BatchError(f"price index answer has no results list: {_excerpt(body)}")
    if len(data["results"]) != len(batch):
        return BatchError(f"price index answered {len(data['results'])} results for {len(batch)} directions")
    try:
        reply = Reply.model_validate(data)
    except ValidationError as exc:
        return BatchError(f"price index answer is malformed: {_first_problem(exc)}")
    results = []
    for asked, result in zip(batch, reply.results):
        parsed = parse_result(asked, result)
        if isinstance(parsed, BatchError):
            return parsed
        results.append(parsed)
    return results


def parse_result(asked: DirectionRequest, result: Result) -> PriceResult | BatchError:
    if result.qkey != asked.qkey:
        return BatchError(f"price index answered about {result.qkey!r} where {asked.qkey!r} was asked")
    if not result.found:
        return PriceResult(asked, found=False)
    if result.min_price is None or result.point_from is None or result.point_to is None:
        return BatchError(f"{asked.qkey}: found without min_price, point_from and point_to")
    if problem := _variant_problem(asked, result.min_price.qkey):
        return BatchError(f"{asked.qkey}: {problem}")
    return PriceResult(asked, True, result.min_price.price, result.min_price.currency, details_of(result))


def _variant_problem(asked: DirectionRequest, variant_qkey: str) -> str | None:
    try:
        shift = parse_qkey(asked.qkey).shift_to(parse_qkey(variant_qkey))
    except QkeyError as exc:
        return f"min_price.qkey {variant_qkey!r} is not a qkey: {exc}"
    if shift is None or abs(shift) > asked.date_range:
        return f"min_price.qkey {variant_qkey!r} is not the asked trip within {asked.date_range} day(s)"
    return None


def details_of(result: Result) -> dict[str, Any]:
    """What is stored of a found result: the answer as checked, `backward` {} when absent."""
    details = result.model_dump(exclude={"found"})
    details["min_price"]["backward"] = details["min_price"]["backward"] or {}
    return details


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']} (and {exc.error_count() - 1} more)" if exc.error_count() > 1 \
        else f"{where}: {error['msg']}"


def _excerpt(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", "replace")

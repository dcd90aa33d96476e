"""server/gateways/price_index_protocol.py and price_index.py: the request, every kind of answer,
the HTTP client against a real local price index, and the sandbox."""

from __future__ import annotations

import json
from datetime import date

import orjson
import pytest

from server.gateways.price_index import (
    HttpPriceSource,
    PriceIndexError,
    SandboxPriceSource,
    make_price_source,
)
from server.gateways.price_index_protocol import (
    BatchError,
    DirectionRequest,
    PriceResult,
    build_request,
    parse_reply,
)
from server.settings import SubscriptionSettings
from tests.price_index import LEG, PriceIndex

ONE_WAY = "c213_c239_2030-05-02_None_economy_1_0_0_ru"
ROUND_TRIP = "c213_c2_2030-05-02_2030-05-09_business_2_1_0_ru"
FILTER = '{"transfer":{"count":1},"withBaggage":true}'


def found(qkey: str, **overrides) -> dict:
    min_price = {"price": 200.12, "currency": "EUR", "qkey": qkey, "forward": LEG, "backward": {},
                 "order_link": "https://avia.test/order"}
    min_price.update(overrides.pop("min_price", {}))
    return {"qkey": qkey, "found": True, "point_from": "Москва", "point_to": "Сочи",
            "avia_search_link": "https://avia.test/search", "calendar_link": "https://avia.test/calendar",
            "min_price": min_price, "popular_section_variants_data": {"a": 1}, "other_data": {}, **overrides}


def reply(*results: dict) -> bytes:
    return json.dumps({"results": list(results)}).encode()


# -- the request -----------------------------------------------------------------------------

@pytest.mark.parametrize("base", ["https://prices.example/v2", "https://prices.example/v2/"])
def test_the_request_goes_to_min_prices_under_the_configured_url(base):
    assert build_request(base, "t", [DirectionRequest(ONE_WAY)]).url == "https://prices.example/v2/min_prices"


def test_the_request_carries_the_bearer_token_and_every_direction_in_order():
    batch = [DirectionRequest(ONE_WAY), DirectionRequest(ROUND_TRIP, 3, FILTER)]
    request = build_request("http://index", "secret", batch)
    assert request.headers == {"Authorization": "Bearer secret", "Content-Type": "application/json"}
    assert json.loads(request.body) == {"directions": [
        {"qkey": ONE_WAY, "date_range": 0, "filter": None},
        {"qkey": ROUND_TRIP, "date_range": 3, "filter": {"transfer": {"count": 1}, "withBaggage": True}},
    ]}


# -- the answer ------------------------------------------------------------------------------

def test_a_found_result_gives_price_currency_and_the_details_of_the_email():
    asked = DirectionRequest(ONE_WAY)
    [result] = parse_reply([asked], 200, reply(found(ONE_WAY)))
    assert (result.request, result.found, result.price, result.currency) == (asked, True, 200.12, "EUR")
    assert result.details == {
        "qkey": ONE_WAY, "point_from": "Москва", "point_to": "Сочи",
        "avia_search_link": "https://avia.test/search", "calendar_link": "https://avia.test/calendar",
        "min_price": {"qkey": ONE_WAY, "price": 200.12, "currency": "EUR", "forward": LEG,
                      "backward": {}, "order_link": "https://avia.test/order"},
        "popular_section_variants_data": {"a": 1}, "other_data": {},
    }


def test_not_found_results_keep_their_place_and_unknown_fields_are_ignored():
    batch = [DirectionRequest(ONE_WAY), DirectionRequest(ROUND_TRIP)]
    body = reply({"qkey": ONE_WAY, "found": False, "why": "no flights"},
                 found(ROUND_TRIP, extra_field=1, min_price={"backward": LEG, "price": 99}))
    first, second = parse_reply(batch, 200, body)
    assert first == PriceResult(batch[0], found=False)
    assert (second.found, second.price, second.details["min_price"]["backward"]) == (True, 99.0, LEG)
    assert "extra_field" not in second.details


def test_the_cheapest_variant_may_be_another_day_within_the_date_range():
    asked = DirectionRequest(ROUND_TRIP, date_range=2)
    moved = "c213_c2_2030-05-04_2030-05-11_business_2_1_0_ru"
    [result] = parse_reply([asked], 200, reply(found(ROUND_TRIP, min_price={"qkey": moved})))
    assert result.details["min_price"]["qkey"] == moved


BAD_ANSWERS = {
    "server error": (500, b"Internal Server Error", "HTTP 500"),
    "not found status": (404, b"no such path", "HTTP 404"),
    "not JSON": (200, b"<html>oops</html>", "garbage"),
    "empty body": (200, b"", "garbage"),
    "not an object": (200, b"[1, 2]", "no results"),
    "no results": (200, b'{"prices": []}', "no results"),
    "results not a list": (200, b'{"results": {}}', "no results"),
    "one result too few": (200, reply(found(ONE_WAY)), "1 results for 2"),
    "one result too many": (200, reply(found(ONE_WAY), found(ROUND_TRIP), found(ONE_WAY)), "3 results for 2"),
    "another order": (200, reply(found(ROUND_TRIP), found(ONE_WAY)), "where"),
    "negative price": (200, reply(found(ONE_WAY, min_price={"price": -5}), found(ROUND_TRIP)), "price"),
    "zero price": (200, reply(found(ONE_WAY, min_price={"price": 0}), found(ROUND_TRIP)), "price"),
    "price as text": (200, reply(found(ONE_WAY, min_price={"price": "cheap"}), found(ROUND_TRIP)), "price"),
    "lower-case currency": (200, reply(found(ONE_WAY, min_price={"currency": "eur"}), found(ROUND_TRIP)), "currency"),
    "currency name": (200, reply(found(ONE_WAY, min_price={"currency": "EURO"}), found(ROUND_TRIP)), "currency"),
    "found without price": (200, reply(found(ONE_WAY) | {"min_price": None}, found(ROUND_TRIP)),
                            "without min_price"),
    "found without points": (200, reply(found(ONE_WAY, point_to=None), found(ROUND_TRIP)), "point_to"),
    "found not a boolean": (200, reply(found(ONE_WAY, found="yes"), found(ROUND_TRIP)), "found"),
    "variant of another trip": (200, reply(found(ONE_WAY, min_price={"qkey": ROUND_TRIP}), found(ROUND_TRIP)),
                                "not the asked trip"),
    "variant outside the range": (200, reply(found(ONE_WAY), found(ROUND_TRIP, min_price={
        "qkey": "c213_c2_2030-05-03_2030-05-10_business_2_1_0_ru"})), "within 0 day"),
    "variant not a qkey": (200, reply(found(ONE_WAY, min_price={"qkey": "cheap"}), found(ROUND_TRIP)),
                           "not a qkey"),
    "leg missing a field": (200, reply(found(ONE_WAY, min_price={"forward": {"departure_time": "12:00"}}),
                                       found(ROUND_TRIP)), "forward"),
}


@pytest.mark.parametrize("status, body, says", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_an_unusable_answer_is_an_error_for_the_whole_batch_saying_why(status, body, says):
    batch = [DirectionRequest(ONE_WAY), DirectionRequest(ROUND_TRIP)]
    answer = parse_reply(batch, status, body)
    assert isinstance(answer, BatchError)
    assert says in answer.message


# -- the HTTP source against a real price index ------------------------------------------------

@pytest.fixture
async def index():
    server = PriceIndex("index-token", slow_seconds=5)
    await server.start()
    yield server
    await server.stop()


def http_settings(index: PriceIndex, **overrides) -> SubscriptionSettings:
    values = {"price_index": "http", "price_index_url": index.url, "price_index_token": "index-token",
              "price_index_timeout_seconds": 1, "price_index_batch_size": 7, "price_index_concurrency": 3}
    return SubscriptionSettings(**{**values, **overrides})


@pytest.fixture
async def http_source(index):
    source = make_price_source(http_settings(index))
    yield source
    await source.close()


async def test_the_http_source_asks_with_the_protocol_and_returns_results_in_order(index, http_source):
    assert isinstance(http_source, HttpPriceSource)
    assert (http_source.batch_size, http_source.concurrency) == (7, 3)
    index.prices[ROUND_TRIP] = 4321.5
    index.missing.add(ONE_WAY)
    batch = [DirectionRequest(ONE_WAY), DirectionRequest(ROUND_TRIP, 1, FILTER)]
    first, second = await http_source.fetch(batch)
    assert index.protocol_errors == []
    assert index.requests == [[{"qkey": ONE_WAY, "date_range": 0, "filter": None},
                               {"qkey": ROUND_TRIP, "date_range": 1, "filter": orjson.loads(FILTER)}]]
    assert (first.found, second.found, second.price, second.currency) == (False, True, 4321.5, "RUB")
    assert second.details["other_data"] == {"filter": orjson.loads(FILTER)}


@pytest.mark.parametrize("mode, says", [("error", "HTTP 500"), ("garbage", "garbage"), ("short", "results for"),
                                        ("negative", "price"), ("slow", "within 1 s")])
async def test_a_bad_answer_raises_price_index_error(index, http_source, mode, says):
    index.mode = mode
    with pytest.raises(PriceIndexError, match=says):
        await http_source.fetch([DirectionRequest(ONE_WAY), DirectionRequest(ROUND_TRIP)])


async def test_a_wrong_token_is_an_error_the_index_saw(index):
    source = HttpPriceSource(http_settings(index, price_index_token="wrong"))
    try:
        with pytest.raises(PriceIndexError, match="HTTP 401"):
            await source.fetch([DirectionRequest(ONE_WAY)])
    finally:
        await source.close()
    assert index.protocol_errors


async def test_an_index_that_is_down_raises_price_index_error(index, http_source):
    await index.stop()
    with pytest.raises(PriceIndexError, match="unreachable"):
        await http_source.fetch([DirectionRequest(ONE_WAY)])


async def test_the_http_source_recovers_after_a_failure(index, http_source):
    index.mode = "error"
    with pytest.raises(PriceIndexError):
        await http_source.fetch([DirectionRequest(ONE_WAY)])
    index.mode = "ok"
    [result] = await http_source.fetch([DirectionRequest(ONE_WAY)])
    assert result.found


# -- the sandbox -----------------------------------------------------------------------------

def test_the_sandbox_is_the_default():
    source = make_price_source(SubscriptionSettings())
    assert isinstance(source, SandboxPriceSource)
    assert (source.batch_size, source.concurrency) == (100, 4)


def sandbox(day: date) -> SandboxPriceSource:
    return SandboxPriceSource(today=lambda: day)


BATCH = [DirectionRequest(ONE_WAY), DirectionRequest(ROUND_TRIP, 3), DirectionRequest(ROUND_TRIP, 3, FILTER),
         DirectionRequest("c54_c2_2030-01-10_None_economy_1_0_0_com")]


async def test_the_sandbox_answers_the_same_for_the_same_direction_and_day():
    day = date(2030, 4, 1)
    first, again = await sandbox(day).fetch(BATCH), await sandbox(day).fetch(BATCH)
    assert first == again
    assert all(result.found and result.price > 0 for result in first)
    assert [result.request for result in first] == BATCH
    assert len({result.price for result in first}) == len(BATCH)  # filter and range make other directions


async def test_sandbox_prices_move_a_little_from_day_to_day():
    week = [await sandbox(date(2030, 4, day)).fetch(BATCH) for day in range(1, 8)]
    for position in range(len(BATCH)):
        prices = [results[position].price for results in week]
        assert len(set(prices)) > 1
        assert max(prices) / min(prices) < 1.2


async def test_sandbox_answers_look_like_the_index_answers():
    [one_way, round_trip, filtered, foreign] = await sandbox(date(2030, 4, 1)).fetch(BATCH)
    assert (one_way.currency, foreign.currency) == ("RUB", "EUR")
    assert (one_way.details["point_from"], one_way.details["point_to"]) == ("Москва", "Сочи")
    assert one_way.details["avia_search_link"].startswith("https://avia.example.com/")
    assert one_way.details["min_price"]["backward"] == {}
    assert round_trip.details["min_price"]["backward"]["departure_date"]
    assert filtered.details["min_price"]["forward"]["connections"] in ("прямой рейс", "1 пересадка")

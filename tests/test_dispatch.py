"""The SMS delivery engine (jobs/sms_channel.py on jobs/delivery.py) end to end: the real app (transport `http`) on a real SQLite file, driven
through its HTTP API, sending to a real provider on 127.0.0.1 (tests/provider.py).

Waits poll /Stats/{id}/ until the expected counts show up, so the tests run as fast as the engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs.sms_channel import SmsChannel
from server.app import create_app
from server.keys import SETTINGS
from tests.conftest import AUTH
from tests.provider import Provider

PROVIDER_TOKEN = "provider-jwt-for-tests"
# Quick retries; the timeout is generous so that a loaded machine does not turn an accepted request
# into a timeout (and a legitimate resend); tests about timeouts set their own.
FAST_RETRIES = {"retry_base_seconds": 0.05, "retry_max_seconds": 0.2, "timeout_seconds": 2}


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
async def provider():
    provider = Provider(PROVIDER_TOKEN)
    await provider.start()
    yield provider
    await provider.stop()
    assert provider.protocol_errors == []


@pytest.fixture
def http_settings(make_settings, provider):
    """http_settings(**notifications) -> Settings with transport http pointed at `provider`."""

    def build(**notifications):
        return make_settings(notifications={
            "transport": "http", "provider_url": provider.url, "provider_token": PROVIDER_TOKEN,
            **FAST_RETRIES, **notifications,
        })

    return build


@pytest.fixture
def herald(provider, aiohttp_client, http_settings):
    """herald(**notifications) -> a test client of the app built by create_app."""

    async def start(**notifications):
        return await aiohttp_client(create_app(http_settings(**notifications)))

    return start


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def phone(code: str, n: int) -> str:
    return f"7{code}{n:07d}"


async def add_client(api, phone_number: str, tag: str = "", tz: str = "UTC") -> dict:
    response = await api.post(
        "/Clients/", json={"phone_number": phone_number, "tag": tag, "timezone": tz}, headers=AUTH
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def add_clients(api, count: int, code: str = "977", **fields) -> list[dict]:
    return [await add_client(api, phone(code, n), **fields) for n in range(count)]


async def add_mailing(api, text: str, start: datetime | None = None, end: datetime | None = None,
                      **fields) -> dict:
    start = start or utc_now() - timedelta(seconds=1)
    end = end or start + timedelta(minutes=5)
    body = {"message_text": text, "datetime_start": start.isoformat(), "datetime_end": end.isoformat(), **fields}
    response = await api.post("/Mailing/", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    return await response.json()


async def stats(api, mailing_id: int) -> dict:
    response = await api.get(f"/Stats/{mailing_id}/?limit=1000", headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


def counts(mailing_stats: dict) -> dict[str, int]:
    return {status: count for status, count in mailing_stats["statuses"].items() if count}


def messages_of(mailing_stats: dict) -> list[dict]:
    return mailing_stats["messages"]["results"]


async def wait_for(api, mailing_id: int, expected: dict[str, int] | Callable[[dict], bool],
                   timeout: float = 10) -> dict:
    """Poll /Stats/{id}/ until its counts equal `expected` (or `expected(stats)` holds)."""
    done = expected if callable(expected) else lambda current: counts(current) == expected
    deadline = time.monotonic() + timeout
    while True:
        current = await stats(api, mailing_id)
        if done(current):
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"mailing {mailing_id}: after {timeout} s still {counts(current)}, wanted {expected}")
        await asyncio.sleep(0.05)


async def eventually(condition: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


def settled(mailing_stats: dict) -> bool:
    """Nothing of the mailing is waiting or on its way any more."""
    current = counts(mailing_stats)
    return bool(current) and not current.get("pending") and not current.get("sending")


def statuses_in_db(path: Path) -> dict[int, str]:
    with closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT id, status FROM messages"))


def zone_at_local_hour(hour: int) -> str:
    """A fixed-offset IANA zone whose clock now reads `hour` (and the same minutes as UTC)."""
    offset = (hour - utc_now().hour) % 24
    if offset > 14:
        offset -= 24
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


# -- who gets what ----------------------------------------------------------------------------


async def test_each_mailing_reaches_exactly_the_clients_its_filters_match(herald, provider):
    api = await herald()
    vip = await add_client(api, phone("977", 1), tag="vip")
    vip_new = await add_client(api, phone("921", 2), tag="vip,new")
    new = await add_client(api, phone("977", 3), tag="new")
    plain = await add_client(api, phone("925", 4))
    gone = await add_client(api, phone("977", 5), tag="vip")
    assert (await api.delete(f"/Clients/{gone['id']}/", headers=AUTH)).status == 204

    cases = {
        "to vip": ({"filter_tag": "vip"}, [vip, vip_new]),
        "to 977": ({"filter_op_codes": "977"}, [vip, new]),
        "to new on 977 or 925": ({"filter_tag": "new", "filter_op_codes": "977,925"}, [new]),
        "to vip or new": ({"filter_tag": "vip,new"}, [vip, vip_new, new]),
        "to everyone": ({}, [vip, vip_new, new, plain]),
    }
    mailings = {text: await add_mailing(api, text, **filters) for text, (filters, _) in cases.items()}
    for text, (_, recipients) in cases.items():
        final = await wait_for(api, mailings[text]["id"], {"sent": len(recipients)})
        assert sorted(m["client_id"] for m in messages_of(final)) == sorted(c["id"] for c in recipients)

    received: dict[str, set[int]] = {}
    for request in provider.accepted:
        received.setdefault(request.text, set()).add(request.phone)
    assert received == {text: {int(c["phone_number"]) for c in recipients}
                        for text, (_, recipients) in cases.items()}
    assert set(provider.accepted_ids().values()) == {1}


async def test_the_provider_gets_the_message_id_phone_text_and_bearer_token(herald, provider):
    api = await herald()
    client = await add_client(api, phone("977", 4053329))
    mailing = await add_mailing(api, "Привет, it's Herald")
    final = await wait_for(api, mailing["id"], {"sent": 1})

    [message] = messages_of(final)
    [request] = provider.requests
    assert (request.id, request.body_id, request.phone, request.text) == (
        message["id"], message["id"], 79774053329, "Привет, it's Herald")
    assert request.authorization == f"Bearer {PROVIDER_TOKEN}"
    assert message["client_id"] == client["id"]
    assert message["phone_number"] == "79774053329"
    assert (message["status"], message["attempts"], message["last_error"]) == ("sent", 1, None)
    assert message["sent_at"] is not None and message["created_at"] <= message["sent_at"]


# -- a provider that misbehaves ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["error", "busy", "garbage", "slow"])
async def test_a_misbehaving_provider_costs_retries_never_a_message(herald, provider, mode):
    provider.fail_first(2, mode)
    api = await herald(timeout_seconds=1)  # "slow" outlasts it
    await add_clients(api, 4)
    mailing = await add_mailing(api, f"despite {mode}")
    final = await wait_for(api, mailing["id"], {"sent": 4})

    ids = [m["id"] for m in messages_of(final)]
    assert provider.accepted_ids() == Counter(ids)
    assert all(len(provider.requests_for(message_id)) == 3 for message_id in ids)
    assert [(m["attempts"], m["last_error"]) for m in messages_of(final)] == [(3, None)] * 4


async def test_a_provider_that_is_down_for_a_while_gets_everything_once_it_is_back(herald, provider):
    api = await herald(max_attempts=1000)
    await add_clients(api, 4)
    await provider.stop()
    mailing = await add_mailing(api, "after the outage")
    failing = await wait_for(api, mailing["id"], lambda s: s["total"] == 4 and all(
        m["attempts"] >= 2 for m in messages_of(s)))
    assert all("unreachable" in m["last_error"] for m in messages_of(failing))
    assert counts(failing).keys() <= {"pending", "sending"}

    await provider.start()
    final = await wait_for(api, mailing["id"], {"sent": 4})
    assert provider.accepted_ids() == Counter(m["id"] for m in messages_of(final))


async def test_a_permanent_refusal_fails_the_message_at_once(herald, provider):
    provider.mode = "reject"
    api = await herald()
    await add_clients(api, 3)
    mailing = await add_mailing(api, "refused")
    final = await wait_for(api, mailing["id"], {"failed": 3})

    for message in messages_of(final):
        assert (message["attempts"], message["sent_at"]) == (1, None)
        assert "422" in message["last_error"]
    await asyncio.sleep(0.3)
    assert len(provider.requests) == 3 and provider.accepted == []


async def test_a_message_fails_when_its_attempts_run_out(herald, provider):
    provider.mode = "error"
    api = await herald(max_attempts=3)
    await add_clients(api, 2)
    mailing = await add_mailing(api, "never lucky")
    final = await wait_for(api, mailing["id"], {"failed": 2})

    for message in messages_of(final):
        assert message["attempts"] == 3
        assert message["last_error"].startswith("gave up after 3 attempts")
        assert "500" in message["last_error"]
    await asyncio.sleep(0.3)
    assert Counter(request.id for request in provider.requests) == Counter(
        {m["id"]: 3 for m in messages_of(final)})


# -- the mailing's span -----------------------------------------------------------------------


async def test_a_future_mailing_starts_by_itself_and_not_before_its_start(herald, provider):
    api = await herald()
    await add_clients(api, 3)
    start = utc_now().replace(microsecond=0) + timedelta(seconds=2)
    mailing = await add_mailing(api, "later", start=start)

    await asyncio.sleep(0.5)
    assert counts(await stats(api, mailing["id"])) == {}
    assert provider.requests == []
    await wait_for(api, mailing["id"], {"sent": 3}, timeout=8)
    assert all(request.arrived_at >= start for request in provider.requests)


async def test_moving_a_running_mailings_start_ahead_holds_it_until_the_new_start(herald, provider):
    api = await herald(concurrency=1, rate_limit=5)
    await add_clients(api, 6)
    mailing = await add_mailing(api, "held")
    await eventually(lambda: len(provider.accepted) >= 1, what="a first delivery")

    new_start = utc_now().replace(microsecond=0) + timedelta(seconds=2)
    response = await api.patch(f"/Mailing/{mailing['id']}/", json={"datetime_start": new_start.isoformat()},
                               headers=AUTH)
    assert response.status == 200
    patched_at = utc_now()
    # Well before the engine's 60 s safety wake: the new start itself must wake it.
    await wait_for(api, mailing["id"], {"sent": 6}, timeout=8)
    early = [r for r in provider.requests if patched_at < r.arrived_at < new_start]
    assert len(early) <= 1  # concurrency 1: at most the one already on its way


async def test_what_the_end_overtakes_while_the_provider_is_down_is_expired(herald, provider):
    api = await herald(max_attempts=1000)
    await add_clients(api, 3)
    await provider.stop()
    mailing = await add_mailing(api, "too late", end=utc_now() + timedelta(seconds=1.5))
    final = await wait_for(api, mailing["id"], {"expired": 3}, timeout=6)
    assert all(m["attempts"] >= 1 and m["sent_at"] is None for m in messages_of(final))

    await provider.start()
    await asyncio.sleep(0.5)
    assert provider.requests == []


async def test_no_request_to_a_hanging_provider_outlives_the_mailings_end(herald, provider):
    provider.mode = "slow"
    api = await herald(timeout_seconds=30)
    await add_clients(api, 3)
    end = utc_now() + timedelta(seconds=1)
    mailing = await add_mailing(api, "cut short", end=end)
    await wait_for(api, mailing["id"], {"expired": 3}, timeout=6)

    assert len(provider.requests) == 3 and provider.accepted == []
    assert all(r.finished_at is not None and r.finished_at < end + timedelta(seconds=0.3)
               for r in provider.requests)


# -- sending windows --------------------------------------------------------------------------


async def window_case(api, provider, window: tuple[str, str], inside: list[int], outside: list[int]) -> None:
    """Clients whose local clocks read the hours `inside` get the message; those at `outside` wait."""
    ins = [await add_client(api, phone("977", hour), tz=zone_at_local_hour(hour)) for hour in inside]
    outs = [await add_client(api, phone("921", hour), tz=zone_at_local_hour(hour)) for hour in outside]
    mailing = await add_mailing(api, "in hours", window_start=window[0], window_end=window[1])
    await wait_for(api, mailing["id"], {"sent": len(ins), "pending": len(outs)})
    await asyncio.sleep(0.3)

    final = await stats(api, mailing["id"])
    assert counts(final) == {"sent": len(ins), "pending": len(outs)}
    assert {request.phone for request in provider.requests} == {int(c["phone_number"]) for c in ins}
    waiting = {c["id"] for c in outs}
    assert all(m["attempts"] == 0 for m in messages_of(final) if m["client_id"] in waiting)


async def test_only_clients_inside_their_local_sending_window_get_the_message(herald, provider):
    api = await herald()
    await window_case(api, provider, ("08:30", "11:30"), inside=[9, 10], outside=[7, 12, 20])


async def test_a_sending_window_may_cross_midnight(herald, provider):
    api = await herald()
    await window_case(api, provider, ("22:30", "01:30"), inside=[23, 0], outside=[2, 12, 21])


# -- edits and deletes ------------------------------------------------------------------------


async def test_an_edit_applies_to_every_message_not_yet_sent(herald, provider):
    api = await herald(concurrency=1, rate_limit=10)
    tagged = {"a": [], "b": []}
    for n in range(10):
        for tag in tagged:
            tagged[tag].append(await add_client(api, phone("977" if tag == "a" else "921", n), tag=tag))
    mailing = await add_mailing(api, "old text", filter_tag="a,b")
    await eventually(lambda: len(provider.accepted) >= 4, what="four deliveries")

    sent_before = set(provider.accepted_ids())
    response = await api.patch(f"/Mailing/{mailing['id']}/", json={"message_text": "new text", "filter_tag": "a"},
                               headers=AUTH)
    assert response.status == 200
    final = await wait_for(api, mailing["id"], settled)

    b_phones = {int(c["phone_number"]) for c in tagged["b"]}
    later = [r for r in provider.accepted if r.id not in sent_before]
    stale = [r for r in later if r.text != "new text" or r.phone in b_phones]
    assert len(stale) <= 1  # concurrency 1: at most the one already on its way
    delivered = provider.accepted_ids()
    assert set(delivered.values()) == {1}
    status_of = {m["client_id"]: m["status"] for m in messages_of(final)}
    assert all(status_of[c["id"]] == "sent" for c in tagged["a"])
    assert {m["id"]: m["status"] for m in messages_of(final) if m["id"] not in delivered} == {
        m["id"]: "cancelled" for m in messages_of(final) if m["id"] not in delivered}
    assert counts(final) == {"sent": len(delivered), "cancelled": 20 - len(delivered)}


async def test_deleting_a_running_mailing_stops_it_at_once(herald, provider):
    api = await herald(concurrency=1, rate_limit=10)
    await add_clients(api, 20)
    mailing = await add_mailing(api, "stop me")
    await eventually(lambda: len(provider.accepted) >= 3, what="three deliveries")

    assert (await api.delete(f"/Mailing/{mailing['id']}/", headers=AUTH)).status == 204
    requested = len(provider.requests)
    await asyncio.sleep(0.5)
    assert len(provider.requests) <= requested + 1  # at most the one already on its way

    statuses = statuses_in_db(api.app[SETTINGS].storage.path)
    assert len(statuses) == 20 and set(statuses.values()) <= {"sent", "cancelled"}
    assert {i for i, status in statuses.items() if status == "sent"} == set(provider.accepted_ids())
    assert (await api.get(f"/Stats/{mailing['id']}/", headers=AUTH)).status == 404


async def test_a_deleted_client_gets_nothing_more_even_if_already_queued(herald, provider):
    api = await herald(concurrency=1, rate_limit=4)
    clients = await add_clients(api, 12)
    mailing = await add_mailing(api, "hello")
    await eventually(lambda: len(provider.accepted) >= 1, what="a first delivery")

    # The queue holds 4 x concurrency claimed messages: the next clients' are in it, not yet sent.
    queued = clients[3]
    in_db = statuses_in_db(api.app[SETTINGS].storage.path)
    assert sorted(in_db.values()).count("sending") >= 3
    assert (await api.delete(f"/Clients/{queued['id']}/", headers=AUTH)).status == 204
    await wait_for(api, mailing["id"], lambda current: counts(current).get("sent") == 11)
    assert int(queued["phone_number"]) not in {request.phone for request in provider.requests}
    statuses = {m["client_id"]: m["status"] for m in messages_of(await stats(api, mailing["id"]))}
    assert statuses[queued["id"]] == "cancelled"


async def test_a_mailing_bigger_than_the_queue_is_sent_in_full_and_does_not_hold_up_another(herald, provider):
    provider.delay = 0.01
    api = await herald(concurrency=10)
    everyone = 2 * SmsChannel.CLAIM_BATCH + 300  # many times what the engine claims at once
    for first in range(0, everyone, 50):
        await asyncio.gather(*(add_client(api, phone("977", n), tag="few" if n < 5 else "")
                               for n in range(first, min(first + 50, everyone))))
    big = await add_mailing(api, "to everyone")
    await eventually(lambda: len(provider.accepted) >= 50, what="the big mailing under way")

    small = await add_mailing(api, "to a few", filter_tag="few")
    await wait_for(api, small["id"], {"sent": 5}, timeout=5)
    big_sent = counts(await stats(api, big["id"])).get("sent", 0)
    assert big_sent < everyone // 2, "the small mailing waited for the big one"
    await wait_for(api, big["id"], {"sent": everyone}, timeout=20)
    assert set(provider.accepted_ids().values()) == {1}


# -- pace -------------------------------------------------------------------------------------


async def test_no_more_requests_in_flight_than_the_concurrency(herald, provider):
    provider.delay = 0.1
    api = await herald(concurrency=3)
    await add_clients(api, 15)
    mailing = await add_mailing(api, "three at a time")
    await wait_for(api, mailing["id"], {"sent": 15})
    assert provider.max_in_flight == 3


async def test_the_rate_limit_spaces_requests_out(herald, provider):
    api = await herald(concurrency=10, rate_limit=20)
    await add_clients(api, 20)
    mailing = await add_mailing(api, "twenty a second")
    await wait_for(api, mailing["id"], {"sent": 20})
    arrivals = sorted(request.arrived_at for request in provider.requests)
    assert (arrivals[-1] - arrivals[0]).total_seconds() >= 0.85  # 19 gaps of 1/20 s


async def test_the_api_stays_fast_while_the_provider_hangs(herald, provider):
    provider.mode = "slow"
    api = await herald(concurrency=5, timeout_seconds=30)
    await add_clients(api, 10)
    await add_mailing(api, "into the void")
    await eventually(lambda: provider.in_flight == 5, what="five hanging requests")

    for _ in range(5):
        started = time.perf_counter()
        response = await api.get("/Clients/", headers=AUTH)
        assert response.status == 200
        assert time.perf_counter() - started < 0.5
    started = time.perf_counter()
    await add_mailing(api, "another one")
    assert time.perf_counter() - started < 0.5


# -- restart ----------------------------------------------------------------------------------


async def test_a_restart_mid_mailing_loses_nothing_and_resends_only_what_was_in_flight(
    provider, aiohttp_client, http_settings
):
    provider.answer_delay = 0.2  # accepted, but the answer is late: a shutdown catches it mid-way
    settings = http_settings(concurrency=4)
    first = await aiohttp_client(create_app(settings))
    await add_clients(first, 40)
    mailing = await add_mailing(first, "across a restart")
    await eventually(lambda: len(provider.accepted) >= 8, what="eight deliveries")
    await first.close()

    statuses = statuses_in_db(settings.storage.path)
    in_flight = {i for i, status in statuses.items() if status == "sending"}
    assert len(statuses) == 40 and set(statuses.values()) <= {"sent", "sending", "pending"}
    assert in_flight, "the shutdown should have caught requests on their way"

    second = await aiohttp_client(create_app(settings))
    final = await wait_for(second, mailing["id"], {"sent": 40}, timeout=15)
    delivered = provider.accepted_ids()
    assert set(delivered) == {m["id"] for m in messages_of(final)}
    assert {i for i, times in delivered.items() if times > 1} <= in_flight

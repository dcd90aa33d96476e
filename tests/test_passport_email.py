"""The passport email lookup: its protocol without I/O (server/gateways/passport_email_protocol.py),
and its HTTP client against a real service on 127.0.0.1 (tests/passport_service.py), including
the service's failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.passport_emails import find_passport_emails
from server.gateways.passport_email import PassportEmailError, PassportEmailLookup, make_passport_email_lookup
from server.gateways.passport_email_protocol import Found, LookupFailure, build_request, parse_reply
from server.settings import SubscriptionSettings
from server.timeutil import utc_now
from storage import subscribers
from storage.subscribers import Identity, Subscription
from tests.passport_service import PassportService


def test_the_request_is_a_get_with_the_passportuid_and_the_bearer_token():
    request = build_request("https://accounts.example.com/emails", "t0ken", "36972065")
    assert request.url == "https://accounts.example.com/emails?passportuid=36972065"
    assert request.headers == {"Accept": "application/json", "Authorization": "Bearer t0ken"}
    kept = build_request("https://accounts.example.com/emails?client=herald", "", "a b&c")
    assert kept.url == "https://accounts.example.com/emails?client=herald&passportuid=a+b%26c"
    assert "Authorization" not in kept.headers  # no token set: none sent


@pytest.mark.parametrize("status,body,expected", [
    (200, b'{"email": "Vasya@Example.com "}', Found("vasya@example.com")),
    (200, b'{"email": null, "login": "vasya"}', Found(None)),
    (404, b"no such account", Found(None)),
])
def test_answers_that_say_something(status, body, expected):
    assert parse_reply(status, body) == expected


@pytest.mark.parametrize("status,body,why", [
    (500, b"Internal Server Error", "HTTP 500"),
    (401, b'{"email": "a@example.com"}', "HTTP 401"),
    (200, b"<html>", "garbage"),
    (200, b'["a@example.com"]', "no email field"),
    (200, b"{}", "no email field"),
    (200, b'{"email": 5}', "not a string"),
    (200, b'{"email": "not an address"}', "not an email address"),
    (200, b'{"email": "a@b.c\\nBcc: x@y.z"}', "not an email address"),
])
def test_answers_that_cannot_be_used_say_why(status, body, why):
    failure = parse_reply(status, body)
    assert isinstance(failure, LookupFailure) and why in failure.message


@pytest.fixture
async def service():
    running = PassportService()
    await running.start()
    yield running
    await running.stop()
    assert running.protocol_errors == []


def lookup_of(service: PassportService, **changes) -> PassportEmailLookup:
    settings = SubscriptionSettings(passport_email_url=service.url, passport_email_token=service.token, **changes)
    lookup = make_passport_email_lookup(settings)
    assert lookup is not None
    return lookup


async def test_the_client_speaks_the_protocol_to_a_real_service(service):
    service.emails = {"1": "vasya@example.com", "2": None}
    lookup = lookup_of(service)
    try:
        assert await lookup.email_of("1") == "vasya@example.com"
        assert await lookup.email_of("2") is None
        assert await lookup.email_of("3") is None  # 404: an account the service does not know
    finally:
        await lookup.close()
    assert service.asked == ["1", "2", "3"]


@pytest.mark.parametrize("mode,why", [("error", "HTTP 500"), ("garbage", "garbage"),
                                      ("not_an_email", "not an email address"), ("slow", "did not answer within")])
async def test_a_failing_service_is_an_error_not_an_answer(service, mode, why):
    service.mode = mode
    service.emails = {"1": "vasya@example.com"}
    lookup = lookup_of(service, passport_email_timeout_seconds=0.2)
    try:
        with pytest.raises(PassportEmailError, match=why):
            await lookup.email_of("1")
    finally:
        await lookup.close()


async def test_a_service_that_is_down_is_an_error(service):
    lookup = lookup_of(service)
    await service.stop()
    try:
        with pytest.raises(PassportEmailError, match="unreachable"):
            await lookup.email_of("1")
    finally:
        await lookup.close()


def test_no_url_no_lookup_and_a_url_must_be_http():
    assert make_passport_email_lookup(SubscriptionSettings()) is None
    with pytest.raises(ValueError, match="passport_email_url"):
        SubscriptionSettings(passport_email_url="accounts.example.com/emails")


async def passport_subscriber(db, passportuid: str, qkey: str = "c213_c2_2030-04-01_None_economy_1_0_0_ru",
                              email: str | None = None, session: str | None = None) -> str:
    outcome = await subscribers.subscribe(
        db, Identity(email, passportuid, session), Subscription(qkey, 0, None, "", None, "test"),
        now=utc_now(), double_opt_in=True, cooldown=timedelta(minutes=60), public_url="http://herald.test")
    return outcome.id


async def test_found_addresses_are_given_to_their_subscribers_and_the_rest_waits(db, service, caplog):
    known = await passport_subscriber(db, "1")
    unknown = await passport_subscriber(db, "2")
    taken = await passport_subscriber(db, "3")
    await passport_subscriber(db, None, email="someone@example.com", session="s")  # owns that address
    gone = await passport_subscriber(db, "4")
    await subscribers.unsubscribe(db, gone, qkey=None, now=utc_now())  # nothing to mail: not asked
    service.emails = {"1": "one@example.com", "3": "someone@example.com", "4": "four@example.com"}
    lookup = lookup_of(service)
    try:
        summary = await find_passport_emails(db, lookup)
        again = await find_passport_emails(db, lookup)
        service.mode = "error"
        failing = await find_passport_emails(db, lookup)
    finally:
        await lookup.close()

    assert (summary.asked, summary.found, summary.unknown, summary.failed) == (3, 1, 1, 1)
    assert sorted(service.asked) == ["1", "2", "2", "2", "3", "3", "3"]  # the found one is not asked again
    assert (again.found, failing.failed) == (0, 2)
    rows = {row["id"]: row for row in await db.fetch_all("SELECT * FROM subscribers")}
    assert rows[known]["email"] == "one@example.com" and rows[known]["confirmed_at"] is not None
    assert await db.fetch_value("SELECT email FROM contacts WHERE id = ?", (rows[known]["contact_id"],)) == \
        "one@example.com"
    assert rows[unknown]["email"] is None and rows[taken]["email"] is None and rows[gone]["email"] is None
    warnings = [r for r in caplog.records if r.name == "herald.passport_emails" and r.levelname == "WARNING"]
    assert warnings and all(getattr(r, "subscriber_id", None) in (taken, unknown) for r in warnings)
    assert not any("someone@example.com" in r.getMessage() for r in caplog.records)  # no address in a log line

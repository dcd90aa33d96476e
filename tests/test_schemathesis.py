"""schemathesis over the OpenAPI document: every documented operation, fed generated valid and
invalid requests, never answers 5xx and never answers what the document does not say.

All of schemathesis's checks run: no server error; status code, media type, headers and body as
documented; schema-valid requests accepted (`positive_data_acceptance`) and schema-violating ones
refused (`negative_data_rejection`); auth enforced; unsupported methods refused. The two data checks
are wrapped: a rule the document states in words because JSON Schema cannot (a unique phone
number, an end after its start, `p` or `s` but not both) may refuse a schema-valid request, with a
400 that names that field, and only when the request breaks that rule. Bugs already known and
that the document states in words are excused precisely.

The document is read from server/openapi.json, which tests/test_openapi.py proves is what
/openapi.json serves. Each operation gets its own app from the real factory, on its own SQLite
file, served on a real local port from a thread with its own event loop (schemathesis's pytest
integration is synchronous), with a few clients, mailings and a subscriber made through the API
first so that ids hit real rows. The run is deterministic: a fixed seed, hypothesis derandomized,
no example database. A failure prints the request as a curl command and the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import hypothesis
import jsonschema_rs
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestServer
from schemathesis.specs.openapi.checks import missing_required_header, negative_data_rejection, positive_data_acceptance

from server.app import create_app
from tests.conftest import AUTH, SEED_TOKEN

SPEC_FILE = Path(__file__).resolve().parent.parent / "server" / "openapi.json"
SPEC = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
MAX_EXAMPLES = 30  # per operation and generation phase
SEEDED_PASSPORT = "36972065"

CONFIG = schemathesis.Config.from_dict({
    "seed": 6,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
    "auth": {"openapi": {"TokenAuth": {"api_key": f"Token {SEED_TOKEN}"}}},
    "checks": {"enabled": True},
    "output": {"sanitization": {"enabled": False}},  # the curl that reproduces a failure, as sent
})
schema = schemathesis.openapi.from_path(SPEC_FILE, config=CONFIG)


# -- a live server per operation ------------------------------------------------------------------


class LiveServer:
    """An aiohttp app served on 127.0.0.1 from a background thread's event loop."""

    def __init__(self, app):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-server", daemon=True)
        self.server = TestServer(app, host="127.0.0.1")

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> str:
        self.thread.start()
        self.run(self.server.start_server())
        return str(self.server.make_url("")).rstrip("/")

    def __exit__(self, *exc) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def seed(base: str) -> None:
    """Clients 1-3, a running mailing (1) and a future one (2), a subscriber: rows for ids to find."""
    with requests.Session() as http:
        http.headers.update(AUTH)
        for n, tag in enumerate(["vip", "moscow", "vip, moscow"]):
            http.post(f"{base}/Clients/", data={"phone_number": f"7900000000{n}", "tag": tag}).raise_for_status()
        for start, end in [("2020-01-01T00:00", "2099-01-01T00:00"), ("2098-01-01T00:00", "2098-01-02T00:00")]:
            http.post(f"{base}/Mailing/", json={"datetime_start": start, "datetime_end": end,
                                                "message_text": "Hello", "filter_tag": "vip"}).raise_for_status()
        http.get(f"{base}/email_subscription/v1.0/subscribe", params={
            "email": "vasya@example.com", "passportuid": SEEDED_PASSPORT,
            "qkey": "c213_c2_2027-04-01_None_economy_1_0_0_ru"}).raise_for_status()


@pytest.fixture
def live_server(make_settings):
    with LiveServer(create_app(make_settings())) as base:
        seed(base)
        yield base


# -- what a request carries -------------------------------------------------------------------------


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def first(value: Any) -> Any:
    """A repeated query parameter's first value (the one the server reads)."""
    return value[0] if isinstance(value, list) and value else value


def body_of(case) -> dict:
    body = case.body
    if isinstance(body, list):  # a form sent as pairs
        body = dict(pair for pair in body if isinstance(pair, tuple) and len(pair) == 2)
    return body if isinstance(body, dict) else {}


def params_of(case) -> dict:
    """The query string and the body together, the body winning (as the server reads them)."""
    query = {name: first(value) for name, value in (case.query or {}).items()}
    return {**query, **body_of(case)}


def strings_in(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_in(item)


# -- rules the document states in words (JSON Schema cannot say them) --------------------------------

UTC = timezone.utc
C0 = re.compile(r"[\x00-\x1f\x7f]")  # and DEL, as server/text.py refuses it
FIELDS = sorted({name for schema in SPEC["components"]["schemas"].values() for name in schema.get("properties", {})}
                | {p["name"] for p in SPEC["components"]["parameters"].values()} | {"tag", "operator_code"})


def not_a_real_moment(value: Any) -> bool:
    """Not a date and time Herald can store: no such day (02-30), or outside 1970-9998 in UTC."""
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return not 1970 <= moment.astimezone(UTC).year <= 9998
    except (ValueError, OverflowError):
        return True


def end_not_after_start(params: dict) -> bool:
    try:
        start, end = (datetime.fromisoformat(str(params[name]).replace("Z", "+00:00"))
                      for name in ("datetime_start", "datetime_end"))
        start, end = (moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in (start, end))
        return end <= start
    except (KeyError, ValueError, TypeError):
        return False


def not_a_zone(value: Any) -> bool:
    return not isinstance(value, str) or value.strip() not in available_timezones()


def qkey_breaks_its_rules(value: Any) -> bool:
    """The Qkey schema's description: points differ, real dates in 1970-9990, back not before forth,
    at most 9 passengers, no more infants than adults."""
    parts = str(value).strip().split("_")
    if len(parts) != 9:
        return True
    point_from, point_to, forward, backward, _, adults, children, infants, _ = parts
    try:
        days = [date.fromisoformat(forward)] + ([] if backward == "None" else [date.fromisoformat(backward)])
        counts = [int(adults), int(children), int(infants)]
    except ValueError:
        return True
    return (point_from == point_to or any(not 1970 <= day.year <= 9990 for day in days) or days != sorted(days)
            or sum(counts) > 9 or counts[2] > counts[0])


PRICE_FILTER = jsonschema_rs.validator_for({**SPEC, "$ref": "#/components/schemas/PriceFilter"})


def not_a_price_filter(value: Any) -> bool:
    """`filter` as the document says: a PriceFilter object (or null) as JSON text, or in a JSON body
    the object itself."""
    if blank(value) or isinstance(value, dict):
        return isinstance(value, dict) and not PRICE_FILTER.is_valid(value)
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return True
    return data is not None and not PRICE_FILTER.is_valid(data)


def reported(params: dict) -> dict:
    """The message of a chatbot report."""
    try:
        return params["data"]["details"]["message"]
    except (KeyError, TypeError):
        return {}


def not_a_chat_content(value: Any) -> bool:
    """`content` as the document says: JSON text of an object whose `message` is text."""
    try:
        return not isinstance(json.loads(value).get("message"), str)
    except (TypeError, ValueError, AttributeError):
        return True


def required_in_neither_place(name: str):
    return lambda case, params: blank(params.get(name))


def has_control_character(name: str):
    """Issue 6: C0 control characters are refused in every field (tab and newline where text allows
    them). The document's patterns say so where branch inputs adds the check; this rule keeps the
    test true to it for any other field that check covers."""
    allowed = "\t\n" if name == "message_text" else ""
    # Wherever it arrives: a query parameter is refused even where the body gives the field too.
    return lambda case, params: any(char not in allowed for value in (params.get(name), (case.query or {}).get(name))
                                    for text in strings_in(value) for char in C0.findall(text))


# (path prefix, methods, field, message or None for any, predicate(case, params)): a 400 on `field`
# for a schema-valid request is what the document promises when the predicate holds.
RULES = [
    *[("/", {"GET", "POST", "PUT", "PATCH"}, name, None, has_control_character(name)) for name in FIELDS],
    ("/Clients/", {"POST", "PUT", "PATCH"}, "phone_number", "client with this phone_number already exists.",
     lambda case, params: True),  # unique among clients: depends on what is stored
    ("/Clients/", {"POST", "PUT", "PATCH"}, "timezone", None, lambda case, params: not_a_zone(params.get("timezone"))),
    ("/Mailing/", {"POST", "PUT", "PATCH"}, "datetime_start", None,
     lambda case, params: not_a_real_moment(params.get("datetime_start"))),
    ("/Mailing/", {"POST", "PUT", "PATCH"}, "datetime_end", None,
     lambda case, params: not_a_real_moment(params.get("datetime_end"))),
    # PATCH is validated merged onto the stored mailing, so its cross-field rules depend on the row.
    ("/Mailing/", {"POST", "PUT"}, "datetime_end", "Must be after datetime_start.",
     lambda case, params: end_not_after_start(params)),
    ("/Mailing/", {"PATCH"}, "datetime_end", "Must be after datetime_start.", lambda case, params: True),
    *[("/Mailing/", {"POST", "PUT"}, name, "Give window_start and window_end together, or neither.",
       lambda case, params: blank(params.get("window_start")) != blank(params.get("window_end")))
      for name in ("window_start", "window_end")],
    *[("/Mailing/", {"PATCH"}, name, "Give window_start and window_end together, or neither.",
       lambda case, params: True) for name in ("window_start", "window_end")],
    ("/Mailing/", {"POST", "PUT"}, "window_end", "Must differ from window_start (the window would be empty).",
     lambda case, params: not blank(params.get("window_start"))
     and str(params.get("window_start")).strip() == str(params.get("window_end")).strip()),
    ("/Mailing/", {"PATCH"}, "window_end", "Must differ from window_start (the window would be empty).",
     lambda case, params: True),
    ("/email_subscription/", {"GET", "POST"}, "qkey", None,
     lambda case, params: qkey_breaks_its_rules(params.get("qkey"))),
    ("/email_subscription/v1.0/subscribe", {"GET", "POST"}, "filter", None,
     lambda case, params: not_a_price_filter(params.get("filter"))),
    ("/email_subscription/v1.0/subscribe", {"GET", "POST"}, "passportuid",
     "Give passportuid, email and passportuid, or email and session.",
     lambda case, params: blank(params.get("passportuid")) and blank(params.get("email"))),
    ("/email_subscription/v1.0/subscribe", {"GET", "POST"}, "session", "Give session (or passportuid) with email.",
     lambda case, params: blank(params.get("passportuid")) and blank(params.get("session"))),
    ("/email_subscription/v1.0/user_subscriptions", {"GET"}, "passportuid", "Give passportuid or email.",
     lambda case, params: blank(params.get("passportuid")) and blank(params.get("email"))),
    ("/email_subscription/v1.0/confirm", {"GET", "POST"}, "p",
     "Give p (sha256 of passportuid) or s (sha256 of session), one of them.",
     lambda case, params: blank(params.get("p")) == blank(params.get("s"))),
    # One-click links carry `id` (and `qkey`) in the query string; a form or JSON body may instead.
    ("/email_subscription/v1.0/unsubscribe", {"POST"}, "id", "This field is required.",
     required_in_neither_place("id")),
    ("/email_subscription/v1.0/unsubscribe/by_direction", {"POST"}, "qkey", "This field is required.",
     required_in_neither_place("qkey")),
    # The chatbot: a sender profile is known by the templates stored for her (none here).
    ("/chatbot/mailing/", {"POST"}, "data.female_id", None, lambda case, params: True),
    ("/chatbot/report/", {"POST"}, "data.details.message.content", None,
     lambda case, params: not_a_chat_content(reported(params).get("content"))),
    ("/chatbot/report/", {"POST"}, "data.details.message.date_created", None,
     lambda case, params: not_a_real_moment(reported(params).get("date_created"))),
    # The CRM: an account's zone is a client's (an IANA name); add-tag and remove-tag take `tags`
    # or `tag`, one of them at least.
    ("/api/v1/accounts", {"POST"}, "timezone", None, lambda case, params: not_a_zone(params.get("timezone"))),
    ("/api/v1/accounts/", {"POST"}, "tags", "Give tags (a list of tags) or tag.",
     lambda case, params: params.get("tags") is None and params.get("tag") is None),
    # The CRM's history: a reply names a platform user that exists (none is seeded here); an SMS
    # needs an account with a phone; an account is not merged into itself.
    ("/api/v1/accounts/", {"POST"}, "userId", None, lambda case, params: params.get("type") == "YOUR_MESSAGE"),
    ("/api/v1/accounts/", {"POST"}, "channel", None,
     lambda case, params: params.get("channel") == "system"
     or (params.get("type") == "YOUR_MESSAGE" and params.get("channel") == "sms")),
    ("/api/v1/accounts/", {"POST"}, "accountId", "An account cannot be merged into itself.",
     lambda case, params: same_id(params.get("accountId"), (case.path_parameters or {}).get("id"))),
]


def same_id(one: Any, other: Any) -> bool:
    """Two CRM ids (decimal digits) that name the same account."""
    return all(str(v).isascii() and str(v).isdigit() for v in (one, other)) and int(str(one)) == int(str(other))


def field_errors_of(response) -> dict[str, list[str]]:
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    enveloped = body.get("status") in ("error", 0) or body.get("result") is False  # subscriptions, crm, chatbot
    errors = body.get("errors", {}) if enveloped else body
    return errors if isinstance(errors, dict) and all(isinstance(v, list) for v in errors.values()) else {}


def refused_by_a_documented_rule(case, response) -> bool:
    """Every field the 400 names is explained by a rule of RULES that this request breaks."""
    errors = field_errors_of(response)
    params = params_of(case)
    method, path = case.method.upper(), case.operation.path
    if path.endswith("/page") and "".join(response.headers.get("content-type", [])).startswith("text/html"):
        # A page's error is HTML for a person: explained when the request breaks a rule of its API route.
        api = path.removesuffix("/page")
        return response.status_code == 400 and any(
            api.startswith(prefix) and method in methods and breaks(case, params)
            for prefix, methods, _, _, breaks in RULES)

    def explained(field: str, message: str) -> bool:
        return any(path.startswith(prefix) and method in methods and field == name
                   and (expected is None or message == expected) and breaks(case, params)
                   for prefix, methods, name, expected, breaks in RULES)

    return response.status_code == 400 and bool(errors) and all(
        explained(field, message) for field, messages in errors.items() for message in messages)


def documented_acceptance(ctx, response, case):
    """positive_data_acceptance, but for refusals under the document's rules in words."""
    if (case.meta is not None and case.meta.generation.mode.is_positive
            and refused_by_a_documented_rule(case, response)):
        return None
    return positive_data_acceptance(ctx, response, case)


# -- what the server still accepts although the document says no -----------------------------------


def known_leniency(case) -> str | None:
    """Why a schema-violating request was accepted, when that is a bug already known (see below)."""
    params, body = params_of(case), body_of(case)
    if case.media_type != "application/json":
        return None
    # The document says this in words: a JSON body may carry the filter object itself. (JSON Schema
    # cannot say it: both media types of a subscription body share one schema.)
    if isinstance(body.get("filter"), dict) and not not_a_price_filter(body["filter"]):
        return "JSON filter object"
    # Documented in the subscriptions family: a number sent in JSON for a text parameter (a
    # passportuid) is taken as its text, and date_range may be a numeric string as in a query.
    if case.operation.path.startswith("/email_subscription/"):
        if isinstance(body.get("date_range"), str):
            return "JSON date_range as a numeric string (documented)"
        if any(isinstance(value, int) and not isinstance(value, bool) for name, value in body.items()
               if name != "date_range"):
            return "JSON number taken as text (documented)"
    return None


def documented_rejection(ctx, response, case):
    """negative_data_rejection, but for the leniencies listed in known_leniency."""
    if (case.meta is not None and case.meta.generation.mode.is_negative and response.status_code < 300
            and known_leniency(case)):
        return None
    return negative_data_rejection(ctx, response, case)


def without_form_nulls(case) -> None:
    """A form has no null: schemathesis would send the text "null"; a form leaves the field out."""
    if case.media_type == "application/x-www-form-urlencoded" and isinstance(case.body, dict):
        case.body = {name: value for name, value in case.body.items() if value is not None}


def documented_refusal(ctx, response, case):
    """missing_required_header, but the chatbot refuses a request without a token with the 403
    its document says (issue 8), not a 401."""
    if case.operation.path.startswith("/chatbot/") and response.status_code == 403:
        return None
    return missing_required_header(ctx, response, case)


CHECKS = {"excluded_checks": [positive_data_acceptance, negative_data_rejection, missing_required_header],
          "additional_checks": [documented_acceptance, documented_rejection, documented_refusal]}


@schema.parametrize()
@hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_the_api_keeps_to_its_document(case, live_server):
    without_form_nulls(case)
    case.call_and_validate(base_url=live_server, **CHECKS)

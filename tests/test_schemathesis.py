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
from pydantic import AliasChoices
from schemathesis.specs.openapi.checks import (missing_required_header, negative_data_rejection,
                                               positive_data_acceptance, unsupported_method)

from handlers.telephony_schemas import ENDPOINTS
from server.app import create_app
from tests.conftest import AUTH, SEED_TOKEN
from tests.mango_emulator import MangoEmulator

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

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-server", daemon=True)
        self.server: TestServer | None = None

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def serve(self, app) -> str:
        self.server = TestServer(app, host="127.0.0.1")
        self.run(self.server.start_server())
        return str(self.server.make_url("")).rstrip("/")

    def __exit__(self, *exc) -> None:
        if self.server is not None:
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


MANGO_KEY, MANGO_SALT = "schemathesis-vpbx-key", "schemathesis-vpbx-salt"
STATS_CALLS = [{"records": ["rec1", "rec2"], "start": 1767225700, "finish": 1767225760, "answer": 1767225705,
                "from_number": "79001234567", "to_extension": "101", "line_number": "74951234567"}]


@pytest.fixture
def live_server(make_settings):
    """The app, its PBX the strict emulator (tests/mango_emulator.py) in the same event loop, so that
    a schema-valid telephony request is forwarded and answered. The emulator never locks the
    account out (an error window of 0 s): each request Mango would refuse shows as itself, not as
    the 503s of a lockout that follow it."""
    with LiveServer() as server:
        mango = MangoEmulator(MANGO_KEY, MANGO_SALT, rate_limits=False, error_window_seconds=0)
        mango.stats_calls = STATS_CALLS
        server.run(mango.start())
        try:
            base = server.serve(create_app(make_settings(telephony={
                "api_url": mango.vpbx_url, "cc_api_url": mango.cc_url, "api_key": MANGO_KEY, "api_salt": MANGO_SALT,
                "rate_limits": False, "stats_poll_seconds": 0.01, "timeout_seconds": 5})))
            mango.webhook_base = f"{base}/mango/"  # the commands' result webhooks come back, signed
            seed(base)
            yield base
        finally:
            if server.server is not None:
                server.run(server.server.close())
                server.server = None
            server.run(mango.stop())


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


# -- the telephony gateway's rules in words ---------------------------------------------------------

TELEPHONY = {endpoint.path: endpoint for endpoint in ENDPOINTS}
PHONE = re.compile(r"\+?[0-9]{3,20}|sip:[^\s@:]+@[^\s@]+")
SIP_ADDRESS = re.compile(r"(sip:)?[^\s@:]+@[^\s@:]+")
ID_FIELDS = ("command_id", "call_id", "request_id", "from", "from_ext", "to", "to_num", "to_number",
             "call_party_number", "initiator")  # text of at most 128 bytes (Id, Target)


def given(params: dict, *names: str) -> Any:
    """The value a model reads for a field named `names` (its alias choices): the first one present."""
    return next((params[name] for name in names if name in params), None)


def as_int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def decoded(value: Any) -> Any:
    """A list or an object as a form sends it: its JSON text (as telephony_schemas._json_text reads it)."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def stats_names(value: Any) -> list | None:
    value = decoded(value)
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return value if isinstance(value, list) else None


def no_party(party: str):
    """The stats filter: `party` (an object with a non-null extension or number) or the seed's names."""
    def breaks(case, params):
        chosen = params.get(party)
        if isinstance(chosen, dict):
            return all(value is None for value in chosen.values())
        return (given(params, f"{party}_ext", f"{party}_extension") is None
                and given(params, f"{party}_num", f"{party}_number") is None)
    return breaks


def period(case, params) -> tuple[int, int] | None:
    start, end = as_int(params.get("date_from")), as_int(params.get("date_to"))
    return None if start is None or end is None else (start, end)


def bad_sip_headers(value: Any) -> bool:
    value = decoded(value)
    return not (isinstance(value, dict) and all(isinstance(v, str) and len(v.encode()) <= 64 for v in value.values()))


def not_its_json(name: str):
    """A form's list or object field: JSON text of what the JSON body's schema says."""
    def breaks(case, params):
        if case.media_type != "application/x-www-form-urlencoded" or not isinstance(params.get(name), str):
            return False
        schema = form_property(case, name)
        value = decoded(params[name])
        return value is None or isinstance(value, str) or not jsonschema_rs.validator_for(
            {**SPEC, **schema["contentSchema"]}).is_valid(value)
    return breaks


def form_property(case, name: str) -> dict:
    ref = case.operation.definition.raw["requestBody"]["content"][case.media_type]["schema"]["$ref"]
    return SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][name]


def after(one: Any, other: Any) -> bool:
    try:
        return date.fromisoformat(str(one)) > date.fromisoformat(str(other))
    except ValueError:
        return False


def strings_or_bools(value: Any):
    """Every scalar in a body, nested ones too."""
    if isinstance(value, dict):
        for item in value.values():
            yield from strings_or_bools(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_or_bools(item)
    else:
        yield value


REQUIRED = "This field is required."
TELEPHONY_RULES = [
    # A field given under one of its names: required, though no one name is.
    ("/send_sms", {"POST"}, "to_number", REQUIRED, lambda c, p: given(p, "to_number", "number", "to_num") is None),
    ("/send_sms", {"POST"}, "from_extension", REQUIRED, lambda c, p: given(p, "from_extension", "from_ext") is None),
    ("/callback", {"POST"}, "to_number", REQUIRED, lambda c, p: given(p, "to_number", "to_num") is None),
    ("/callback", {"POST"}, "from", "required, as {\"extension\": ...} or the seed's from_ext.",
     lambda c, p: p.get("from") is None and p.get("from_ext") is None),
    ("/group_callback", {"POST"}, "from", REQUIRED, lambda c, p: given(p, "from", "from_ext") is None),
    ("/group_callback", {"POST"}, "to", REQUIRED, lambda c, p: given(p, "to", "to_num", "to_number") is None),
    ("/group_callback", {"POST"}, "line_number", REQUIRED, lambda c, p: given(p, "line_number", "line") is None),
    ("/set_schema", {"POST"}, "schema_id", REQUIRED, lambda c, p: given(p, "schema_id", "schema") is None),
    ("/set_schema", {"POST"}, "line_id", "give the line (or trunk_number_id) to set the schema on.",
     lambda c, p: given(p, "line_id", "line") is None and given(p, "trunk_number_id", "trunk") is None),
    ("/add_bwlist", {"POST"}, "number_type", REQUIRED, lambda c, p: given(p, "number_type", "num_type") is None),
    ("/delete_bwlist", {"DELETE"}, "number_id", REQUIRED, lambda c, p: given(p, "number_id", "num_id") is None),
    # Statistics: a filter, a period of at most a month, each column once.
    *[(f"/get_stats_{party}", {"POST"}, party, None, no_party(party)) for party in ("to", "from", "call_party")],
    ("/get_stats_", {"POST"}, "date_from", "must be before date_to.",
     lambda c, p: (span := period(c, p)) is not None and span[0] >= span[1]),
    ("/get_stats_", {"POST"}, "date_to", "at most a month (31 days) after date_from.",
     lambda c, p: (span := period(c, p)) is not None and span[1] - span[0] > 31 * 24 * 3600),
    ("/get_stats_", {"POST"}, "fields", None,
     lambda c, p: (names := stats_names(p.get("fields"))) is not None and (not names or len(set(names)) < len(names))),
    # Byte limits: 128 for ids and targets, 64 for a SIP header; an SMS beyond Latin-1 is 268 characters.
    *[("/", {"POST"}, name, None, lambda c, p, name=name: c.operation.path in TELEPHONY
       and isinstance(p.get(name), str) and len(p[name].encode()) > 128) for name in ID_FIELDS],
    *[("/", {"POST"}, name, None, lambda c, p, name=name: c.operation.path in TELEPHONY and name in p
       and p[name] is not None and bad_sip_headers(p[name])) for name in ("sip_headers", "sip_head")],
    ("/send_sms", {"POST"}, "text", None,
     lambda c, p: isinstance(p.get("text"), str) and len(p["text"]) > 268 and any(ord(ch) > 255 for ch in p["text"])),
    # The black and white lists: a tel number is a phone number, a sip one an address.
    ("/add_bwlist", {"POST"}, "number",
     "Not a phone number (digits, + first at most, 3 to 20 of them) or a sip: address.",
     lambda c, p: given(p, "number_type", "num_type") == "tel" and isinstance(p.get("number"), str)
     and not PHONE.fullmatch(p["number"].strip(" \t\n\r"))),
    ("/add_bwlist", {"POST"}, "number", "A sip number is an address, user@domain.",
     lambda c, p: given(p, "number_type", "num_type") == "sip" and isinstance(p.get("number"), str)
     and not SIP_ADDRESS.fullmatch(p["number"].strip())),
    # A number as a JSON number is written without a fraction (the document says so).
    *[(path, {"POST"}, name, "Input should be a valid string",
       lambda c, p, name=name: isinstance(p.get(name), float))
      for path, name in [("/get_dct_user_info", "number"), ("/get_dct_user_history", "number"),
                         ("/send_sms", "to_number"), ("/send_sms", "number"), ("/send_sms", "to_num"),
                         ("/send_sms", "from_extension"), ("/send_sms", "from_ext"), ("/callback", "to_number"),
                         ("/callback", "to_num"), ("/callback", "from_ext"), ("/callback", "from_num"),
                         ("/user_list", "extension"), ("/group_list", "operator_extension"),
                         *[(f"/get_stats_{party}", f"{party}_{kind}") for party in ("to", "from", "call_party")
                           for kind in ("ext", "extension", "num", "number")]]],
    *[(path, {"POST"}, name, None, lambda c, p, name=name: isinstance(p.get(name), float))
      for path, name in [("/group_callback", "from"), ("/group_callback", "from_ext"), ("/group_callback", "to"),
                         ("/group_callback", "to_num"), ("/group_callback", "to_number"),
                         ("/group_callback", "line_number"), ("/group_callback", "line"),
                         ("/start_record", "call_party_number"), ("/route_call", "to_number"),
                         ("/transfer_call", "to_number"), ("/transfer_call", "initiator")]],
    ("/cc_deal_list", {"POST"}, "from_date", "must not be after until_date.",
     lambda c, p: after(p.get("from_date"), p.get("until_date"))),
    # In a form, a list or an object is its JSON text.
    *[(path, {"POST"}, name, None, not_its_json(name))
      for path, name in [("/callback", "sip_headers"), ("/callback", "sip_head"), ("/route_call", "sip_headers"),
                         ("/route_call", "sip_head"), ("/ab_contact_init", "order"), ("/cc_deal_list", "abonent_ids"),
                         ("/cc_deal_list", "members_ids")]],
    *[("/telephony/calls/", {"GET"}, name, None, lambda c, p, name=name: not_a_real_moment(p.get(name)))
      for name in ("date_from", "date_to")],
]
RULES += TELEPHONY_RULES


def ignored_names(path: str, params: dict) -> set[str]:
    """The names a telephony model does not read in `params`: all but the first given of a field's
    names, and the seed's names of a party given as Mango's object."""
    model = TELEPHONY[path].request
    ignored = set()
    for field in model.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            names = [str(choice) for choice in field.validation_alias.choices]
            present = [name for name in names if name in params]
            ignored |= set(present[1:])
    for party in ("from", "to", "call_party"):
        if params.get(party) is not None and any(name.startswith(party + "_") for name in params):
            ignored |= {f"{party}_ext", f"{party}_extension", f"{party}_num", f"{party}_number"} - {"from_extension"}
    return ignored


def valid_body(case, body: dict) -> bool:
    ref = case.operation.definition.raw["requestBody"]["content"][case.media_type]["schema"]["$ref"]
    return jsonschema_rs.validator_for({**SPEC, "$ref": ref}).is_valid(body)


def valid_without(case, names: set[str]) -> bool:
    return valid_body(case, {name: value for name, value in body_of(case).items() if name not in names})


def field_errors_of(response) -> dict[str, list[str]]:
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    enveloped = body.get("status") in ("error", 0) or body.get("result") is False  # subscriptions, crm, chatbot
    enveloped |= "detail" in body and isinstance(body.get("errors"), dict)  # telephony
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
        # A telephony 400 names a list's or an object's part as `order.0`: it is the field's.
        return any(path.startswith(prefix) and method in methods
                   and (field == name or (path in TELEPHONY and field.startswith(name + ".")))
                   and (expected is None or message == expected) and breaks(case, params)
                   for prefix, methods, name, expected, breaks in RULES)

    return response.status_code == 400 and bool(errors) and all(
        explained(field, message) for field, messages in errors.items() for message in messages)


def documented_acceptance(ctx, response, case):
    """positive_data_acceptance, but for refusals under the document's rules in words."""
    if case.operation.path == "/mango/{path}":
        # A webhook's credential is its signature, sha256(key + json + salt) with the PBX's secret
        # salt: schemathesis cannot sign, so no generated webhook is Mango's and each is refused
        # (401 for another key, 403 for a wrong sign). Every other check runs on it.
        return None
    if (case.meta is not None and case.meta.generation.mode.is_positive
            and refused_by_a_documented_rule(case, response)):
        return None
    return positive_data_acceptance(ctx, response, case)


# -- what the server still accepts although the document says no -----------------------------------


def known_leniency(case) -> str | None:
    """Why a schema-violating request was accepted, when that is a bug already known (see below)."""
    params, body = params_of(case), body_of(case)
    # The telephony document says so in words: of a field's names the first given counts, the
    # others are ignored (so is `from_ext` beside `from`), whatever they hold.
    if case.operation.path in TELEPHONY and case.body is not None and case.media_type:
        ignored = ignored_names(case.operation.path, body)
        if ignored & set(body) and valid_without(case, ignored):
            return "an ignored name of a field (documented)"
        # Known bug (reported): a JSON true or false for an integer field is read as 1 or 0.
        def as_int_(value):
            return int(value) if isinstance(value, bool) else [as_int_(item) for item in value] \
                if isinstance(value, list) else value
        as_ints = {name: as_int_(value) for name, value in body.items()}
        if (case.media_type == "application/json" and any(isinstance(value, bool) for value in strings_or_bools(body))
                and valid_body(case, as_ints)):
            return "a JSON boolean read as an integer (known bug)"
    # Known bug (reported): a JSON number for a day is read as unix time (0 as 1970-01-01).
    days = {name: "1970-01-01" for name in ("from_date", "until_date")
            if isinstance(body.get(name), (int, float)) and not isinstance(body.get(name), bool)}
    if case.operation.path == "/cc_deal_list" and days and valid_body(case, {**body, **days}):
        return "a JSON number read as a day (known bug)"
    if case.operation.path == "/delete_bwlist":  # documented: the body wins over the query string
        read = given(params, "number_id", "num_id")
        if as_int(read) is not None and not isinstance(read, bool) and 0 <= as_int(read) < 2**63:
            return "the id read is valid (the body wins)"
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


def documented_method(ctx, response, case):
    """unsupported_method, but a webhook's signature is checked before its method, as its path's
    description says: an unsigned request of another method is a 401."""
    if case.operation.path == "/mango/{path}" and response.status_code == 401:
        return None
    return unsupported_method(ctx, response, case)


CHECKS = {"excluded_checks": [positive_data_acceptance, negative_data_rejection, missing_required_header,
                              unsupported_method],
          "additional_checks": [documented_acceptance, documented_rejection, documented_refusal, documented_method]}


@schema.parametrize()
@hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_the_api_keeps_to_its_document(case, live_server):
    without_form_nulls(case)
    case.call_and_validate(base_url=live_server, **CHECKS)

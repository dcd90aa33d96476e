"""A real MANGO OFFICE virtual PBX for tests: the VPBX API (shared/reference/mango-vpbx.md) served on
127.0.0.1 by aiohttp, checking every request the way the cloud PBX does.

Herald POSTs form fields `vpbx_api_key`, `sign` and `json` to `{vpbx_url}<path>` or `{cc_url}<path>`
(with or without a trailing slash). A request is checked in this order, the first failure answering:

    the account is locked        -> HTTP 401, LOCKED_BODY (recorded, not processed)
    a path Mango does not have   -> HTTP 404 {"result": 3100, ...}
    a rate limit is full         -> HTTP 429, RATE_LIMITED_BODY
    not POST 3101; a form field missing 3103; wrong key 3105; wrong sign 3102;
    json unparseable 3400, or not an object 3104
    the path's own fields        -> 3103 missing, 3104 wrong type or format, 3200 bad number,
                                    3111 bad stats date range, 3503 contact search over 500 rows
    an override set by answer()  -> as the test asked
    the PBX's own answer         -> commands {"result": 1000}, queries plausible Mango JSON, stats
                                    a key, then 204 until ready, then `;`-separated CSV

Mango errors come as {"result": <code>, "message": ...} with HTTP `error_http_status` (200, as the
real status is not documented). Every answer with a 3xxx result, whatever produced it, counts
towards the lockout: a second one within `error_window_seconds` locks the account for
`lockout_seconds`. A request that passed the key and sign checks is `processed` (and listed by
`forwarded()`) even when its content is then refused: Herald forwarded it, and must not have.

Every request is recorded in `requests` as it arrived. What the PBX does can be switched at run time:

    mango.answer("vpbx/account/balance", status=200, body={...}, times=1)   # then back to normal
    mango.delay = 2.0                 # sleep before handling every request (a client that gives up
                                      # meanwhile leaves a request with status None, never processed)
    await mango.stop(); await mango.start()   # unreachable, then back on the same port
    mango.error_http_status = 400
    mango.rate_limits = {}            # or MangoEmulator(..., rate_limits=False): no 429 at all
    mango.stats_calls = [{"start": 1700000000, "to_number": "74951234567", "records": ["r1"]}]
    mango.stats_polls_before_ready = 2; mango.stats_min_poll_seconds = 5

Webhooks go the other way, signed with the same key and salt, to `webhook_base + event_path`
(the base should end with "/"). Once a command is accepted, `result/<command>` follows after
`result_delay` seconds with the code `result_for(request)` returns (None: never sent), twice if
`repeat_results`; an SMS is then followed by `events/sms` (unless `sms_events` is off). Answers the
PBX's own code does not produce (overrides) have no webhooks. Webhooks are not retried, and
`stop()` drops those still scheduled. `send_webhook()` sends any other event, e.g. one built with
`call_event()` or `summary_event()`; `webhooks_sent` records them with Herald's HTTP status.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

from tests.local_server import LocalServer

SUCCESS = 1000
UNKNOWN_PATH = 3100
NOT_POST = 3101
BAD_SIGN = 3102
MISSING = 3103
BAD_FORMAT = 3104
BAD_KEY = 3105
BAD_DATE_RANGE = 3111
BAD_NUMBER = 3200
BAD_JSON = 3400
SEARCH_TOO_WIDE = 3503
MESSAGES = {
    UNKNOWN_PATH: "unknown method", NOT_POST: "only POST is accepted", BAD_SIGN: "bad sign",
    MISSING: "required parameter missing", BAD_FORMAT: "bad parameter format", BAD_KEY: "bad vpbx_api_key",
    BAD_DATE_RANGE: "bad date range", BAD_NUMBER: "bad number", BAD_JSON: "json is not valid",
    SEARCH_TOO_WIDE: "search too wide",
}

LOCKED_BODY = {"name": "Unauthorized", "message": "Account is locked.", "code": 0, "status": 401}
RATE_LIMITED_BODY = {"name": "Service Unavailable", "message": "Rate limit exceeded.", "code": 0, "status": 429}

# (requests, per seconds) for the whole account ("all"), a product ("vpbx", "cc") or one path.
MANGO_RATE_LIMITS: dict[str, tuple[int, float]] = {
    "all": (100, 1.0), "vpbx": (10, 1.0), "cc": (10, 1.0),
    "vpbx/commands/callback": (4, 1.0), "vpbx/commands/call/hangup": (4, 1.0),
    "vpbx/commands/recording/start": (4, 1.0),
    "vpbx/config/users/request": (1, 2.0), "vpbx/commands/transfer": (1, 2.0),
    "vpbx/stats/request": (1, 2.0), "vpbx/commands/route": (1, 2.0),
    "vpbx/account/balance": (2, 1.0), "vpbx/stats/result": (50, 1.0),
}

STATS_FIELDS = ("records", "start", "finish", "answer", "from_extension", "from_number", "to_extension",
                "to_number", "disconnect_reason", "line_number", "location", "entry_id", "create")
DEFAULT_STATS_FIELDS = ",".join(STATS_FIELDS[:11])
CALL_STATES = ("Appeared", "Connected", "OnHold", "Disconnected")


def sign(key: str, json_text: str, salt: str) -> str:
    """Mango's signature: plain SHA-256 of key + json + salt, lowercase hex."""
    return hashlib.sha256((key + json_text + salt).encode()).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


# -- field rules: a value -> the error code it earns, None when it is fine ------------------------

Rule = Callable[[Any], int | None]
NUMBER = re.compile(r"\+?\d{2,20}|(sip:)?[^@\s:]+@[^@\s]+")
DIGITS = re.compile(r"\d+")


class Field(NamedTuple):
    required: bool
    rule: Rule


def required(rule: Rule) -> Field:
    return Field(True, rule)


def optional(rule: Rule) -> Field:
    return Field(False, rule)


def text(value: Any) -> int | None:
    return None if isinstance(value, str) else BAD_FORMAT


def identifier(value: Any) -> int | None:
    return None if isinstance(value, str) and value else BAD_FORMAT


def integer(value: Any) -> int | None:
    """An integer, or a string of digits (Mango reads both)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return None if isinstance(value, str) and DIGITS.fullmatch(value) else BAD_FORMAT


def number(value: Any) -> int | None:
    """A phone number, an extension or a SIP address."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return BAD_FORMAT
    return None if NUMBER.fullmatch(str(value)) else BAD_NUMBER


def choice(*allowed: Any) -> Rule:
    return lambda value: None if isinstance(value, (str, int)) and value in allowed else BAD_FORMAT


def at_most(characters: int) -> Rule:
    return lambda value: None if isinstance(value, str) and len(value) <= characters else BAD_FORMAT


def list_of(rule: Rule) -> Rule:
    return lambda value: None if isinstance(value, list) and all(rule(item) is None for item in value) else BAD_FORMAT


def mapping(value: Any) -> int | None:
    return None if isinstance(value, dict) else BAD_FORMAT


def command_id(value: Any) -> int | None:
    return None if isinstance(value, str) and 0 < len(value.encode()) <= 128 else BAD_FORMAT


def sms_text(value: Any) -> int | None:
    """At most 612 characters of Latin text, 268 of any other (4 SMS parts)."""
    if not isinstance(value, str) or not value:
        return BAD_FORMAT
    return None if len(value) <= (612 if value.isascii() else 268) else BAD_FORMAT


def caller(value: Any) -> int | None:
    """commands/callback's `from`: {extension, number?}."""
    if not isinstance(value, dict):
        return BAD_FORMAT
    if "extension" not in value:
        return MISSING
    if code := integer(value["extension"]):
        return code
    return number(value["number"]) if "number" in value else None


def sip_headers(value: Any) -> int | None:
    if not isinstance(value, dict):
        return BAD_FORMAT
    fine = all(isinstance(v, str) and len(v.encode()) <= 64 for v in value.values())
    return None if fine else BAD_FORMAT


def day(value: Any) -> int | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return BAD_FORMAT
    try:
        date.fromisoformat(value)
    except ValueError:
        return BAD_FORMAT
    return None


def limit_rows(value: Any) -> int | None:
    if integer(value) or int(value) < 1:
        return BAD_FORMAT
    return SEARCH_TOO_WIDE if int(value) > 500 else None


def sort_order(value: Any) -> int | None:
    fine = isinstance(value, dict) and all(direction in ("asc", "desc") for direction in value.values())
    return None if fine else BAD_FORMAT


def stats_fields(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return BAD_FORMAT
    return None if all(name in STATS_FIELDS for name in value.split(",")) else BAD_FORMAT


def command(fields: dict[str, Field]) -> dict[str, Field]:
    return {"command_id": required(command_id), **fields}


FIELDS: dict[str, dict[str, Field]] = {
    "vpbx/commands/sms": command({"text": required(sms_text), "from_extension": required(integer),
                                  "to_number": required(number), "sms_sender": optional(text)}),
    "vpbx/commands/callback": command({"from": required(caller), "to_number": required(number),
                                       "line_number": optional(identifier), "sip_headers": optional(sip_headers)}),
    "vpbx/commands/callback_group": command({"from": required(identifier), "to": required(identifier),
                                             "line_number": required(number)}),
    "vpbx/commands/call/hangup": command({"call_id": required(identifier)}),
    "vpbx/commands/recording/start": command({"call_id": required(identifier),
                                              "call_party_number": required(number)}),
    "vpbx/commands/play/start": command({"call_id": required(identifier), "internal_id": required(integer),
                                         "after_play_time": optional(integer)}),
    "vpbx/commands/route": command({"call_id": required(identifier), "to_number": required(number),
                                    "sip_headers": optional(sip_headers)}),
    "vpbx/commands/transfer": command({"call_id": required(identifier), "to_number": required(number),
                                       "method": required(choice("blind", "hold")), "initiator": required(number)}),
    "vpbx/stats/request": {"date_from": required(integer), "date_to": required(integer),
                           "fields": optional(stats_fields), "from": optional(mapping), "to": optional(mapping),
                           "call_party": optional(mapping), "request_id": optional(text)},
    "vpbx/stats/result": {"key": required(identifier)},
    "vpbx/queries/user_info_by_dct_number": {"number": required(number)},
    "vpbx/queries/user_history_by_dct_number": {"number": required(number)},
    "vpbx/config/users/request": {"extension": optional(integer), "ext_fields": optional(list_of(text))},
    "vpbx/groups": {"group_id": optional(integer), "operator_id": optional(integer),
                    "operator_extension": optional(integer), "show_users": optional(choice(0, 1))},
    "vpbx/schema/set": {"schema_id": required(integer), "line_id": optional(integer),
                        "trunk_number_id": optional(integer)},
    "vpbx/schemas": {"ext_fields": optional(list_of(text))},
    "vpbx/bwlists/number/add": {"number": required(number), "list_type": required(choice("black", "white")),
                                "number_type": required(choice("tel", "sip")), "comment": optional(at_most(255))},
    "vpbx/bwlists/number/delete": {"number_id": required(integer)},
    "vpbx/campaign": {"campaign_id": required(integer)},
    "vpbx/ab/contact/init": {"query": required(text), "limit_rows": optional(limit_rows),
                             "order": optional(list_of(sort_order))},
    "cc/deal/list": {"status": required(choice("in_work", "succeed", "failed", "delete")),
                     "from_date": optional(day), "until_date": optional(day),
                     "abonent_ids": optional(list_of(integer)), "contact_id": optional(integer)},
}


def _stats_range(body: dict) -> tuple[int, str] | None:
    start, end = int(body["date_from"]), int(body["date_to"])
    if start >= end or end - start > 31 * 86400:
        return BAD_DATE_RANGE, "date_from must be before date_to, at most 31 days apart"
    return None


def _schema_target(body: dict) -> tuple[int, str] | None:
    if "line_id" not in body and "trunk_number_id" not in body:
        return MISSING, "line_id or trunk_number_id: required parameter missing"
    return None


CROSS_CHECKS: dict[str, Callable[[dict], tuple[int, str] | None]] = {
    "vpbx/stats/request": _stats_range, "vpbx/schema/set": _schema_target,
}


def problem(path: str, body: dict) -> tuple[int, str] | None:
    """The code and message a body earns at `path`, None when the PBX would act on it."""
    for name, (is_required, rule) in FIELDS.get(path, {}).items():
        if name not in body:
            if is_required:
                return MISSING, f"{name}: {MESSAGES[MISSING]}"
        elif code := rule(body[name]):
            return code, f"{name}: {MESSAGES[code]}"
    cross_check = CROSS_CHECKS.get(path)
    return cross_check(body) if cross_check else None


# -- the PBX's own answers ------------------------------------------------------------------------

USERS = [
    {"general": {"name": "Анна Иванова", "email": "anna@example.test", "department": "Продажи",
                 "position": "Менеджер", "login": "anna", "user_id": 101},
     "telephony": {"extension": "101", "outgoingline": "74951234567", "dial_alg": 1,
                   "numbers": [{"number": "sip:anna@vpbx.mangosip.ru", "protocol": "sip", "order": 0,
                                "wait_sec": 20, "status": "on"}]},
     "groups": [1]},
    {"general": {"name": "Пётр Смирнов", "email": "petr@example.test", "department": "Поддержка",
                 "position": "Инженер", "login": "petr", "user_id": 102},
     "telephony": {"extension": "102", "outgoingline": "74951234567", "dial_alg": 1,
                   "numbers": [{"number": "79161234567", "protocol": "tel", "order": 0,
                                "wait_sec": 30, "status": "on"}]},
     "groups": [1]},
]
QUERY_ANSWERS: dict[str, dict] = {
    "vpbx/queries/user_info_by_dct_number": {"result": SUCCESS, "user": {"extension": "101", "name": "Анна Иванова"}},
    "vpbx/queries/user_history_by_dct_number": {"result": SUCCESS, "history": [
        {"timestamp": 1700000000, "url": "https://shop.example.test/", "referer": "https://search.example.test/"}]},
    "vpbx/config/users/request": {"users": USERS},
    "vpbx/groups": {"groups": [{"id": 1, "name": "Продажи", "extension": "500", "description": "",
                                "dial_alg_group": 1, "dial_alg_users": 1, "auto_dial": 0,
                                "operators": [{"id": 101, "extension": "101"}, {"id": 102, "extension": "102"}]}]},
    "vpbx/account/balance": {"result": SUCCESS, "balance": 1234.5, "currency": "RUB"},
    "vpbx/incominglines": {"result": SUCCESS, "lines": [{"line_id": 1, "number": "74951234567", "name": "Основная",
                                                          "comment": "", "region": "Москва", "schema_id": 10}]},
    "vpbx/audiofiles": {"result": SUCCESS, "audiofiles": [{"id": 1, "name": "greeting.mp3", "duration": 12}]},
    "vpbx/schema/set": {"result": SUCCESS},
    "vpbx/schemas": {"result": SUCCESS, "schemas": [{"schema_id": 10, "name": "Рабочее время"}]},
    "vpbx/roles": {"result": SUCCESS, "roles": [{"role_id": 1, "name": "Администратор"}]},
    "vpbx/sips": {"result": SUCCESS, "sips": [{"sip_id": 1, "login": "anna@vpbx.mangosip.ru", "user_id": 101}]},
    "vpbx/domains": {"result": SUCCESS, "domains": [{"domain": "vpbx.mangosip.ru"}]},
    "vpbx/trunks/numbers": {"result": SUCCESS, "numbers": [{"trunk_number_id": 1, "number": "74951234500"}]},
    "vpbx/bwlists/state": {"result": SUCCESS, "state": {"black": "on", "white": "off"}},
    "vpbx/bwlists/numbers": {"result": SUCCESS, "numbers": [{"number_id": 1, "number": "74950000001",
                                                            "list_type": "black", "number_type": "tel", "comment": ""}]},
    "vpbx/bwlists/number/add": {"result": SUCCESS, "number_id": 2},
    "vpbx/bwlists/number/delete": {"result": SUCCESS},
    "vpbx/campaign": {"result": SUCCESS, "campaign": {"campaign_id": 1, "name": "Обзвон", "status": "active"},
                      "tasks": []},
    "vpbx/ab/contact/init": {"result": SUCCESS, "contacts": [{"contact_id": 1, "name": "ООО Ромашка",
                                                             "phones": ["74957654321"]}]},
    "cc/deal/list": {"result": SUCCESS, "deals": [{"deal_id": 1, "status": "in_work", "contact_id": 1}]},
    "cc/deal/funnels.list": {"result": SUCCESS, "funnels": [{"funnel_id": 1, "name": "Продажи"}]},
}
COMMANDS = ("sms", "callback", "callback_group", "call/hangup", "recording/start", "play/start", "route", "transfer")
PATHS = frozenset({f"vpbx/commands/{name}" for name in COMMANDS} | set(QUERY_ANSWERS)
                  | {"vpbx/stats/request", "vpbx/stats/result"})


# -- what happened --------------------------------------------------------------------------------

@dataclass
class Request:
    """One request as it arrived: `path` relative and without slashes at its ends, e.g.
    "vpbx/commands/sms"; `form` its raw form fields; `body` the parsed `json` once key and sign
    passed. `processed`: it got past the lock, the rate limits and the key and sign checks."""

    path: str
    method: str
    form: dict[str, str]
    at: float  # time.monotonic() on arrival
    valid_sign: bool = False  # key and sign right, checked on every request that carries them
    processed: bool = False
    body: dict | None = None
    status: int | None = None  # None: the client gave up before the answer
    result: int | None = None  # the `result` of the answer's JSON, if it had one

    @property
    def raw_json(self) -> str | None:
        return self.form.get("json")


@dataclass
class Webhook:
    """One webhook sent to Herald; `status` is Herald's HTTP answer, None if it could not be reached."""

    event_path: str
    payload: Any
    form: dict[str, str]
    at: float
    status: int | None = None


@dataclass
class StatsQuery:
    body: dict
    fields: list[str]
    polls: int = 0
    last_poll: float | None = None


@dataclass
class Override:
    status: int
    body: dict | list | str | bytes | None
    content_type: str | None
    times: int | None


def always_success(request: Request) -> int:
    return SUCCESS


class MangoEmulator(LocalServer):
    def __init__(self, key: str = "mango-vpbx-key", salt: str = "mango-vpbx-salt", *,
                 error_window_seconds: float = 120.0, lockout_seconds: float = 120.0,
                 rate_limits: bool | Mapping[str, tuple[int, float] | None] = True,
                 webhook_base: str | None = None) -> None:
        """`rate_limits`: True for Mango's (MANGO_RATE_LIMITS), False for none, or a mapping laid
        over Mango's, where None removes a limit."""
        self.key = key
        self.salt = salt
        self.error_window_seconds = error_window_seconds
        self.lockout_seconds = lockout_seconds
        self.rate_limits: dict[str, tuple[int, float]] = dict(MANGO_RATE_LIMITS) if rate_limits else {}
        if isinstance(rate_limits, Mapping):
            self.rate_limits.update(rate_limits)
            self.rate_limits = {scope: limit for scope, limit in self.rate_limits.items() if limit is not None}
        self.webhook_base = webhook_base
        self.error_http_status = 200
        self.delay = 0.0
        self.auto_results = True
        self.result_delay = 0.0
        self.result_for: Callable[[Request], int | None] = always_success
        self.repeat_results = False
        self.sms_events = True
        self.webhook_timeout = 5.0
        self.stats_calls: list[dict] = []
        self.stats_polls_before_ready = 1
        self.stats_min_poll_seconds = 0.0
        self.stats_queries: dict[str, StatsQuery] = {}
        self.requests: list[Request] = []
        self.webhooks_sent: list[Webhook] = []
        self.errors_3xxx = 0
        self.lockouts = 0
        self.rate_limited = 0
        self.locked_until = 0.0  # time.monotonic()
        self._recent_errors: deque[float] = deque()
        self._arrivals: defaultdict[str, deque[float]] = defaultdict(deque)
        self._overrides: dict[str, Override] = {}
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None

    # -- control ----------------------------------------------------------------------------------

    @property
    def vpbx_url(self) -> str:
        return f"{self.base_url}/vpbx/"

    @property
    def cc_url(self) -> str:
        return f"{self.base_url}/cc/"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{path:.*}", self._handle)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    def answer(self, path: str, status: int = 200, body: dict | list | str | bytes | None = None, *,
               times: int | None = None, content_type: str | None = None) -> None:
        """Answer requests to `path` that pass every check like this: the next `times` of them, or
        all until changed. A dict or list goes as JSON, a str as text/plain, None as no body."""
        path = path.strip("/")
        assert path in PATHS, f"Mango has no path {path}"
        self._overrides[path] = Override(status, body, content_type, times)

    def clear_answers(self) -> None:
        self._overrides.clear()

    def is_locked(self) -> bool:
        return time.monotonic() < self.locked_until

    def signature(self, json_text: str, key: str | None = None) -> str:
        """The sign Mango puts on `json_text`, with this account's salt."""
        return sign(self.key if key is None else key, json_text, self.salt)

    def forwarded(self, path: str | None = None) -> list[Request]:
        """The requests that passed the key and sign checks (to `path` only, if given)."""
        return [request for request in self.requests
                if request.processed and (path is None or request.path == path.strip("/"))]

    # -- webhooks ---------------------------------------------------------------------------------

    async def send_webhook(self, event_path: str, payload: Any, *, sign: str | None = None,
                           key: str | None = None, raw_json: str | None = None) -> int:
        """POST one signed webhook to Herald and return its HTTP status. `raw_json` is sent and
        signed as it is; `sign` replaces the signature; `key` is sent (and signed with) instead of
        the account's. A connection failure is recorded with status None, then raised."""
        assert self.webhook_base is not None, "set webhook_base first"
        json_text = raw_json if raw_json is not None else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        key = self.key if key is None else key
        signature = self.signature(json_text, key) if sign is None else sign
        form = {"vpbx_api_key": key, "sign": signature, "json": json_text}
        webhook = Webhook(event_path, payload, form, time.monotonic())
        self.webhooks_sent.append(webhook)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with self._session.post(self.webhook_base + event_path, data=form, timeout=timeout) as response:
            webhook.status = response.status
        return response.status

    async def drain_webhooks(self) -> None:
        """Wait until every webhook scheduled so far has been sent."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    def _schedule_result(self, request: Request) -> None:
        if self.webhook_base is None or not self.auto_results:
            return
        code = self.result_for(request)
        if code is not None:
            task = asyncio.create_task(self._send_result(request, code))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_result(self, request: Request, code: int) -> None:
        assert request.body is not None
        name = request.path.removeprefix("vpbx/commands/")
        command_id = request.body["command_id"]
        await asyncio.sleep(self.result_delay)
        for _ in range(2 if self.repeat_results else 1):
            await self._send_unchecked(f"result/{name}", {"command_id": command_id, "result": code})
        if name == "sms" and self.sms_events:
            await self._send_unchecked("events/sms", {"command_id": command_id, "timestamp": int(time.time()),
                                                      "reason": code})

    async def _send_unchecked(self, event_path: str, payload: dict) -> None:
        try:
            await self.send_webhook(event_path, payload)
        except (aiohttp.ClientError, TimeoutError):
            pass  # recorded with status None; Mango does not retry

    # -- the protocol -----------------------------------------------------------------------------

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        request = Request(path=http.path.strip("/"), method=http.method,
                          form=_form(await http.read(), http.content_type), at=time.monotonic())
        self.requests.append(request)
        form = request.form
        request.valid_sign = all(name in form for name in ("vpbx_api_key", "sign", "json")) and \
            _same(form["vpbx_api_key"], self.key) and _same(form["sign"], self.signature(form["json"]))
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._process(request)

    def _process(self, request: Request) -> web.Response:
        now = time.monotonic()
        form = request.form
        if now < self.locked_until:
            return self._reply(request, 401, LOCKED_BODY)
        if request.path not in PATHS:
            return self._reply(request, 404, {"result": UNKNOWN_PATH, "message": f"unknown method /{request.path}"})
        if not self._admit(request.path, now):
            self.rate_limited += 1
            return self._reply(request, 429, RATE_LIMITED_BODY)
        if request.method != "POST":
            return self._error(request, NOT_POST)
        if any(name not in form for name in ("vpbx_api_key", "sign", "json")):
            return self._error(request, MISSING, "vpbx_api_key, sign and json are required")
        if not _same(form["vpbx_api_key"], self.key):
            return self._error(request, BAD_KEY)
        if not request.valid_sign:
            return self._error(request, BAD_SIGN)
        request.processed = True
        try:
            body = json.loads(form["json"], parse_constant=_reject_constant)
        except ValueError:
            return self._error(request, BAD_JSON)
        if not isinstance(body, dict):
            return self._error(request, BAD_FORMAT, "json is not an object")
        request.body = body
        if refusal := problem(request.path, body):
            return self._error(request, *refusal)
        if override := self._take_override(request.path):
            return self._reply(request, override.status, override.body, override.content_type)
        return self._succeed(request, body, now)

    def _succeed(self, request: Request, body: dict, now: float) -> web.Response:
        if request.path.startswith("vpbx/commands/"):
            self._schedule_result(request)
            return self._reply(request, 200, {"result": SUCCESS})
        if request.path == "vpbx/stats/request":
            key = secrets.token_hex(16)
            self.stats_queries[key] = StatsQuery(body, body.get("fields", DEFAULT_STATS_FIELDS).split(","))
            return self._reply(request, 200, {"key": key})
        if request.path == "vpbx/stats/result":
            return self._stats_result(request, body["key"], now)
        return self._reply(request, 200, QUERY_ANSWERS[request.path])

    def _stats_result(self, request: Request, key: str, now: float) -> web.Response:
        query = self.stats_queries.get(key)
        if query is None:
            return self._reply(request, 404)
        if query.last_poll is not None and now - query.last_poll < self.stats_min_poll_seconds:
            self.rate_limited += 1
            return self._reply(request, 429, RATE_LIMITED_BODY)
        query.polls += 1
        query.last_poll = now
        if query.polls <= self.stats_polls_before_ready:
            return self._reply(request, 204)
        rows = (";".join(_csv_cell(call, name) for name in query.fields) for call in self.stats_calls)
        return self._reply(request, 200, "\n".join(rows), "text/csv")

    def _admit(self, path: str, now: float) -> bool:
        """Whether every sliding window `path` falls in has room; if so, the request takes its place."""
        scopes = [scope for scope in ("all", path.partition("/")[0], path) if scope in self.rate_limits]
        for scope in scopes:
            count, seconds = self.rate_limits[scope]
            window = self._arrivals[scope]
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= count:
                return False
        for scope in scopes:
            self._arrivals[scope].append(now)
        return True

    def _take_override(self, path: str) -> Override | None:
        override = self._overrides.get(path)
        if override is not None and override.times is not None:
            override.times -= 1
            if override.times <= 0:
                del self._overrides[path]
        return override

    def _error(self, request: Request, code: int, message: str | None = None) -> web.Response:
        return self._reply(request, self.error_http_status, {"result": code, "message": message or MESSAGES[code]})

    def _reply(self, request: Request, status: int, body: dict | list | str | bytes | None = None,
               content_type: str | None = None) -> web.Response:
        request.status = status
        if isinstance(body, dict) and isinstance(body.get("result"), int):
            request.result = body["result"]
            if 3000 <= request.result < 4000:
                self._count_error()
        if body is None:
            return web.Response(status=status)
        if isinstance(body, (dict, list)):
            return web.json_response(body, status=status)
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type=content_type or "text/plain")
        return web.Response(status=status, body=body, content_type=content_type or "application/octet-stream")

    def _count_error(self) -> None:
        now = time.monotonic()
        self.errors_3xxx += 1
        self._recent_errors.append(now)
        while now - self._recent_errors[0] > self.error_window_seconds:
            self._recent_errors.popleft()
        if len(self._recent_errors) > 1:
            self.locked_until = now + self.lockout_seconds
            self.lockouts += 1
            self._recent_errors.clear()


def _form(raw: bytes, content_type: str) -> dict[str, str]:
    """The fields of a form-urlencoded body; nothing for any other body."""
    if content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        return dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _csv_cell(call: dict, name: str) -> str:
    value = call.get(name)
    if value is None:
        return ""
    if name == "records" and isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


# -- events for tests to send ---------------------------------------------------------------------

def _party(**fields: Any) -> dict:
    return {name: value for name, value in fields.items() if value is not None}


def call_event(entry_id: str, call_id: str, seq: int, state: str, *, from_number: str | None = None,
               from_extension: str | None = None, to_extension: str | None = None, to_number: str | None = None,
               line_number: str | None = None, location: str = "abonent", timestamp: int | None = None,
               disconnect_reason: int | None = None, **extra: Any) -> dict:
    """An `events/call` payload. `disconnect_reason` is sent when given, and 1110 (a normal end)
    for a Disconnected call; `extra` fields (command_id, dct, sip_call_id, ...) go in as they are."""
    assert state in CALL_STATES, state
    timestamp = int(time.time()) if timestamp is None else timestamp
    event = {"entry_id": entry_id, "call_id": call_id, "timestamp": timestamp, "seq": seq, "call_state": state, "location": location,
             "from": _party(extension=from_extension, number=from_number),
             "to": _party(extension=to_extension, number=to_number, line_number=line_number)}
    if disconnect_reason is not None or state == "Disconnected":
        event["disconnect_reason"] = 1110 if disconnect_reason is None else disconnect_reason
    return {**event, **extra}


def summary_event(entry_id: str, *, from_number: str | None = None, from_extension: str | None = None,
                  to_number: str | None = None, to_extension: str | None = None, line_number: str | None = None,
                  talk_time: int = 0, entry_result: int | None = None, call_direction: int = 1,
                  create_time: int | None = None, forward_time: int | None = None, end_time: int | None = None,
                  disconnect_reason: int = 1110, **extra: Any) -> dict:
    """An `events/summary` payload. By default the call ended now, began 10 s plus `talk_time`
    before, was forwarded 5 s after it began, and was talked (entry_result 1) if talk_time > 0."""
    end_time = int(time.time()) if end_time is None else end_time
    create_time = end_time - talk_time - 10 if create_time is None else create_time
    return {"entry_id": entry_id, "call_direction": call_direction,
            "from": _party(extension=from_extension, number=from_number),
            "to": _party(extension=to_extension, number=to_number), "line_number": line_number,
            "create_time": create_time, "forward_time": create_time + 5 if forward_time is None else forward_time,
            "talk_time": talk_time, "end_time": end_time,
            "entry_result": (1 if talk_time > 0 else 0) if entry_result is None else entry_result,
            "disconnect_reason": disconnect_reason, **extra}

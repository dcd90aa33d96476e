"""The MANGO OFFICE virtual PBX API (seed 004), without I/O: requests, answers, webhooks, codes.

Every request, both ways, is a form-urlencoded POST of `vpbx_api_key`, `sign` and `json`, where
`json` is compact JSON and `sign = sha256_hex(key + json + salt)` (plain SHA-256, not HMAC).
Commands answer `{"result": 1000}` at once and their outcome comes later as a webhook
`result/<command>`; statistics are `stats/request` (a key) then `stats/result` (204 until ready,
then `;`-separated CSV). Result codes: 1xxx success, 2xxx billing, 3xxx bad request, 4xxx not
possible, 5xxx Mango's own trouble; an unknown code is read as its class (2219 as 2210, then 2200).
See shared/reference/mango-vpbx.md. This module knows no setting, no session and no database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

DEFAULT_STATS_FIELDS = ("records", "start", "finish", "answer", "from_extension", "from_number", "to_extension",
                        "to_number", "disconnect_reason", "line_number", "location")
STATS_FIELDS = frozenset((*DEFAULT_STATS_FIELDS, "entry_id", "create"))

CODES = {
    1000: "Success.",
    1001: "Success, with remarks.",
    1100: "The call ended normally.",
    2000: "Billing refused the action.",
    2100: "Billing refused the action: account restrictions.",
    2200: "Billing refused the action: not enough funds.",
    2210: "Billing refused the action: not enough funds.",
    2240: "Billing refused the action: no funds left on the account.",
    2300: "Billing refused the action: a limit was reached.",
    2400: "Billing refused the action: the service is not connected.",
    3000: "Mango rejected the request.",
    3100: "Mango rejected the request's parameters.",
    3101: "The request was not a POST.",
    3102: "Mango rejected the request's signature: telephony.api_key or telephony.api_salt is wrong.",
    3103: "A required parameter is missing.",
    3104: "A parameter has the wrong format.",
    3105: "Mango does not know this API key: telephony.api_key is wrong.",
    3106: "The value is already in use.",
    3111: "The date range is not valid.",
    3200: "The number is not valid.",
    3300: "The object was not found.",
    3310: "The call was not found.",
    3320: "The recording was not found.",
    3330: "The number was not found.",
    3400: "Mango could not parse the request's JSON.",
    3503: "The search is too wide (over 500 rows).",
    4000: "The action is not possible.",
    4001: "The action is not supported.",
    4002: "The recording is too short.",
    4100: "The action is not allowed.",
    4101: "The call has already ended.",
    4102: "The recording is already running.",
    4290: "Mango's rate limit was exceeded.",
    4300: "The SMS could not be sent.",
    4301: "The SMS expired before it was delivered.",
    4391: "The SMS was lost.",
    4392: "The SMS was rejected.",
    4393: "The SMS was cancelled.",
    4500: "A security limit of the account stops the action.",
    5000: "Mango had a server error.",
    5001: "Mango is overloaded.",
    5008: "Mango's service is unavailable.",
    5011: "Mango timed out.",
}


def sign(key: str, json_text: str, salt: str) -> str:
    return hashlib.sha256(f"{key}{json_text}{salt}".encode()).hexdigest()


def compact(payload: Mapping[str, Any]) -> str:
    """The `json` field as Mango wants it: no spaces, text as it is (not \\u-escaped)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class MangoRequest:
    url: str
    json_text: str  # what was signed and sent, without the key and the signature
    body: bytes  # the urlencoded form
    headers = {"Content-Type": "application/x-www-form-urlencoded"}


def build(base_url: str, path: str, payload: Mapping[str, Any], key: str, salt: str) -> MangoRequest:
    """The signed POST of `payload` to `path` under `base_url` (`commands/sms` under `.../vpbx/`)."""
    json_text = compact(payload)
    form = urlencode({"vpbx_api_key": key, "sign": sign(key, json_text, salt), "json": json_text})
    return MangoRequest(url=base_url.rstrip("/") + "/" + path.lstrip("/"), json_text=json_text, body=form.encode())


def code_of(value: Any) -> int | None:
    """A result code as Mango writes it: a number, or a string of digits (`"4101"`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def describe(code: int) -> str:
    """What a result code means; an unknown one by its class (2219 as 2210, as 2200, as 2000)."""
    for known in (code, code // 10 * 10, code // 100 * 100, code // 1000 * 1000):
        if known in CODES:
            return CODES[known] if known == code else f"{CODES[known]} (code {code})"
    return f"Mango answered an unknown result code {code}."


def is_success(code: int) -> bool:
    return 1000 <= code < 2000


def http_status(code: int) -> int:
    """The HTTP status Herald answers a forwarded call with, for Mango's result code."""
    if is_success(code):
        return 200
    if code in (3102, 3105):  # Herald's credentials: nothing the caller can fix
        return 502
    if 2000 <= code < 3000:
        return 402
    if 3300 <= code < 3400:  # the object, call, recording or number was not found
        return 404
    if 3000 <= code < 4000:
        return 400
    if code == 4290:
        return 429
    if 4000 <= code < 5000:
        return 409
    if code in (5001, 5008):
        return 503
    if code == 5011:
        return 504
    return 502


@dataclass(frozen=True)
class Answer:
    """Mango's immediate answer: its HTTP status, its JSON (None when not JSON) and its text."""

    status: int
    data: Any
    text: str

    @property
    def result(self) -> int | None:
        return code_of(self.data.get("result")) if isinstance(self.data, dict) else None


def parse_answer(status: int, body: bytes) -> Answer:
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    return Answer(status, data, text)


# Webhooks

@dataclass(frozen=True)
class Webhook:
    """A webhook as it came: the raw `json` field (what was signed) and what it holds."""

    json_text: str
    data: dict[str, Any]


class WebhookRefused(Exception):
    """Not Mango's, or not as Mango signs: `status` 401 (no or another key) or 403 (bad signature)
    or 400 (signed, but not a JSON object); the message says which, without the secret."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def verify_webhook(form: Mapping[str, str], key: str, salt: str) -> Webhook:
    """The webhook's content, if its key is ours and its signature right (in constant time, over
    the raw `json` field as received); raises WebhookRefused otherwise."""
    their_key, signature, json_text = form.get("vpbx_api_key"), form.get("sign"), form.get("json")
    if not their_key or signature is None or json_text is None:
        raise WebhookRefused(401, "A Mango webhook carries vpbx_api_key, sign and json.")
    if not key or not hmac.compare_digest(their_key.encode(), key.encode()):
        raise WebhookRefused(401, "vpbx_api_key is not this PBX's key.")
    if not hmac.compare_digest(signature.strip().lower().encode(), sign(key, json_text, salt).encode()):
        raise WebhookRefused(403, "sign does not match sha256(key + json + salt).")
    try:
        data = json.loads(json_text)
    except ValueError:
        raise WebhookRefused(400, "json is not valid JSON.") from None
    if not isinstance(data, dict):
        raise WebhookRefused(400, "json is not a JSON object.")
    return Webhook(json_text, data)


# SMS (commands/sms)

MAX_SMS_LATIN = 612
MAX_SMS_OTHER = 268  # Cyrillic, or anything beyond ASCII
SMS_COMMAND_PREFIX = "herald-sms-"  # a mailing's SMS: herald-sms-<message id>-<attempt>


def sms_too_long(text: str) -> str | None:
    """Why Mango would refuse `text` as one SMS for its length, or None."""
    limit = MAX_SMS_LATIN if text.isascii() else MAX_SMS_OTHER
    if len(text) > limit:
        return f"At most {limit} characters for this text (612 Latin, 268 other); it has {len(text)}."
    return None


def sms_command_id(message_id: int, attempt: int) -> str:
    return f"{SMS_COMMAND_PREFIX}{message_id}-{attempt}"


def sms_try_of_command(command_id: str) -> tuple[int, int] | None:
    """The message-log id and attempt a mailing SMS's command_id names, or None for any other."""
    match = re.fullmatch(re.escape(SMS_COMMAND_PREFIX) + r"([0-9]{1,18})-([0-9]{1,9})", command_id)
    return (int(match.group(1)), int(match.group(2))) if match else None


def event_kind(path: str) -> str:
    """What a webhook is, from its path under our prefix, on its last known segments: `events/call`,
    `result/sms`, `result/call/hangup`, `ping`... (also under a prefix such as `vpbx/result/...`);
    any other path as it is, without slashes at its ends."""
    parts = [part for part in path.split("/") if part]
    for start, part in enumerate(parts):
        if part in ("events", "result"):
            return "/".join(parts[start:])
    if parts and parts[-1] == "ping":
        return "ping"
    return "/".join(parts)


# Statistics

def parse_stats_csv(text: str, fields: Sequence[str]) -> list[dict[str, Any]]:
    """`stats/result`'s CSV as rows keyed by `fields` in their order: `;` separated, one call per
    line, no quoting; `records` (comma-separated, maybe in brackets) as a list. A short row gets
    None for its missing columns; columns past `fields` are dropped."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split(";")
        row: dict[str, Any] = {}
        for index, field in enumerate(fields):
            value = values[index] if index < len(values) else None
            if field == "records" and value is not None:
                value = [record for record in value.strip().strip("[]").split(",") if record]
            row[field] = value
        rows.append(row)
    return rows

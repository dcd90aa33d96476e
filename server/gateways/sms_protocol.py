"""The SMS provider's protocol (seed 003's external API), without I/O.

`POST {provider_url}/{msgId}` with `{"id": msgId, "phone": <int>, "text": "..."}` and
`Authorization: Bearer <token>`; success is HTTP 200 with `{"code": 0, ...}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    SENT = "sent"
    RETRY = "retry"  # worth trying again later: the provider was slow, down or confused
    FAIL = "fail"  # the provider refused this message for good
    ACCEPTED = "accepted"  # taken; whether it was sent comes later (the PBX's result webhook)


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    error: str | None = None
    wait_seconds: float = 0  # ACCEPTED: how long to wait for the result before trying again


SENT = Outcome(Verdict.SENT)


@dataclass(frozen=True)
class SendRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def build_send(provider_url: str, token: str, message_id: int, phone: str, text: str) -> SendRequest:
    body = json.dumps({"id": message_id, "phone": int(phone), "text": text}, ensure_ascii=False)
    return SendRequest(
        url=f"{provider_url.rstrip('/')}/{message_id}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=body.encode(),
    )


def parse_reply(status: int, body: bytes) -> Outcome:
    """A 4xx other than 429 fails the message; a 200 must say code 0; anything else
    (429, 5xx, a 200 without code 0, an unexpected 1xx/2xx/3xx) is worth another attempt."""
    if 400 <= status < 500 and status != 429:
        return Outcome(Verdict.FAIL, f"provider rejected the message: HTTP {status} {_excerpt(body)}")
    if status != 200:
        return Outcome(Verdict.RETRY, f"provider answered HTTP {status}")
    try:
        reply = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Outcome(Verdict.RETRY, f"provider answered garbage: {_excerpt(body)}")
    if not isinstance(reply, dict) or "code" not in reply:
        return Outcome(Verdict.RETRY, f"provider answer has no code: {_excerpt(body)}")
    if reply["code"] != 0:
        return Outcome(Verdict.RETRY, f"provider answered code {reply['code']}: {reply.get('message')}")
    return SENT


def _excerpt(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", "replace")

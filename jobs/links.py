"""The links put into subscription emails, all built from `server.public_url`. Pure.

The subscriber's id (a random UUID) is what makes confirm and unsubscribe links work without a
token, as in seed 001; confirmation also needs the hash of the passportuid (`p`) or session (`s`).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

API = "/email_subscription/v1.0"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _link(public_url: str, path: str, **query: str) -> str:
    return f"{public_url.rstrip('/')}{API}/{path}?{urlencode(query)}"


def confirm_link(public_url: str, subscriber_id: str, *, p: str | None = None, s: str | None = None) -> str:
    """`p` is sha256(passportuid), `s` is sha256(session): exactly one of them."""
    proof = {"p": p} if p is not None else {"s": s}
    return _link(public_url, "confirm", id=subscriber_id, **proof)


def unsubscribe_link(public_url: str, subscriber_id: str) -> str:
    return _link(public_url, "unsubscribe", id=subscriber_id)


def unsubscribe_by_direction_link(public_url: str, subscriber_id: str, qkey: str) -> str:
    return _link(public_url, "unsubscribe/by_direction", id=subscriber_id, qkey=qkey)

"""The links put into subscription emails, all built from `server.public_url`. Pure.

The subscriber's id (a random UUID) is what makes confirm and unsubscribe links work without a
token, as in seed 001; confirmation also needs the hash of the passportuid (`p`) or session (`s`).
A link a person clicks opens a page (`.../confirm/page`, `.../unsubscribe/page`, ...) that acts
only on its button's POST, since mail scanners and prefetchers GET every link of an email; the
seed's API routes, which act on GET, are what `List-Unsubscribe` names (RFC 8058 POSTs to it).
In server/ so that handlers, storage (the confirmation email's links) and jobs may all import it.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

API = "/email_subscription/v1.0"
PAGE = "page"  # the last part of a page's path: `confirm/page`, `unsubscribe/by_direction/page`


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _link(public_url: str, path: str, **query: str) -> str:
    return f"{public_url.rstrip('/')}{API}/{path}?{urlencode(query)}"


def confirm_page_link(public_url: str, subscriber_id: str, *, p: str | None = None, s: str | None = None) -> str:
    """`p` is sha256(passportuid), `s` is sha256(session): exactly one of them."""
    proof = {"p": p} if p is not None else {"s": s}
    return _link(public_url, f"confirm/{PAGE}", id=subscriber_id, **proof)


def unsubscribe_page_link(public_url: str, subscriber_id: str) -> str:
    return _link(public_url, f"unsubscribe/{PAGE}", id=subscriber_id)


def unsubscribe_by_direction_page_link(public_url: str, subscriber_id: str, qkey: str) -> str:
    return _link(public_url, f"unsubscribe/by_direction/{PAGE}", id=subscriber_id, qkey=qkey)


def confirm_link(public_url: str, subscriber_id: str, *, p: str | None = None, s: str | None = None) -> str:
    """The API route, which confirms on GET (seed 001's curl example)."""
    proof = {"p": p} if p is not None else {"s": s}
    return _link(public_url, "confirm", id=subscriber_id, **proof)


def unsubscribe_link(public_url: str, subscriber_id: str) -> str:
    """The API route: a GET or POST unsubscribes at once (List-Unsubscribe, RFC 8058)."""
    return _link(public_url, "unsubscribe", id=subscriber_id)


def unsubscribe_by_direction_link(public_url: str, subscriber_id: str, qkey: str) -> str:
    """The API route: a GET or POST unsubscribes at once (List-Unsubscribe, RFC 8058)."""
    return _link(public_url, "unsubscribe/by_direction", id=subscriber_id, qkey=qkey)

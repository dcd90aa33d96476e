"""The passport email lookup's protocol (the account service that knows a passportuid's email),
without I/O: this module builds the request and reads the answer; it never touches the network,
the database or the clock.

Request: `GET {passport_email_url}?passportuid=<passportuid>` with `Accept: application/json`
and, when `passport_email_token` is set, `Authorization: Bearer <passport_email_token>`.

Answer: HTTP 200 with a JSON object whose `email` is the account's address, or null when the
account has none; HTTP 404 means the same as null (no such account). Other fields are ignored.

    {"email": "vasya@example.com"}      // or {"email": null}

Anything else (another status, a body that is not such an object, an `email` that is neither a
string nor null, or not an address) is a LookupFailure saying why: the passportuid is asked again
later, as after null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # as subscribe accepts an email


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Found:
    """What the service said: the account's address (lower-cased), or None if it has none."""

    email: str | None


@dataclass(frozen=True)
class LookupFailure:
    """Why the answer cannot be used."""

    message: str


def build_request(url: str, token: str, passportuid: str) -> HttpRequest:
    """The GET for one passportuid; a query string already in `url` is kept."""
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode({"passportuid": passportuid}))))
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return HttpRequest(urlunsplit(parts._replace(query=query)), headers)


def parse_reply(status: int, body: bytes) -> Found | LookupFailure:
    if status == 404:
        return Found(None)
    if status != 200:
        return LookupFailure(f"passport email lookup answered HTTP {status}: {_excerpt(body)}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return LookupFailure(f"passport email lookup answered garbage: {_excerpt(body)}")
    if not isinstance(data, dict) or "email" not in data:
        return LookupFailure(f"passport email lookup answer has no email field: {_excerpt(body)}")
    email = data["email"]
    if email is None:
        return Found(None)
    if not isinstance(email, str):
        return LookupFailure(f"passport email lookup answered an email that is not a string: {_excerpt(body)}")
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        return LookupFailure("passport email lookup answered something that is not an email address")
    return Found(email)


def _excerpt(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", "replace")

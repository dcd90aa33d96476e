"""What an API family is, and the table that finds a request's family.

A family is declared by its handlers module, next to its routes (handlers/notifications.py,
handlers/subscriptions.py, handlers/system.py): the paths it owns (exact paths and prefixes), how
its requests authenticate (an `Auth` strategy), how its errors look (an envelope function), how it
paginates, and which path ids its request lines carry. `create_app` collects the families into one
`FamilyTable`, which refuses two families claiming one path or prefix; the middlewares ask the
table for the request's family. A path belongs to the family that declares it exactly, else to the
family with the longest prefix of it, else to the fallback (the system family: /health, unknown
paths). Handlers and domain code raise `server.errors` types and never build error bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from server.errors import HeraldError, Unauthorized
from server.keys import FAMILY_TABLE, TOKENS


def drf_error(error: HeraldError) -> dict:
    """Django REST framework's shapes: {"field": ["message"]} or {"detail": "..."}."""
    if error.fields:
        return error.fields
    return {"detail": error.detail}


class Auth(Protocol):
    """How a family's requests prove who sends them."""

    challenge: str | None  # the `WWW-Authenticate` of its 401s, where its scheme has one

    async def check(self, request: web.Request) -> None:
        """Return if the request may go on; raise `Unauthorized` (in the client's words) if not."""


@dataclass(frozen=True)
class Public:
    """No credentials: the path itself is the capability (a link in an email), or it is a probe."""

    challenge: str | None = None

    async def check(self, request: web.Request) -> None:
        return None


PUBLIC = Public()


@dataclass(frozen=True)
class ServiceToken:
    """A service token (storage/tokens.py, compared in constant time): `Authorization: Token <t>`,
    or the bare token in one of `headers` (the CRM's `X-Leeloo-AuthToken: <t>`), the first given.
    A request without a valid one raises `refused` (401 `Unauthorized`, or the chatbot's 403)."""

    headers: tuple[str, ...] = ()
    challenge: str | None = "Token"
    refused: type[HeraldError] = Unauthorized

    def token_of(self, request: web.Request) -> str | None:
        for name in self.headers:
            if token := request.headers.get(name, "").strip():
                return token
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token":
            return None
        return token.strip() or None

    async def check(self, request: web.Request) -> None:
        token = self.token_of(request)
        if token is None:
            raise self.refused("Authentication credentials were not provided.")
        if await request.app[TOKENS].name_of(token) is None:
            raise self.refused("Invalid token.")


@dataclass(frozen=True, eq=False)
class Family:
    """One API family. `paths` are exact paths (a trailing slash does not count: `/send_sms` is
    also `/send_sms/`), `prefixes` own every path that starts with them; `public` are prefixes of
    the family's paths that need no credentials; `pagination(request)` reads a page's parameters
    and wraps a page in the family's envelope; `path_ids` map a path prefix to the log key its
    `{id}` goes under (`client_id=5` for /Clients/5/); `response_headers(request)` are headers
    every answer of the family carries, errors too (the chatbot's CORS headers); `error_page`
    answers its errors instead of `error_body` (the admin UI's HTML pages)."""

    name: str
    routes: Sequence[web.AbstractRouteDef]
    prefixes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    auth: Auth = PUBLIC
    public: tuple[str, ...] = ()
    error_body: Callable[[HeraldError], dict] = drf_error
    pagination: Callable[[web.Request], Any] | None = None
    path_ids: tuple[tuple[str, str], ...] = ()
    response_headers: Callable[[web.Request], Mapping[str, str]] | None = None
    error_page: Callable[[HeraldError, web.Request], web.Response] | None = None

    def auth_for(self, path: str) -> Auth:
        return PUBLIC if path.startswith(self.public) else self.auth

    def auth_required(self, path: str) -> bool:
        return self.auth_for(path) is not PUBLIC

    def log_ids(self, path: str, match_info) -> dict[str, str]:
        """`client_id=5` for /Clients/5/: what a request line carries so that one grep finds it."""
        if "id" not in match_info:
            return {}
        return {key: match_info["id"] for prefix, key in self.path_ids if path.startswith(prefix)}


class FamilyConflict(ValueError):
    """The families' claims overlap or miss their own routes; the message names who and where."""


class FamilyTable:
    """Every family of the app, checked once at start-up, and the lookup of a path's family."""

    def __init__(self, families: Iterable[Family], fallback: Family) -> None:
        self.fallback = fallback
        self.families = tuple(dict.fromkeys((*families, fallback)))
        self._exact: dict[str, Family] = {}
        prefixes: dict[str, Family] = {}
        for family in self.families:
            for path in family.paths:
                _claim(self._exact, _exact_path(path), family, "path")
            for prefix in family.prefixes:
                if not prefix.startswith("/") or prefix == "/":
                    raise FamilyConflict(f"family {family.name!r}: prefix {prefix!r} must be a path below the "
                                         "root; declare root paths one by one in `paths`")
                _claim(prefixes, prefix, family, "prefix")
        for prefix, family in prefixes.items():  # the prefix `/x` (or `/x/`) claims the path `/x` too
            owner = self._exact.get(_exact_path(prefix), family)
            if owner is not family:
                raise FamilyConflict(f"families {owner.name!r} and {family.name!r} both claim the path "
                                     f"{_exact_path(prefix)!r} (a path of one, a prefix of the other)")
        self._prefixes = sorted(prefixes.items(), key=lambda item: -len(item[0]))
        for family in self.families:
            for route in family.routes:
                static = _static_part(route)
                if self.of(static) is not family:
                    raise FamilyConflict(f"family {family.name!r}: its route {static!r} is owned by family "
                                         f"{self.of(static).name!r}; declare the path or a prefix of it")

    def of(self, path: str) -> Family:
        family = self._exact.get(_exact_path(path))
        if family is not None:
            return family
        for prefix, family in self._prefixes:
            if path.startswith(prefix):
                return family
        return self.fallback


def _exact_path(path: str) -> str:
    return path.rstrip("/") or "/"


def _claim(claims: dict[str, Family], key: str, family: Family, what: str) -> None:
    if not key.startswith("/"):
        raise FamilyConflict(f"family {family.name!r}: {what} {key!r} must start with '/'")
    owner = claims.setdefault(key, family)
    if owner is not family:
        raise FamilyConflict(f"families {owner.name!r} and {family.name!r} both claim the {what} {key!r}")


def _static_part(route: web.AbstractRouteDef) -> str:
    """The path a route's every match starts with: `/Clients/` of `/Clients/{id:\\d+}{slash:/?}`."""
    path = route.path if isinstance(route, web.RouteDef) else route.prefix
    return path.removesuffix("{slash:/?}").split("{", 1)[0]


def request_family(request: web.Request) -> Family:
    return request.app[FAMILY_TABLE].of(request.path)


def paginate(request: web.Request) -> Any:
    """The page a list request asks for, read and enveloped the way the request's family pages."""
    family = request_family(request)
    if family.pagination is None:
        raise TypeError(f"family {family.name!r} declares no pagination")
    return family.pagination(request)

"""The API families: which paths each owns, how it authenticates and how its errors look.

The error middleware asks `family_of(path)` and renders every error in that family's envelope, so
handlers and domain code raise `server.errors` types and never build error bodies themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from server.errors import HeraldError


def drf_error(error: HeraldError) -> dict:
    """Django REST framework's shapes: {"field": ["message"]} or {"detail": "..."}."""
    if error.fields:
        return error.fields
    return {"detail": error.detail}


def status_error(error: HeraldError) -> dict:
    """The subscriptions family's envelope: {"status": "error", "message": ..., "errors": {...}}."""
    body: dict = {"status": "error", "message": error.detail or _summary(error.fields)}
    if error.fields:
        body["errors"] = error.fields
    return body


def _summary(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


@dataclass(frozen=True)
class Family:
    name: str
    prefixes: tuple[str, ...]
    needs_token: bool
    error_body: Callable[[HeraldError], dict]
    public: tuple[str, ...] = ()  # paths of the family that need no token
    path_ids: tuple[tuple[str, str], ...] = ()  # (path prefix, log key) for a path's {id}

    def token_required(self, path: str) -> bool:
        return self.needs_token and not path.startswith(self.public)

    def log_ids(self, path: str, match_info) -> dict[str, str]:
        """`client_id=5` for /Clients/5/: what a request line carries so that one grep finds it."""
        if "id" not in match_info:
            return {}
        return {key: match_info["id"] for prefix, key in self.path_ids if path.startswith(prefix)}


NOTIFICATIONS = Family(
    "notifications", ("/Clients", "/Mailing", "/Stats"), True, drf_error,
    path_ids=(("/Clients/", "client_id"), ("/Mailing/", "mailing_id"), ("/Stats/", "mailing_id")),
)
SUBSCRIPTIONS = Family(
    "subscriptions", ("/email_subscription/",), True, status_error,
    public=("/email_subscription/v1.0/confirm", "/email_subscription/v1.0/unsubscribe"),
)
SYSTEM = Family("system", ("/",), False, drf_error)

FAMILIES = (NOTIFICATIONS, SUBSCRIPTIONS)


def family_of(path: str) -> Family:
    for family in FAMILIES:
        if path.startswith(family.prefixes):
            return family
    return SYSTEM

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


@dataclass(frozen=True)
class Family:
    name: str
    prefixes: tuple[str, ...]
    needs_token: bool
    error_body: Callable[[HeraldError], dict]


NOTIFICATIONS = Family("notifications", ("/Clients", "/Mailing", "/Stats"), True, drf_error)
SYSTEM = Family("system", ("/",), False, drf_error)

FAMILIES = (NOTIFICATIONS,)


def family_of(path: str) -> Family:
    for family in FAMILIES:
        if path.startswith(family.prefixes):
            return family
    return SYSTEM

"""Domain errors that any layer may raise; the error middleware renders them per API family.

They carry what went wrong in the client's terms (which field, why), never internals.
"""

from __future__ import annotations


class HeraldError(Exception):
    status = 500

    def __init__(self, detail: str = "", fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail or str(fields))
        self.detail = detail
        self.fields = fields or {}


class BadRequest(HeraldError):
    """400: `fields` maps each bad field to its messages; `detail` is for the request as a whole."""

    status = 400

    @classmethod
    def field(cls, name: str, message: str) -> BadRequest:
        return cls(fields={name: [message]})


class Unauthorized(HeraldError):
    status = 401


class NotFound(HeraldError):
    status = 404


class Conflict(HeraldError):
    """409: the request contradicts what is stored (e.g. an email owned by another subscriber)."""

    status = 409

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail, {field: [detail]} if field else None)


class MethodNotAllowed(HeraldError):
    status = 405


class UnsupportedMediaType(HeraldError):
    status = 415


class ServiceUnavailable(HeraldError):
    """503: Herald cannot do it now (its database is full, read-only or locked); the client may
    try again after `retry_after` seconds."""

    status = 503

    def __init__(self, detail: str, retry_after: int = 10) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Forbidden(HeraldError):
    """403: the request may not be made with what it carries (no or a wrong credential, where the
    family answers 403 rather than 401)."""

    status = 403


class GatewayError(HeraldError):
    """An outside service (the PBX) could not do it: `status` 502 (unreachable, or an answer that
    makes no sense), 504 (too slow), 503 (it has locked us out) or 429 (over its rate limit, which
    Herald keeps); the client may try again after `retry_after` seconds, where given."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after

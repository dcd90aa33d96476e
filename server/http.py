"""Small HTTP helpers the handlers share: routes with an optional trailing slash, request
bodies as JSON or form data, limit/offset pagination and JSON responses.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.errors import BadRequest, NotFound, UnsupportedMediaType

def route(method: str, path: str, handler) -> web.RouteDef:
    """`path` written with its trailing slash; served with and without it, never redirected."""
    return web.route(method, path.rstrip("/") + "{slash:/?}", handler)


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the path (routes match it with `\\d+`); one SQLite cannot hold is a 404."""
    value = int(request.match_info[name])
    if value > 2**63 - 1:
        raise NotFound("Not found.")
    return value


def respond(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's fields, from a JSON object or from form data (`curl -d`)."""
    if not request.body_exists:
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("JSON body must be an object")
        return data
    if request.content_type not in FORM_TYPES:
        raise UnsupportedMediaType(f'Unsupported media type "{request.content_type}" in request.')
    form = await request.post()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string and body together (the body wins): for APIs used both as links and forms."""
    return {**request.query, **await read_body(request)}


def validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """`model` built from `data`, or a 400 that names every bad field and says why."""
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(fields=field_errors(exc)) from None
    if problems := getattr(parsed, "cross_field_errors", dict)():
        raise BadRequest(fields=problems)
    return parsed


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        if error["type"] == "missing":
            message = "This field is required."
        elif error["type"] == "extra_forbidden":
            message = "Unknown field."
        else:
            message = error["msg"].removeprefix("Value error, ")
        fields.setdefault(name, []).append(message)
    return fields


def _whole_number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest.field(name, "A valid integer is required.") from None
    if not low <= value <= high:
        raise BadRequest.field(name, f"Must be between {low} and {high}.")
    return value


class Page:
    """limit/offset from the query string, and the DRF-style envelope around one page."""

    DEFAULT_LIMIT = 100
    MAX_LIMIT = 1000

    def __init__(self, request: web.Request, default_limit: int = DEFAULT_LIMIT) -> None:
        self.request = request
        self.limit = _whole_number(request, "limit", default_limit, 1, self.MAX_LIMIT)
        self.offset = _whole_number(request, "offset", 0, 0, 2**62)

    def _link(self, offset: int) -> str:
        query = dict(self.request.query)
        query.update(limit=str(self.limit), offset=str(offset))
        if offset == 0:
            query.pop("offset")
        return str(self.request.url.with_query(query))

    def envelope(self, count: int, results: list) -> dict[str, Any]:
        after = self.offset + self.limit
        return {
            "count": count,
            "next": self._link(after) if after < count else None,
            "previous": self._link(max(self.offset - self.limit, 0)) if self.offset > 0 else None,
            "results": results,
        }

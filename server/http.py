"""Small HTTP helpers the handlers share: routes with an optional trailing slash, request
bodies as JSON or form data and query strings (read strictly: what cannot be taken as it is,
is a 400), limit/offset pagination and JSON responses.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError
from yarl import URL

from server import text
from server.errors import BadRequest, NotFound, UnsupportedMediaType
from server.keys import SETTINGS


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


async def read_body(request: web.Request, max_size: int | None = None) -> dict[str, Any]:
    """The request's fields, from a JSON object or from form data (`curl -d`; multipart too).

    A body that cannot be read as what its Content-Type says is a 400 that says why. The text of
    the fields a handler reads is checked by `validate`; unknown fields are ignored, whatever they hold.
    A body over `max_size` bytes (default: the app's `client_max_size`, aiohttp's 1 MiB) is a 413;
    a route that takes more says so (a multipart body keeps the app's limit).
    """
    if not request.body_exists:
        return {}
    if request.content_type == "application/json":
        data = _json_object(await _raw(request, max_size), _charset(request))
    elif request.content_type == "application/x-www-form-urlencoded":
        data = dict(_urlencoded(await _raw(request, max_size), _charset(request), "request body"))
    elif request.content_type == "multipart/form-data":
        data = await _multipart(request)
    else:
        raise UnsupportedMediaType(f'Unsupported media type "{request.content_type}" in request.')
    return data


async def _raw(request: web.Request, max_size: int | None) -> bytes:
    """The body's bytes, read up to `max_size` (None: `request.read()` and the app's limit)."""
    if max_size is None:
        return await request.read()
    if request.content_length is not None and request.content_length > max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=max_size, actual_size=request.content_length)
    body = bytearray()
    while chunk := await request.content.read(2**16):
        body += chunk
        if len(body) > max_size:
            raise web.HTTPRequestEntityTooLarge(max_size=max_size, actual_size=len(body))
    return bytes(body)


def query(request: web.Request) -> dict[str, str]:
    """The query string's parameters (the first of repeated ones), each one line of UTF-8 text."""
    data: dict[str, str] = {}
    for name, value in _urlencoded(request.rel_url.raw_query_string.encode(), "utf-8", "query string"):
        data.setdefault(name, value)
    _check_text(data, one_line=True)
    return data


def _charset(request: web.Request) -> str:
    charset = request.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise UnsupportedMediaType(f'Unsupported charset "{charset}" in request.') from None
    return charset


def _json_object(raw: bytes, charset: str) -> dict[str, Any]:
    try:
        data = text.load_json(raw.decode(charset))
    except ValueError as exc:  # also a bad encoding, and numbers too long to convert
        raise BadRequest(f"JSON parse error - {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object")
    return data


def _urlencoded(raw: bytes, charset: str, where: str) -> list[tuple[str, str]]:
    """`a=1&b=x+y` -> [("a", "1"), ("b", "x y")]; bytes, raw or percent-encoded, must be `charset`."""
    pairs = []
    for part in raw.rstrip().split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        try:
            name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode(charset)
        except UnicodeDecodeError:
            raise BadRequest(f"A parameter name in the {where} is not valid {charset.upper()} text.") from None
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode(charset)
        except UnicodeDecodeError:
            raise BadRequest.field(name, f"Not valid {charset.upper()} text in the {where}.") from None
        pairs.append((name, value))
    return pairs


async def _multipart(request: web.Request) -> dict[str, str]:
    try:
        form = await request.post()
    except (ValueError, LookupError, RuntimeError, HttpProcessingError) as exc:
        reason = (getattr(exc, "message", "") or str(exc) or type(exc).__name__).strip().splitlines()[0]
        raise BadRequest(f"Multipart form data could not be read: {reason}") from None
    files = {name: ["Files are not accepted: send this field as text."]
             for name, value in form.items() if not isinstance(value, str)}
    if files:
        raise BadRequest(fields=files)
    return dict(form.items())


def _check_text(data: dict[str, Any], *, one_line: bool, names: Iterable[str] | None = None) -> None:
    """Every text in `data` (nested ones too; of the fields `names` only, if given) can be stored and
    answered as it is, or a 400 naming the field. Names are checked too where all fields count.
    All the texts are searched at once (a 10,000-man mailing holds 100,000); only when that finds
    something is each field searched, to name it."""
    checked = [(name, value) for name, value in data.items() if names is None or name in names]
    if names is None and any(text.problem(name, one_line=True) for name, _ in checked):
        raise BadRequest("A parameter name contains a control character or a lone surrogate.")
    if text.problem(" ".join(_texts([value for _, value in checked])), one_line=one_line) is None:
        return
    for name, value in checked:
        for item in _texts([value]):
            if why := text.problem(item, one_line=one_line):
                raise BadRequest.field(name, why)


def _texts(values: list[Any]) -> list[str]:
    """The strings in `values`, nested ones and dict keys too."""
    found = []
    pending = list(values)
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string and body together (the body wins): for APIs used both as links and forms."""
    return {**query(request), **await read_body(request)}


def validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """`model` built from `data`, or a 400 that names every bad field and says why."""
    _check_text(data, one_line=False, names=model.model_fields)
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


def whole_number(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer written in ASCII digits (`-` first for a negative one), in [low, high]."""
    raw = query.get(name)
    if raw is None:
        return default
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise BadRequest.field(name, "A valid integer is required.")
    if len(digits.lstrip("0")) > 18 or not low <= int(raw) <= high:
        raise BadRequest.field(name, f"Must be between {low} and {high}.")
    return int(raw)


class Page:
    """limit/offset from the query string, and the DRF-style envelope around one page, whose
    `next`/`previous` links are built on `server.public_url` (never on the request's Host)."""

    DEFAULT_LIMIT = 100
    MAX_LIMIT = 1000
    MAX_OFFSET = 1_000_000_000

    def __init__(self, request: web.Request, default_limit: int = DEFAULT_LIMIT) -> None:
        self.request = request
        self.query = query(request)
        self.limit = whole_number(self.query, "limit", default_limit, 1, self.MAX_LIMIT)
        self.offset = whole_number(self.query, "offset", 0, 0, self.MAX_OFFSET)

    def _link(self, offset: int) -> str:
        link_query = {**self.query, "limit": str(self.limit), "offset": str(offset)}
        if offset == 0:
            link_query.pop("offset")
        base = self.request.app[SETTINGS].server.public_url.rstrip("/")
        return str(URL(base + self.request.path).with_query(link_query))

    def envelope(self, count: int, results: list) -> dict[str, Any]:
        after = self.offset + self.limit
        return {
            "count": count,
            "next": self._link(after) if after < count else None,
            "previous": self._link(max(self.offset - self.limit, 0)) if self.offset > 0 else None,
            "results": results,
        }

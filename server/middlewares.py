"""Middlewares, outermost first: request log and metrics, errors in each family's envelope (and the
family's `response_headers` on every answer), authentication by each family's strategy. Each asks
the request's family (server/families.py).

The request log names the query's parameters but keeps only the values of those known to be
harmless (`limit=25`); emails, sessions, passport ids, link keys and tokens are logged as `***`.
A database that cannot be written now (full, read-only, locked) is a 503 with Retry-After.
Any other exception that is not a `HeraldError` or an HTTP error is a bug: it is logged with its
traceback and answered 500 without internals.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import quote

from aiohttp import web

from server.errors import BadRequest, HeraldError, MethodNotAllowed, NotFound, ServiceUnavailable, Unauthorized
from server.families import Family, request_family
from server.http import respond
from server.keys import METRICS
from server.protocol import describe_body
from storage.db import unavailable

log = logging.getLogger("herald.http")

# Query parameters whose values are logged as they are; every other non-empty value is `***`.
LOGGED_VALUES = frozenset({"limit", "offset", "tag", "operator_code", "qkey", "date_range", "email_source", "state",
                           "status", "before", "after"})
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,63}")


def loggable_target(url) -> str:
    """The request's path and query as a log line shows them: `/x?email=***&limit=25`."""
    if not url.raw_query_string:
        return url.raw_path
    pairs = []
    for name, value in url.query.items():
        if not _PARAMETER_NAME.fullmatch(name):
            pairs.append("***")  # a name may itself be someone's data (`?me@example.com`)
            continue
        if value and name not in LOGGED_VALUES:
            value = "***"
        pairs.append(f"{name}={quote(value, safe='*,:')}")
    return f"{url.raw_path}?{'&'.join(pairs)}"


@web.middleware
async def request_log(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect raised (the admin UI's), or an error the next middleware let by
        status = exc.status
        raise
    finally:
        seconds = time.perf_counter() - started
        ids = request_family(request).log_ids(request.path, request.match_info)
        log.info("%s %s %s", request.method, loggable_target(request.rel_url), status,
                 extra={**ids, "duration_ms": round(seconds * 1000, 1)})
        route = request.match_info.route.resource
        route_name = route.canonical.replace("{slash}", "/") if route is not None else "unmatched"
        request.app[METRICS].observe_request(request.method, route_name, status, seconds)


def _from_http(exc: web.HTTPException, request: web.Request) -> HeraldError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("Not found.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(f'Method "{request.method}" not allowed.')
    error = HeraldError(exc.reason)
    error.status = exc.status
    return error


@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    family = request_family(request)
    try:
        return _with_family_headers(family, request, await handler(request))
    except HeraldError as exc:
        error, headers = exc, {}
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _from_http(exc, request)
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
    except web.RequestPayloadError as exc:  # the body broke off or does not decode (gzip, chunks)
        error, headers = BadRequest(describe_body(exc)), {}
        log.warning("unreadable body in %s %s: %s", request.method, request.path, error.detail)
    except Exception as exc:
        if (reason := unavailable(exc)) is None:
            log.exception("unhandled error in %s %s", request.method, request.path)
            error, headers = HeraldError("Internal server error."), {}
        else:
            log.warning("database unavailable in %s %s: %s", request.method, request.path, exc)
            error, headers = ServiceUnavailable(f"Service unavailable: {reason}; try again later."), {}
    if isinstance(error, Unauthorized) and (challenge := family.auth_for(request.path).challenge):
        headers["WWW-Authenticate"] = challenge
    if getattr(error, "retry_after", None) is not None:  # ServiceUnavailable, GatewayError
        headers["Retry-After"] = str(error.retry_after)
    if family.error_page is not None:
        response = family.error_page(error, request)
    else:
        response = respond(family.error_body(error), error.status)
    response.headers.update(headers)
    return _with_family_headers(family, request, response)


def _with_family_headers(family: Family, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if family.response_headers is not None and not response.prepared:
        response.headers.update(family.response_headers(request))
    return response


@web.middleware
async def authenticate(request: web.Request, handler) -> web.StreamResponse:
    """The family's auth strategy on every route of the family that is not public (404s excepted)."""
    if not isinstance(request.match_info.http_exception, web.HTTPNotFound):
        await request_family(request).auth_for(request.path).check(request)
    return await handler(request)

"""/email_subscription/v1.0/...: email price-alert subscriptions (seed 001).

subscribe, user_subscriptions/list and user_subscriptions need a service token; confirm and the
unsubscribe routes need none (the subscriber's id is the key). subscribe, confirm and unsubscribe
act on GET as in the seed's curl examples, but not on HEAD (link checkers and prefetchers send
it): HEAD only checks the parameters. The links in emails open the pages of
handlers/subscription_pages.py instead, which act only on POST.
Every answer is {"status": "success", "data": ...}; errors are rendered by the error middleware
in this family's envelope, `status_error`.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel

from handlers import subscription_pages
from handlers.subscription_schemas import (
    CheckParams,
    ConfirmParams,
    SubscribeParams,
    UnsubscribeDirectionParams,
    UnsubscribeParams,
    WhoParams,
)
from server.links import API
from server.errors import HeraldError
from server.families import Family, ServiceToken
from server.http import read_params, respond, route, validate
from server.keys import DB, OUTBOX, SETTINGS
from server.timeutil import utc_now
from storage import subscribers
from storage.subscribers import Identity, Subscription


def success(data: dict) -> web.Response:
    return respond({"status": "success", "data": data})


def status_error(error: HeraldError) -> dict:
    """The family's errors: {"status": "error", "message": ..., "errors": {field: [...]}}."""
    body: dict = {"status": "error", "message": error.detail or _summary(error.fields)}
    if error.fields:
        body["errors"] = error.fields
    return body


def _summary(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


async def subscribe(request: web.Request) -> web.Response:
    params = validate(SubscribeParams, await read_params(request))
    settings = request.app[SETTINGS]
    price_filter = params.price_filter
    outcome = await subscribers.subscribe(
        request.app[DB],
        Identity(params.email, params.passportuid, params.session),
        Subscription(params.qkey, params.date_range, params.filter, price_filter.key() if price_filter else "",
                     price_filter.filter_url_postfix if price_filter else None, params.email_source),
        now=utc_now(),
        double_opt_in=settings.subscriptions.double_opt_in,
        cooldown=timedelta(minutes=settings.subscriptions.confirmation_cooldown_minutes),
        public_url=settings.server.public_url,
    )
    request.app[OUTBOX].wake()
    return success({"required_double_opt_in": outcome.required_double_opt_in, "id": outcome.id,
                    "pending": outcome.pending})


async def confirm(request: web.Request) -> web.Response:
    params = validate(ConfirmParams, await read_params(request))
    await subscribers.confirm(request.app[DB], params.id, p=params.p, s=params.s, now=utc_now())
    return success({"id": params.id})


async def list_subscriptions(request: web.Request) -> web.Response:
    params = validate(WhoParams, await read_params(request))
    db = request.app[DB]
    subscriber = await subscribers.find(db, passportuid=params.passportuid, email=params.email)
    if subscriber is None:
        return success({"id": None, "subscriptions": []})
    active = await subscribers.active_subscriptions(db, subscriber["id"])
    return success({"id": subscriber["id"], "subscriptions": [item["qkey"] for item in active]})


async def check_subscription(request: web.Request) -> web.Response:
    params = validate(CheckParams, await read_params(request))
    db = request.app[DB]
    subscriber = await subscribers.find(db, passportuid=params.passportuid, email=params.email)
    found = None
    if subscriber is not None:
        found = subscribers.matching(await subscribers.active_subscriptions(db, subscriber["id"]), params.direction)
    return success({
        "id": subscriber["id"] if subscriber else None,
        "subscribed": found is not None,
        "filter": found["filter_url_postfix"] if found else None,
        "qkey": found["qkey"] if found else None,
        "date_range": found["date_range"] if found else None,
    })


async def unsubscribe(request: web.Request) -> web.Response:
    params = validate(UnsubscribeParams, await read_params(request))
    await subscribers.unsubscribe(request.app[DB], params.id, qkey=None, now=utc_now())
    return success({"id": params.id})


async def unsubscribe_by_direction(request: web.Request) -> web.Response:
    params = validate(UnsubscribeDirectionParams, await read_params(request))
    await subscribers.unsubscribe(request.app[DB], params.id, qkey=params.qkey, now=utc_now())
    return success({"id": params.id})


def acting(path: str, handler, params: type[BaseModel]) -> list[web.RouteDef]:
    """GET and POST `path` with `handler`, which changes state; HEAD, which aiohttp would answer
    with the GET handler, answers 200 (or 400 for bad parameters) and changes nothing."""
    get = route("GET", path, handler)

    async def head(request: web.Request) -> web.Response:
        validate(params, dict(request.query))
        return web.Response(content_type="application/json")

    return [web.RouteDef("GET", get.path, handler, {"allow_head": False}), route("HEAD", path, head),
            route("POST", path, handler)]


routes = [
    *acting(f"{API}/subscribe", subscribe, SubscribeParams),
    *acting(f"{API}/confirm", confirm, ConfirmParams),
    route("GET", f"{API}/user_subscriptions/list", list_subscriptions),
    route("GET", f"{API}/user_subscriptions", check_subscription),
    *acting(f"{API}/unsubscribe", unsubscribe, UnsubscribeParams),
    *acting(f"{API}/unsubscribe/by_direction", unsubscribe_by_direction, UnsubscribeDirectionParams),
    *subscription_pages.routes,
]

FAMILY = Family(
    "subscriptions",
    routes=routes,
    prefixes=("/email_subscription/",),
    auth=ServiceToken(),
    public=(f"{API}/confirm", f"{API}/unsubscribe"),  # the links in emails: the subscriber's id is the key
    error_body=status_error,
)

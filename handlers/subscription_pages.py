"""The pages that the links in subscription emails open (seed 001's confirm and unsubscribe, for people).

Mail scanners and link prefetchers GET every link of an email, so a page's GET (and HEAD) only
says what will happen; its button POSTs the same fields to the same path, and that does it. The
seed's API routes (`confirm`, `unsubscribe`, ...) keep acting on GET for API callers.
Pages are Russian, like the emails, rendered from templates/pages/ with autoescape. They need no
token: the subscriber's random id (with, to confirm, the hash of its passportuid or session) is
the capability, so the form needs no other CSRF token. They must not be framed (clickjacking)
and send no Referer (their URL holds that id). A link that does not work is a page too, with the
status the API would answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from handlers.subscription_schemas import ConfirmParams, UnsubscribeDirectionParams, UnsubscribeParams
from jobs.price_emails import genitive
from server.directions import parse_qkey
from server.errors import HeraldError
from server.http import read_params, route, validate
from server.keys import DB
from server.links import API, PAGE
from server.templating import environment
from server.timeutil import utc_now
from storage import subscribers
from storage.db import Database

CONFIRM = f"{API}/confirm/{PAGE}"
UNSUBSCRIBE = f"{API}/unsubscribe/{PAGE}"
UNSUBSCRIBE_DIRECTION = f"{API}/unsubscribe/by_direction/{PAGE}"

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

# What a page does: (database, its parameters, whether this is the button's POST) -> the template's
# context; `state` is "ask", "done" or "already".
Act = Callable[[Database, Any, bool], Awaitable[dict[str, Any]]]


def render(template: str, http_status: int = 200, **context: Any) -> web.Response:
    body = environment().get_template(f"pages/{template}").render(context)
    return web.Response(text=body, status=http_status, content_type="text/html", charset="utf-8",
                        headers=HEADERS)


def page(path: str, template: str, title: str, model: type[BaseModel], act: Act) -> list[web.RouteDef]:
    async def handler(request: web.Request) -> web.Response:
        try:
            params = validate(model, await read_params(request))
            context = await act(request.app[DB], params, request.method == "POST")
        except HeraldError as exc:
            detail = exc.detail or "; ".join(f"{name}: {' '.join(why)}" for name, why in exc.fields.items())
            return render("error.html", exc.status, title="Ссылка не работает", status=exc.status, detail=detail)
        return render(template, title=title, action=path, **params.model_dump(), **context)

    return [route("GET", path, handler), route("POST", path, handler)]


async def _confirm(db: Database, params: ConfirmParams, acting: bool) -> dict[str, Any]:
    if await subscribers.is_confirmed(db, params.id, p=params.p, s=params.s):
        return {"state": "already"}
    if not acting:
        return {"state": "ask"}
    await subscribers.confirm(db, params.id, p=params.p, s=params.s, now=utc_now())
    return {"state": "done"}


async def _unsubscribe(db: Database, params: UnsubscribeParams, acting: bool) -> dict[str, Any]:
    if not await subscribers.active_subscriptions_of(db, params.id):
        return {"state": "already", "qkey": None}
    if acting:
        await subscribers.unsubscribe(db, params.id, qkey=None, now=utc_now())
    return {"state": "done" if acting else "ask", "qkey": None}


async def _unsubscribe_direction(db: Database, params: UnsubscribeDirectionParams, acting: bool) -> dict[str, Any]:
    subscription = await subscribers.subscription_to(db, params.id, params.qkey)
    context = {"trip": trip(subscription["qkey"], subscription["point_from"], subscription["point_to"])}
    if subscription["unsubscribed_at"] is not None:
        return {**context, "state": "already"}
    if acting:
        await subscribers.unsubscribe(db, params.id, qkey=params.qkey, now=utc_now())
    return {**context, "state": "done" if acting else "ask"}


def trip(qkey: str, point_from: Any, point_to: Any) -> str:
    """'Москва — Сочи, 12 мая – 15 мая' (the points' codes when no price has named them)."""
    direction = parse_qkey(qkey)
    names = [name if isinstance(name, str) and name else code
             for name, code in ((point_from, direction.point_from), (point_to, direction.point_to))]
    dates = genitive(direction.date_forward)
    dates += f" – {genitive(direction.date_backward)}" if direction.date_backward else ", в одну сторону"
    return f"{names[0]} — {names[1]}, {dates}"


routes = [
    *page(CONFIRM, "confirm.html", "Подтверждение подписки", ConfirmParams, _confirm),
    *page(UNSUBSCRIBE, "unsubscribe.html", "Отписка от писем", UnsubscribeParams, _unsubscribe),
    *page(UNSUBSCRIBE_DIRECTION, "unsubscribe.html", "Отписка от направления", UnsubscribeDirectionParams,
          _unsubscribe_direction),
]

"""/api/v1/accounts, /api/v1/orders, /api/v1/users: the CRM's accounts (contacts of the one
directory), their orders and the platform's users (operators and chatbot sender profiles).

An account's id is its contact's id as a string; an id that is not digits, or no live account's,
is a 404 "Account <id> not found.". Tags set here are the notification client's `tag` (and
decide which mailings reach it), so a change wakes the SMS engine. Shapes are built here from
storage/accounts.py's rows; lists are rendered by SQLite.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from aiohttp import web

from handlers import crm_schemas as schemas
from jobs import contact_changes
from server.errors import BadRequest, Conflict, NotFound
from server.families import paginate
from server.http import query, read_body, respond, route, validate
from server.keys import DB, DISPATCHER
from storage import accounts, contacts, orders, platform_users

log = logging.getLogger("herald.crm")

SUBSCRIPTION_TUNNEL = "price alerts"  # subscribeHistory's tunnelName of a price-alert subscription
SUBSCRIPTION_SOURCE = "EMAIL"  # and its trafficSource
MAX_QUERY = 200  # characters of a search `q`
_CONTACT_FIELD = {"phone_number": "phone", "email": "email"}  # contacts.Taken's field -> the body's


# -- shapes --------------------------------------------------------------------------------------


def _price(text: str) -> int | float:
    price = Decimal(text)
    return int(price) if price == price.to_integral_value() else float(price)


def order_of(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "accountId": str(row["contact_id"]), "price": _price(row["price"]),
            "currency": row["currency"], "paymentMethod": row["payment_method"], "status": row["status"],
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def user_of(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "name": row["name"], "email": row["email"], "createdAt": row["created_at"],
            "updatedAt": row["updated_at"]}


def subscribe_history(account: dict[str, Any]) -> list[dict[str, str]]:
    """What the account was created with, then one item per price-alert subscription it has or had."""
    given = account["attributes"].get("subscribeHistory") or []
    return [*given, *({"tunnelName": SUBSCRIPTION_TUNNEL, "leadgentoolName": qkey,
                       "trafficSource": SUBSCRIPTION_SOURCE} for qkey in account["subscriptions"])]


def detail_of(account: dict[str, Any], include: set[str]) -> dict[str, Any]:
    data = {
        "id": str(account["id"]), "name": account["name"], "tags": account["tags"],
        "from": account["source"] or "UNKNOWN", "botStatus": account["bot_status"], "gender": account["gender"],
        "locale": account["locale"], "subscribeHistory": subscribe_history(account),
        "links": {"contactedUsers": [{"type": "users", "id": str(user["id"])} for user in account["contacted_users"]],
                  "orders": [{"type": "orders", "id": str(order["id"])} for order in account["orders"]]},
        "phone": account["phone_number"], "email": account["email"],
        "lastMessageTime": account["last_message_time"],
        "createdAt": account["created_at"], "updatedAt": account["updated_at"],
    }
    body: dict[str, Any] = {"data": data}
    if include:
        body["included"] = {}
        if "contactedUsers" in include:
            body["included"]["users"] = [user_of(user) for user in account["contacted_users"]]
        if "orders" in include:
            body["included"]["orders"] = [order_of(order) for order in account["orders"]]
    return {**body, "status": 1}


# -- helpers -------------------------------------------------------------------------------------


def _id_in_path(request: web.Request, what: str) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > 18:
        raise NotFound(f"{what} {raw} not found.")
    return int(raw)


async def _account_id(request: web.Request) -> int:
    account_id = _id_in_path(request, "Account")
    if not await accounts.exists(request.app[DB], account_id):
        raise NotFound(f"Account {account_id} not found.")
    return account_id


def _taken(exc: contacts.Taken) -> Conflict:
    field = _CONTACT_FIELD.get(exc.field, exc.field)
    return Conflict(f"Another account has this {field}.", field=field)


def _include(request: web.Request) -> set[str]:
    try:
        return schemas.includes(query(request).get("include"))
    except ValueError as exc:
        raise BadRequest.field("include", str(exc)) from None


async def _detail(request: web.Request, account_id: int, status: int = 200, include: set[str] = frozenset()):
    account = await accounts.detail(request.app[DB], account_id)
    if account is None:
        raise NotFound(f"Account {account_id} not found.")
    return respond(detail_of(account, include), status)


def _filter(query: dict[str, str]) -> accounts.Filter:
    tags = tuple(sorted({tag.strip() for tag in query.get("filter[tags]", "").split(",") if tag.strip()}))
    q = query.get("q", "")
    if len(q) > MAX_QUERY:
        raise BadRequest.field("q", f"Ensure this field has no more than {MAX_QUERY} characters.")
    return accounts.Filter(tags=tags, q=q.strip() or None)


# -- accounts ------------------------------------------------------------------------------------


async def list_accounts(request: web.Request) -> web.Response:
    page = paginate(request)
    found = await accounts.page(request.app[DB], _filter(page.query), limit=page.limit, offset=page.offset)
    body = page.envelope(found.total, [])
    body["data"], body["meta"]["filteredCount"] = found.data, found.size  # rendered by SQLite
    return respond(body)


async def create_account(request: web.Request) -> web.Response:
    body = validate(schemas.AccountIn, await read_body(request))
    attributes = {"subscribeHistory": [item.model_dump() for item in body.subscribeHistory]} \
        if body.subscribeHistory else None
    try:
        account_id = await contacts.create(
            request.app[DB], phone_number=body.phone, operator_code=body.operator_code, email=body.email,
            name=body.name, timezone=body.timezone, tags=body.tags, source=body.source, attributes=attributes,
            gender=body.gender, locale=body.locale)
    except contacts.Taken as exc:
        raise _taken(exc) from None
    log.info("account created", extra={"account_id": account_id})
    if body.phone is not None:
        request.app[DISPATCHER].wake()  # it may join a running mailing
    return await _detail(request, account_id, 201)


async def get_account(request: web.Request) -> web.Response:
    account_id = _id_in_path(request, "Account")
    include = _include(request)
    return await _detail(request, account_id, include=include)


async def update_account(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    changes = validate(schemas.AccountPatch, await read_body(request)).changes()
    if changes:
        await contacts.update(request.app[DB], account_id, **changes)
        log.info("account changed", extra={"account_id": account_id})
        if "tags" in changes:
            request.app[DISPATCHER].wake()
    return await _detail(request, account_id)


async def _change_tags(request: web.Request, change) -> web.Response:
    account_id = await _account_id(request)
    tags = validate(schemas.TagsIn, await read_body(request)).all()
    if tags:
        await contact_changes.change_tags(request.app[DB], request.app[DISPATCHER], account_id, change, tags)
    return await _detail(request, account_id)


async def add_tag(request: web.Request) -> web.Response:
    return await _change_tags(request, contacts.add_tags)


async def remove_tag(request: web.Request) -> web.Response:
    return await _change_tags(request, contacts.remove_tags)


async def account_orders(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    page = paginate(request)
    db = request.app[DB]
    total = await orders.count_of_contact(db, account_id)
    rows = await orders.of_contact(db, account_id, limit=page.limit, offset=page.offset)
    return respond(page.envelope(total, [order_of(row) for row in rows]))


# -- orders --------------------------------------------------------------------------------------


async def create_order(request: web.Request) -> web.Response:
    body = validate(schemas.OrderIn, await read_body(request))
    account_id = int(body.accountId)

    def create(tx) -> int | None:  # the account is looked up in the order's own write
        if not accounts.exists(tx, account_id):
            return None
        return orders.create(tx, account_id, price=body.price, currency=body.currency,
                             payment_method=body.paymentMethod, status=body.status)

    order_id = await request.app[DB].write(create)
    if order_id is None:
        raise NotFound(f"Account {account_id} not found.")
    log.info("order created", extra={"account_id": account_id, "order_id": order_id})
    return respond({"data": order_of(await orders.get(request.app[DB], order_id)), "status": 1}, 201)


async def get_order(request: web.Request) -> web.Response:
    order = await orders.get(request.app[DB], _id_in_path(request, "Order"))
    if order is None:
        raise NotFound(f"Order {request.match_info['id']} not found.")
    return respond({"data": order_of(order), "status": 1})


async def update_order(request: web.Request) -> web.Response:
    order_id = _id_in_path(request, "Order")
    status = validate(schemas.OrderPatch, await read_body(request)).status
    order = await orders.set_status(request.app[DB], order_id, status)
    if order is None:
        raise NotFound(f"Order {order_id} not found.")
    log.info("order status changed", extra={"account_id": order["contact_id"], "order_id": order_id})
    return respond({"data": order_of(order), "status": 1})


# -- platform users ------------------------------------------------------------------------------


async def create_user(request: web.Request) -> web.Response:
    body = validate(schemas.UserIn, await read_body(request))
    user_id = await platform_users.create(request.app[DB], body.name, email=body.email)
    log.info("platform user created", extra={"user_id": user_id})
    return respond({"data": user_of(await platform_users.get(request.app[DB], user_id)), "status": 1}, 201)


async def list_users(request: web.Request) -> web.Response:
    page = paginate(request)
    total, rows = await platform_users.page(request.app[DB], limit=page.limit, offset=page.offset)
    return respond(page.envelope(total, [user_of(row) for row in rows]))


async def get_user(request: web.Request) -> web.Response:
    user = await platform_users.get(request.app[DB], _id_in_path(request, "User"))
    if user is None:
        raise NotFound(f"User {request.match_info['id']} not found.")
    return respond({"data": user_of(user), "status": 1})


routes = [
    route("GET", "/api/v1/accounts/", list_accounts),
    route("POST", "/api/v1/accounts/", create_account),
    route("GET", "/api/v1/accounts/{id}/", get_account),
    route("PATCH", "/api/v1/accounts/{id}/", update_account),
    route("POST", "/api/v1/accounts/{id}/add-tag/", add_tag),
    route("POST", "/api/v1/accounts/{id}/remove-tag/", remove_tag),
    route("GET", "/api/v1/accounts/{id}/orders/", account_orders),
    route("POST", "/api/v1/orders/", create_order),
    route("GET", "/api/v1/orders/{id}/", get_order),
    route("PATCH", "/api/v1/orders/{id}/", update_order),
    route("GET", "/api/v1/users/", list_users),
    route("POST", "/api/v1/users/", create_user),
    route("GET", "/api/v1/users/{id}/", get_user),
]

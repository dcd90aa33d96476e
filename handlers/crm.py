"""The CRM's family (seed 002, the Leeloo API v1): /api/v1/ behind a service token.

A CRM account is a contact of the one directory (storage/contacts.py) as the CRM shows it; its id
is the contact's id as a string. Requests authenticate with `X-Leeloo-AuthToken: <token>` or
`Authorization: Token <token>`; without one the answer is a 401 `{"status": 0, "error": ...}`.
Answers are `{"data": ..., "status": 1}`; lists add `meta` {limit, offset, filteredCount,
totalCount}; errors are `{"status": 0, "error": "<what>", "errors": {"<field>": [...]}}`.
Accounts, orders and platform users are in handlers/crm_accounts.py; an account's history
across channels (chat-messages), incoming messages, replies, read marks and merges in
handlers/crm_history.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from handlers import crm_accounts, crm_history
from server.errors import HeraldError
from server.families import Family, ServiceToken
from server.http import whole_number, query


def crm_error(error: HeraldError) -> dict:
    """{"status": 0, "error": "<what and where>", "errors": {"<field>": [...]}}."""
    body: dict = {"status": 0,
                  "error": error.detail or "; ".join(f"{name}: {' '.join(why)}" for name, why in error.fields.items())}
    if error.fields:
        body["errors"] = error.fields
    return body


class CrmPage:
    """limit (1-100, default 20) and offset from the query string, and the seed's list envelope:
    {"data": [...], "meta": {limit, offset, filteredCount (items in this answer), totalCount
    (items matching the filter)}, "status": 1}."""

    DEFAULT_LIMIT = 20
    MAX_LIMIT = 100
    MAX_OFFSET = 1_000_000_000

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.query = query(request)
        self.limit = whole_number(self.query, "limit", self.DEFAULT_LIMIT, 1, self.MAX_LIMIT)
        self.offset = whole_number(self.query, "offset", 0, 0, self.MAX_OFFSET)

    def envelope(self, total: int, data: list) -> dict[str, Any]:
        return {"data": data,
                "meta": {"limit": self.limit, "offset": self.offset, "filteredCount": len(data), "totalCount": total},
                "status": 1}


FAMILY = Family(
    "crm",
    routes=(*crm_accounts.routes, *crm_history.routes),
    prefixes=("/api/v1/",),
    auth=ServiceToken(headers=("X-Leeloo-AuthToken",)),
    error_body=crm_error,
    pagination=CrmPage,
    path_ids=(("/api/v1/accounts/", "account_id"), ("/api/v1/orders/", "order_id"), ("/api/v1/users/", "user_id")),
)

"""An account's orders (seed 002's `orders`): the one writer of `orders`.

Each order belongs to one contact. Creating an order and changing its status are state changes
of the account's, logged in its history in the same write ("Order 7 created: 199.90 RUB, NEW",
"Order 7: NEW -> SUCCESS"; messages.record_event). `price` goes in and out as decimal text.
"""

from __future__ import annotations

from typing import Any

from server.timeutil import to_db, utc_now
from storage import messages
from storage.db import Reads, WriteTransaction, reads, writes
from storage.sql import Q

STATUSES = ("NEW", "PENDING", "SUCCESS", "FAILED", "CANCELLED", "REFUNDED")


def _now() -> str:
    return to_db(utc_now())


@writes
def create(tx: WriteTransaction, contact_id: int, *, price: str, currency: str, payment_method: str,
           status: str = "NEW") -> int:
    """A new order of the contact's (who must exist); returns its id."""
    order_id = tx.fetch_value(Q.insert_order, {"contact_id": contact_id, "price": price, "currency": currency,
                                               "payment_method": payment_method, "status": status, "now": _now()})
    messages.record_event(tx, contact_id, f"Order {order_id} created: {price} {currency}, {status}")
    return order_id


@writes
def set_status(tx: WriteTransaction, order_id: int, status: str) -> dict[str, Any] | None:
    """The order with its new status (unchanged, and nothing logged, when it had it already);
    None if there is no such order."""
    order = get(tx, order_id)
    if order is None or order["status"] == status:
        return order
    tx.execute(Q.set_order_status, {"id": order_id, "status": status, "now": _now()})
    messages.record_event(tx, order["contact_id"], f"Order {order_id}: {order['status']} -> {status}")
    return get(tx, order_id)


@writes
def move(tx: WriteTransaction, from_contact_id: int, to_contact_id: int) -> int:
    """Every order of one contact now belongs to another (a merge of two accounts); how many."""
    return tx.execute(Q.move_orders, {"from_contact_id": from_contact_id, "to_contact_id": to_contact_id,
                                      "now": _now()})


@reads
def get(conn: Reads, order_id: int) -> dict[str, Any] | None:
    """id, contact_id, price (text), currency, payment_method, status, created_at, updated_at."""
    row = conn.fetch_one(Q.order_by_id, {"id": order_id})
    return None if row is None else dict(row)


@reads
def of_contact(conn: Reads, contact_id: int, *, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    """The contact's orders, newest first."""
    rows = conn.fetch_all(Q.orders_of_contact, {"contact_id": contact_id, "limit": limit, "offset": offset})
    return [dict(row) for row in rows]


@reads
def count_of_contact(conn: Reads, contact_id: int) -> int:
    return conn.fetch_value(Q.count_orders_of_contact, {"contact_id": contact_id})

"""An account's orders (the CRM's `orders`): the one writer of `orders`.

Minimal on this branch (crm-history): only `move`, which a merge of two accounts needs. The
accounts branch writes the rest (create, get, status changes); when both are merged, its module
replaces this one, keeping `move(tx, from_id, to_id)`.
"""

from __future__ import annotations

from storage.db import WriteTransaction, writes
from storage.sql import Q


@writes
def move(tx: WriteTransaction, from_id: int, to_id: int) -> int:
    """Make contact `from_id`'s orders contact `to_id`'s (a merge); returns how many moved."""
    return tx.execute(Q.move_orders, {"from_id": from_id, "to_id": to_id})

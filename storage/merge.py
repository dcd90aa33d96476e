"""Merging two CRM accounts that turn out to be one person: one write transaction, each table
changed by its own writer.

The other account's history (storage/messages.py: where both got the same mailing one message is
kept; a chatbot template both were given stays given once), its orders (storage/orders.py), its
price-alert subscribers (storage/subscribers.py), and its tags, ids in other systems (so that the
dating site's id of a chatbot man merged in now finds this account, and the templates he was
given are not given again), attributes, and the phone, email, name, gender and locale this account
lacks (storage/contacts.py) move to this account; the other is deleted (softly: `deleted_at`).
Mailings then reach this account as it now is, and its history says what happened.
"""

from __future__ import annotations

from storage import contacts, messages, orders, subscribers
from storage.account_history import AccountNotFound
from storage.db import WriteTransaction, writes


def merged_text(other_id: int) -> str:
    return f"Merged account {other_id} into this one"


@writes
def merge(tx: WriteTransaction, account_id: int, other_id: int) -> dict[str, int]:
    """Merge account `other_id` into `account_id` (two different ids); returns how many messages,
    tags, orders and subscribers moved. Raises AccountNotFound naming the first that is no account."""
    for found in (account_id, other_id):
        if not messages.is_account(tx, found):
            raise AccountNotFound(found)
    moved = {"messages": messages.move_contact(tx, other_id, account_id)}
    moved["tags"] = contacts.merge_into(tx, account_id, other_id)
    moved["orders"] = orders.move(tx, other_id, account_id)
    moved["subscribers"] = subscribers.move_contact(tx, other_id, account_id)
    messages.follow_mailings(tx, account_id)
    messages.record_event(tx, account_id, merged_text(other_id))
    return moved

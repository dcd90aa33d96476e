"""Writes on a CRM account's history that need more than the message log: a message written into
it (what the person sent, or an operator's reply) checked against the account and its author in
the same transaction, its channel chosen from what the account has.

Messages are written by storage/messages.py (the one writer of `messages`); this module only
decides which and where. Sending is not done here: an SMS reply is due at once for the SMS
delivery engine (jobs/sms_channel.py), which the handler wakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.errors import BadRequest, NotFound
from storage import contacts, messages, platform_users
from storage.db import WriteTransaction, writes

SMS = "sms"
FALLBACK_CHANNEL = "crm"  # an account with no phone, no email and no `from`


class AccountNotFound(NotFound):
    def __init__(self, account_id: int | str) -> None:
        super().__init__(f"Account {account_id} not found.")


@dataclass(frozen=True)
class Written:
    message_id: int
    channel: str
    sent_by_herald: bool  # an SMS reply, due now for the SMS engine


def default_channel(contact: dict, *, reply: bool) -> str:
    """Where the account is reached: by SMS with a phone; what the person sent comes by email when
    the account has only an email; else the account's `from`, lower-cased."""
    if contact["phone_number"] is not None:
        return SMS
    if not reply and contact["email"] is not None:
        return "email"
    return (contact["source"] or FALLBACK_CHANNEL).lower()


@writes
def write_message(tx: WriteTransaction, account_id: int, text: str, *, user_id: int | None,
                  channel: str | None) -> Written:
    """What the person sent (`user_id` None: direction 'in', received, unread), or the reply of the
    platform user `user_id` (an SMS to an account with a phone, due now; on any other channel
    pending for that channel's integration). Raises AccountNotFound, or BadRequest naming
    `userId` (no such platform user) or `channel` (an SMS to an account without a phone)."""
    contact = contacts.get(tx, account_id) if messages.is_account(tx, account_id) else None
    if contact is None:
        raise AccountNotFound(account_id)
    channel = channel or default_channel(contact, reply=user_id is not None)
    if user_id is None:
        return Written(messages.record_incoming(tx, account_id, channel, text), channel, False)
    if platform_users.get(tx, user_id) is None:
        raise BadRequest.field("userId", f"Platform user {user_id} not found.")
    if channel == SMS and contact["phone_number"] is None:
        raise BadRequest.field("channel", f"Account {account_id} has no phone number to send an SMS to.")
    sent_by_herald = channel == SMS
    message_id = messages.record_reply(tx, account_id, channel, text, sender=platform_users.sender_of(user_id),
                                       sent_by_herald=sent_by_herald)
    return Written(message_id, channel, sent_by_herald)


@writes
def mark_read(tx: WriteTransaction, account_id: int, ids: list[int] | None) -> int:
    """Mark the account's incoming messages among `ids` (all, if None) read; how many were unread.
    Raises AccountNotFound."""
    if not messages.is_account(tx, account_id):
        raise AccountNotFound(account_id)
    return messages.mark_read(tx, account_id, ids)

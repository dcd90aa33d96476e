"""What changing a contact does, for every way of changing one (the CRM's API, the admin UI):
the write, a log line with its id, and the SMS engine told, as a tag may bring the contact into a
running mailing (or out of one) and an SMS reply is due at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from jobs.delivery import DeliveryEngine
from jobs.sms_channel import SmsChannel
from storage import account_history
from storage.db import Database

log = logging.getLogger("herald.contacts")


async def change_tags(db: Database, engine: DeliveryEngine[SmsChannel], contact_id: int,
                      change: Callable[..., Awaitable[bool]], tags: Iterable[str]) -> bool:
    """`change` (contacts.add_tags, remove_tags or set_tags) applied; False if there is no such
    live contact."""
    if not await change(db, contact_id, tags):
        return False
    log.info("tags changed", extra={"contact_id": contact_id})
    engine.wake()
    return True


async def write_message(db: Database, engine: DeliveryEngine[SmsChannel], contact_id: int, text: str, *,
                        user_id: int | None, channel: str | None) -> account_history.Written:
    """A message into the contact's history (account_history.write_message); an SMS reply goes out."""
    result = await account_history.write_message(db, contact_id, text, user_id=user_id, channel=channel)
    kind = "reply" if user_id is not None else "incoming message"
    log.info("%s written into the history", kind,
             extra={"contact_id": contact_id, "message_id": result.message_id, "channel": result.channel})
    if result.sent_by_herald:
        engine.wake()
    return result

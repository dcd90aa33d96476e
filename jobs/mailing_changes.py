"""What changing a mailing does, for every way of changing one (the /Mailing/ API, the admin UI):
the write, then the SMS engine told, so that what is not yet sent follows at once.

Each takes the fields `MailingIn` validated (handlers/notification_schemas.py), so both ways
refuse the same input with the same messages.
"""

from __future__ import annotations

import logging
from typing import Any

from jobs.delivery import DeliveryEngine
from jobs.sms_channel import SmsChannel
from server.timeutil import utc_now
from storage import mailings, messages
from storage.db import Database

log = logging.getLogger("herald.mailings")


async def create(db: Database, engine: DeliveryEngine[SmsChannel], fields: dict[str, Any]) -> dict[str, Any]:
    created = await mailings.create_mailing(db, fields)
    log.info("mailing created", extra={"mailing_id": created["id"]})
    engine.wake()
    return created


async def update(db: Database, engine: DeliveryEngine[SmsChannel], mailing_id: int,
                 fields: dict[str, Any]) -> dict[str, Any] | None:
    """The mailing replaced by `fields`; None if there is none."""
    updated = await mailings.update_mailing(db, mailing_id, fields)
    if updated is None:
        return None
    log.info("mailing changed", extra={"mailing_id": mailing_id})
    await engine.channel.mailing_changed(mailing_id)
    engine.wake()
    return updated


async def delete(db: Database, engine: DeliveryEngine[SmsChannel], mailing_id: int) -> bool:
    """Delete it (what is unsent is cancelled); False if there is none."""
    if not await mailings.delete_mailing(db, mailing_id):
        return False
    log.info("mailing deleted", extra={"mailing_id": mailing_id})
    await engine.channel.mailing_changed(mailing_id)
    engine.wake()
    return True


async def retry_failed(db: Database, engine: DeliveryEngine[SmsChannel], mailing_id: int) -> int:
    """The mailing's failed messages pending again, with their attempts anew; how many. Only
    while it runs or is due: after its end they would only expire."""
    count = await messages.retry_failed(db, mailing_id, utc_now())
    if count:
        log.info("%d failed messages to be tried again", count, extra={"mailing_id": mailing_id})
        engine.wake()
    return count

"""The resources Herald opens from its settings, each an async context manager that closes what it
opened: the database, the email sender, the price source, the passport email lookup, the SMS
transport, the PBX client.

The server's cleanup contexts (server/app.py) and the management commands (jobs/commands.py) both
open them here, so a command talks to the database, the SMTP server and the price index exactly as
the server does. What runs on top of them (engines, schedules) is the caller's business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.gateways.email import EmailSender
from server.gateways.mango import MangoClient
from server.gateways.passport_email import PassportEmailLookup, make_passport_email_lookup
from server.gateways.price_index import PriceSource, make_price_source
from server.gateways.sms import SmsTransport, make_transport
from server.settings import Settings
from storage.db import Database


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.storage.path)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def email_sender(settings: Settings) -> AsyncIterator[EmailSender]:
    sender = EmailSender(settings.smtp)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


@asynccontextmanager
async def price_source(settings: Settings) -> AsyncIterator[PriceSource]:
    source = make_price_source(settings.subscriptions)
    try:
        yield source
    finally:
        await source.close()


@asynccontextmanager
async def passport_email_lookup(settings: Settings) -> AsyncIterator[PassportEmailLookup | None]:
    """The lookup, or None when `subscriptions.passport_email_url` is not set."""
    lookup = make_passport_email_lookup(settings.subscriptions)
    try:
        yield lookup
    finally:
        if lookup is not None:
            await lookup.close()


@asynccontextmanager
async def sms_transport(settings: Settings, mango: MangoClient) -> AsyncIterator[SmsTransport]:
    """The mailings' SMS transport (`mango`: through the app's PBX client)."""
    transport = make_transport(settings.notifications, mango, settings.telephony)
    try:
        yield transport
    finally:
        await transport.close()


@asynccontextmanager
async def mango_client(settings: Settings) -> AsyncIterator[MangoClient]:
    client = MangoClient(settings.telephony)
    try:
        yield client
    finally:
        await client.close()

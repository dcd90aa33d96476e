"""`create_app(settings)`: the whole server, read top to bottom.

Each long-lived resource is opened in a cleanup context (through server/resources.py, as the
management commands open them too) and closed in reverse order: the database, the scheduler, the
email sender (and the daily report it sends), the email delivery engine, the price source, the
passport email lookup and the subscription jobs, the PBX client, the SMS transport and the SMS
delivery engine.
The routes are the API families' (each declared by its handlers module, with its paths, auth,
error envelope and pagination): `create_app` only collects them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import aiohttp_jinja2
from aiohttp import web

from handlers import (admin, admin_subscriptions, chatbot, crm, mango_webhooks, notifications, subscriptions, system,
                      telephony)
from jobs.email_channel import email_engine
from jobs.report import schedule_daily_report
from jobs.scheduler import make_scheduler, schedule_recurring
from jobs.sms_channel import sms_engine
from jobs.subscription_schedule import subscription_jobs
from server import resources
from server.families import Family, FamilyTable
from server.keys import (ADMIN_THROTTLE, DB, DISPATCHER, EMAIL, FAMILY_TABLE, MANGO, METRICS, OUTBOX, SCHEDULER,
                         SETTINGS, TOKENS)
from server.login_throttle import LoginThrottle
from server.metrics import Metrics
from server.middlewares import authenticate, errors, request_log
from server.settings import Settings
from server.templating import FILTERS, options
from storage.tokens import TokenChecker


FAMILIES: tuple[Family, ...] = (notifications.FAMILY, subscriptions.FAMILY, chatbot.FAMILY, crm.FAMILY, telephony.FAMILY,
                                mango_webhooks.FAMILY, admin.FAMILY, system.FAMILY)


async def database(app: web.Application) -> AsyncIterator[None]:
    async with resources.database(app[SETTINGS]) as db:
        app[DB] = db
        app[TOKENS] = TokenChecker(db, app[SETTINGS].auth.api_tokens)
        yield


async def scheduler(app: web.Application) -> AsyncIterator[None]:
    app[SCHEDULER] = make_scheduler()
    app[SCHEDULER].start()
    yield
    app[SCHEDULER].shutdown(wait=False)


async def email(app: web.Application) -> AsyncIterator[None]:
    async with resources.email_sender(app[SETTINGS]) as sender:
        app[EMAIL] = sender
        schedule_daily_report(app[SCHEDULER], app[DB], sender, app[SETTINGS].reports)
        yield


async def outbox(app: web.Application) -> AsyncIterator[None]:
    app[OUTBOX] = email_engine(app[DB], app[EMAIL], app[SETTINGS].email, app[SCHEDULER])
    await app[OUTBOX].start()
    yield
    await app[OUTBOX].stop()


async def subscription_schedule(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with resources.price_source(settings) as source, \
            resources.passport_email_lookup(settings) as passport_emails:
        jobs = subscription_jobs(app[DB], source, app[OUTBOX], settings.subscriptions, settings.server.public_url,
                                 passport_emails)
        catching_up = await schedule_recurring(app[SCHEDULER], app[DB], jobs, settings.subscriptions.schedule_timezone)
        yield
        for task in catching_up:
            task.cancel()
        await asyncio.gather(*catching_up, return_exceptions=True)


async def pbx(app: web.Application) -> AsyncIterator[None]:
    async with resources.mango_client(app[SETTINGS]) as client:
        app[MANGO] = client
        yield


async def dispatcher(app: web.Application) -> AsyncIterator[None]:
    async with resources.sms_transport(app[SETTINGS], app[MANGO]) as transport:
        app[DISPATCHER] = sms_engine(app[DB], app[SETTINGS].notifications, transport, app[SCHEDULER])
        await app[DISPATCHER].start()
        yield
        await app[DISPATCHER].stop()


def create_app(settings: Settings, families: Sequence[Family] = FAMILIES) -> web.Application:
    """The app serving `families` (unknown paths go to the system family); raises FamilyConflict
    when two families claim one path or prefix."""
    app = web.Application(middlewares=[request_log, errors, authenticate])  # bodies: aiohttp's 1 MiB, unless a route reads more
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[FAMILY_TABLE] = FamilyTable(families, fallback=system.FAMILY)
    app[ADMIN_THROTTLE] = LoginThrottle()
    aiohttp_jinja2.setup(app, filters=FILTERS, **options())
    app.cleanup_ctx.extend([database, scheduler, email, outbox, subscription_schedule, admin_subscriptions.runs, pbx,
                            dispatcher])
    for family in app[FAMILY_TABLE].families:
        app.add_routes(family.routes)
    return app

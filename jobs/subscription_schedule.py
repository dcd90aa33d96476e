"""The subscription jobs the server runs on its own: price updates, preheating and price emails,
each on its crontab line from `subscriptions.*`, under the lease of jobs.scheduler."""

from __future__ import annotations

from jobs.delivery import DeliveryEngine
from jobs.price_emails import send_emails
from jobs.price_updates import preheat_subscriptions, update_subscriptions
from jobs.scheduler import RecurringJob
from server.gateways.passport_email import PassportEmailLookup
from server.gateways.price_index import PriceSource
from server.settings import SubscriptionSettings
from storage.db import Database


def subscription_jobs(
    db: Database, source: PriceSource, outbox: DeliveryEngine, settings: SubscriptionSettings, public_url: str,
    passport_emails: PassportEmailLookup | None = None,
) -> list[RecurringJob]:
    return [
        RecurringJob("update_subscriptions", settings.update_schedule, lambda: update_subscriptions(db, source)),
        RecurringJob("preheat_subscriptions", settings.preheat_schedule, lambda: preheat_subscriptions(db, source)),
        RecurringJob("send_emails", settings.send_schedule,
                     lambda: send_emails(db, outbox, public_url=public_url, passport_emails=passport_emails)),
    ]

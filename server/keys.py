"""Typed application state: every long-lived object the app holds, under a `web.AppKey`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.metrics import Metrics
from server.settings import Settings
from storage.db import Database
from storage.tokens import TokenChecker

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from jobs.delivery import DeliveryEngine
    from jobs.email_channel import EmailChannel
    from jobs.sms_channel import SmsChannel
    from server.login_throttle import LoginThrottle
    from server.families import FamilyTable
    from server.gateways.email import EmailSender
    from server.gateways.mango import MangoClient

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
TOKENS = web.AppKey("tokens", TokenChecker)
FAMILY_TABLE = web.AppKey("family_table", "FamilyTable")
METRICS = web.AppKey("metrics", Metrics)
SCHEDULER = web.AppKey("scheduler", "AsyncIOScheduler")
DISPATCHER = web.AppKey("dispatcher", "DeliveryEngine[SmsChannel]")  # the SMS delivery engine
EMAIL = web.AppKey("email", "EmailSender")
OUTBOX = web.AppKey("outbox", "DeliveryEngine[EmailChannel]")  # the email delivery engine
MANGO = web.AppKey("mango", "MangoClient")  # the PBX's API client (telephony)
ADMIN_THROTTLE = web.AppKey("admin_throttle", "LoginThrottle")  # wrong admin passwords per name

"""The management commands of `python main.py <command>`: each opens what it needs, runs one job
and closes everything again, also when interrupted (Ctrl-C). Long ones show a progress bar.

The recurring ones run under the same database lease as the server's scheduled runs, so a command
started by hand never overlaps the server's run of the same job; re-running an interrupted one is
safe (price upserts are idempotent, emails are unique per change).
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from tqdm import tqdm

from jobs.delivery import DeliveryEngine
from jobs.email_channel import EmailChannel, email_engine
from jobs.price_emails import send_emails
from jobs.price_updates import PriceCommandError, preheat_subscriptions, set_test_min_prices, update_subscriptions
from jobs.report import send_daily_report
from jobs.scheduler import run_exclusively
from server import passwords, resources
from server.gateways.email import EmailError, EmailSender
from server.gateways.passport_email import PassportEmailLookup
from server.gateways.price_index import PriceSource
from server.settings import Settings
from storage import admins
from storage.db import Database
from storage.tokens import (PREFIX_LENGTH, AmbiguousToken, NoSuchToken, StoredToken, TokenError, create_token,
                            list_tokens, revoke_token)


@dataclass
class Tools:
    db: Database
    settings: Settings
    sender: EmailSender | None = None
    source: PriceSource | None = None
    passport_emails: PassportEmailLookup | None = None

    @property
    def outbox(self) -> DeliveryEngine[EmailChannel]:
        # Not started: the server's engine owns crash recovery; this one only delivers what is due.
        return email_engine(self.db, self.sender, self.settings.email)


@asynccontextmanager
async def tools(settings: Settings, *, email: bool = False, prices: bool = False) -> AsyncIterator[Tools]:
    """What a command needs, opened as the server opens it (server/resources.py)."""
    async with AsyncExitStack() as stack:
        opened = Tools(await stack.enter_async_context(resources.database(settings)), settings)
        if email:
            opened.sender = await stack.enter_async_context(resources.email_sender(settings))
            opened.passport_emails = await stack.enter_async_context(resources.passport_email_lookup(settings))
        if prices:
            opened.source = await stack.enter_async_context(resources.price_source(settings))
        yield opened


class Bar:
    """A tqdm bar that takes both kinds of progress report: progress(done, total) calls and
    reset(total)/update(n)."""

    def __init__(self, what: str) -> None:
        self._bar = tqdm(desc=what, unit=" " + what, file=sys.stderr, dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)

    def reset(self, total: int | None = None) -> None:
        self._bar.reset(total=total)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


async def _exclusive(db: Database, job: str, run: Callable[[], Awaitable[object]]) -> int:
    result: list[object] = []

    async def keep() -> None:
        result.append(await run())

    if not await run_exclusively(db, job, keep):
        print(f"{job} is already running (in the server or another command); not started again", file=sys.stderr)
        return 1
    print(f"{job}: {result[0]}")
    return 0


async def cmd_create_token(settings: Settings, name: str) -> int:
    async with tools(settings) as t:
        try:
            print(await create_token(t.db, name))
        except TokenError as exc:
            print(f"herald: token not created: {exc}", file=sys.stderr)
            return 2
    return 0


def _describe(token: StoredToken) -> str:
    return f"{token.name!r} ({f'prefix {token.prefix}' if token.prefix else 'no prefix'}, made {token.created_at})"


async def cmd_list_tokens(settings: Settings) -> int:
    async with tools(settings) as t:
        tokens = await list_tokens(t.db)
    if tokens:
        rows = [("NAME", "PREFIX", "CREATED_AT")] + [(x.name, x.prefix or "-", x.created_at) for x in tokens]
        width = max(len(name) for name, _, _ in rows)
        for name, prefix, created_at in rows:
            print(f"{name:<{width}}  {prefix:<{PREFIX_LENGTH}}  {created_at}")
    else:
        print("no tokens yet: make one with python main.py create_token NAME")
    if settings.auth.api_tokens:
        print(f"(and {len(settings.auth.api_tokens)} static token(s) from auth.api_tokens)")
    return 0


async def cmd_revoke_token(settings: Settings, wanted: str) -> int:
    async with tools(settings) as t:
        try:
            token = await revoke_token(t.db, wanted)
        except NoSuchToken as exc:
            print(f"herald: nothing revoked: {exc} (list_tokens shows them)", file=sys.stderr)
            return 1
        except AmbiguousToken as exc:
            print(f"herald: nothing revoked: {exc}:", file=sys.stderr)
            for candidate in exc.candidates:
                print(f"  {_describe(candidate)}", file=sys.stderr)
            return 2
    print(f"revoked token {_describe(token)}; it is refused from now on")
    return 0


PASSWORD_VARIABLE = "HERALD_ADMIN_PASSWORD"


def _new_password() -> str | None:
    """From HERALD_ADMIN_PASSWORD (scripts), else asked twice at the terminal; None after a
    problem, which is printed."""
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None:
        if not sys.stdin.isatty():
            print(f"herald: no terminal to ask the password at; set {PASSWORD_VARIABLE}", file=sys.stderr)
            return None
        password = getpass.getpass("Password: ")
        if getpass.getpass("The same password again: ") != password:
            print("herald: the two passwords differ; nothing changed", file=sys.stderr)
            return None
    if (problem := passwords.problem_with(password)) is not None:
        print(f"herald: {problem}; nothing changed", file=sys.stderr)
        return None
    return password


async def cmd_create_admin(settings: Settings, name: str, *, reset: bool = False) -> int:
    """An operator of the web UI (`reset`: a new password for one, ending its sessions)."""
    try:
        admins.check_name(name)
    except admins.AdminError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    password = _new_password()
    if password is None:
        return 2
    password_hash = passwords.hash_password(password)
    async with tools(settings) as t:
        try:
            if reset:
                await admins.reset_password(t.db, name, password_hash)
            else:
                await admins.create_admin(t.db, name, password_hash)
        except admins.AdminError as exc:
            print(f"herald: {exc}", file=sys.stderr)
            return 1
    if reset:
        print(f"new password set for operator {name!r}; their sessions have ended")
    else:
        print(f"operator {name!r} created; log in at {settings.server.public_url}/admin/")
    return 0


async def cmd_send_daily_report(settings: Settings) -> int:
    if not settings.reports.daily_stats_to:
        print("daily report not sent: no recipients configured (reports.daily_stats_to)")
        return 0
    async with tools(settings, email=True) as t:
        try:
            recipients = await send_daily_report(t.db, t.sender, settings.reports)
        except EmailError as exc:
            print(f"herald: daily report not sent: {exc}", file=sys.stderr)
            return 1
    print(f"daily report sent to {recipients} recipient(s)")
    return 0


async def cmd_update_subscriptions(settings: Settings, *, preheat: bool = False) -> int:
    job, update = ("preheat_subscriptions", preheat_subscriptions) if preheat else \
        ("update_subscriptions", update_subscriptions)
    async with tools(settings, prices=True) as t:
        bar = Bar("directions")
        try:
            return await _exclusive(t.db, job, lambda: update(t.db, t.source, progress=bar))
        finally:
            bar.close()


async def cmd_send_emails(settings: Settings, only_email: str | None = None) -> int:
    async with tools(settings, email=True) as t:
        bar = Bar("emails")
        try:
            run = lambda: send_emails(t.db, t.outbox, public_url=settings.server.public_url,  # noqa: E731
                                      only_email=only_email, progress=bar, passport_emails=t.passport_emails)
            if only_email is not None:
                print(f"send_email_to: {await run()}")
                return 0
            return await _exclusive(t.db, "send_emails", run)
        finally:
            bar.close()


async def cmd_set_test_min_price(settings: Settings, qkey: str, *, filtered: bool) -> int:
    async with tools(settings) as t:
        try:
            changed = await set_test_min_prices(t.db, qkey, filtered=filtered,
                                                production=settings.subscriptions.production)
        except PriceCommandError as exc:
            print(f"herald: {exc}", file=sys.stderr)
            return 2
    for price in changed:
        print(f"{price.day} {price.qkey} filter={price.filter or '-'}: {price.price:.2f} {price.currency}")
    return 0

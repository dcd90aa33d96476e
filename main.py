"""Herald's entry point: parse the command line, load settings, then serve (the default) or run
one management command.

    python main.py [--config FILE]                  serve on server.host:server.port
    python main.py [--config FILE] create_token NAME
    python main.py [--config FILE] send_daily_report
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvloop
from aiohttp import web

from jobs.report import send_daily_report
from server.app import create_app
from server.gateways.email import EmailError, EmailSender
from server.logs import setup_logging
from server.settings import Settings, SettingsError, config_path, load_settings
from storage.db import Database
from storage.tokens import create_token


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="Herald customer-messaging server")
    parser.add_argument("--config", help="settings file (default: $HERALD_CONFIG or ./config.toml)")
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("serve", help="run the server (the default)")
    token = commands.add_parser("create_token", help="make an API token and print it once")
    token.add_argument("name", help="who or what the token is for")
    commands.add_parser("send_daily_report", help="email the last day's mailing report now")
    return parser.parse_args(argv)


async def run_create_token(settings: Settings, name: str) -> None:
    db = Database(settings.storage.path)
    await db.open()
    try:
        print(await create_token(db, name))
    finally:
        await db.close()


async def run_send_daily_report(settings: Settings) -> int:
    db, sender = Database(settings.storage.path), EmailSender(settings.smtp)
    await db.open()
    await sender.start()
    try:
        recipients = await send_daily_report(db, sender, settings.reports)
    except EmailError as exc:
        print(f"herald: daily report not sent: {exc}", file=sys.stderr)
        return 1
    finally:
        await sender.close()
        await db.close()
    print(f"daily report sent to {recipients} recipient(s)")
    return 0 if recipients else 1


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(config_path(args.config))
    except SettingsError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log)
    if args.command == "create_token":
        asyncio.run(run_create_token(settings, args.name))
    elif args.command == "send_daily_report":
        return asyncio.run(run_send_daily_report(settings))
    else:
        web.run_app(create_app(settings), host=settings.server.host, port=settings.server.port,
                    access_log=None, print=None, loop=uvloop.new_event_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

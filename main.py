"""Herald's entry point: parse the command line, load settings, then serve (the default) or run
one management command (jobs/commands.py).

    python main.py [--config FILE]                         serve on server.host:server.port
    python main.py [--config FILE] create_token NAME | list_tokens | revoke_token NAME_OR_PREFIX
    python main.py [--config FILE] create_admin NAME [--reset]
    python main.py [--config FILE] send_daily_report
    python main.py [--config FILE] update_subscriptions | preheat_subscriptions
    python main.py [--config FILE] send_emails | send_email_to EMAIL
    python main.py [--config FILE] set_test_min_price_for_direction QKEY
    python main.py [--config FILE] set_test_min_price_for_filtered_direction QKEY
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from jobs import commands
from server import serving
from server.logs import setup_logging
from server.settings import Settings, SettingsError, config_path, load_settings, warn_deprecated


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="Herald customer-messaging server")
    parser.add_argument("--config", help="settings file (default: $HERALD_CONFIG or ./config.toml)")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("serve", help="run the server (the default)")
    sub.add_parser("create_token", help="make an API token and print it once").add_argument("name")
    sub.add_parser("list_tokens", help="the tokens made by create_token: name, prefix, when")
    sub.add_parser("revoke_token", help="revoke a token made by create_token").add_argument(
        "name_or_prefix", metavar="NAME_OR_PREFIX")
    admin = sub.add_parser("create_admin", help="make an operator of the web UI at /admin/ (asks for the password)")
    admin.add_argument("name")
    admin.add_argument("--reset", action="store_true", help="set a new password for an existing operator")
    sub.add_parser("send_daily_report", help="email the last day's mailing report now")
    sub.add_parser("update_subscriptions", help="refresh the minimum price of every subscribed direction")
    sub.add_parser("preheat_subscriptions", help="first prices for subscriptions of the last day that have none")
    sub.add_parser("send_emails", help="email every subscriber whose direction's price changed")
    sub.add_parser("send_email_to", help="the same, for one address only").add_argument("email")
    sub.add_parser("set_test_min_price_for_direction",
                   help="random prices for yesterday and today of a direction (not in production)").add_argument("qkey")
    sub.add_parser("set_test_min_price_for_filtered_direction",
                   help="the same, for the filtered subscriptions of a direction").add_argument("qkey")
    return parser.parse_args(argv)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    match args.command:
        case "create_token":
            job = commands.cmd_create_token(settings, args.name)
        case "list_tokens":
            job = commands.cmd_list_tokens(settings)
        case "revoke_token":
            job = commands.cmd_revoke_token(settings, args.name_or_prefix)
        case "create_admin":
            job = commands.cmd_create_admin(settings, args.name, reset=args.reset)
        case "send_daily_report":
            job = commands.cmd_send_daily_report(settings)
        case "update_subscriptions" | "preheat_subscriptions":
            job = commands.cmd_update_subscriptions(settings, preheat=args.command == "preheat_subscriptions")
        case "send_emails":
            job = commands.cmd_send_emails(settings)
        case "send_email_to":
            job = commands.cmd_send_emails(settings, only_email=args.email)
        case "set_test_min_price_for_direction" | "set_test_min_price_for_filtered_direction":
            job = commands.cmd_set_test_min_price(settings, args.qkey, filtered="filtered" in args.command)
    try:
        return asyncio.run(job)
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted; running it again carries on safely", file=sys.stderr)
        return 130


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(config_path(args.config))
    except SettingsError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log)
    warn_deprecated(settings)
    if args.command not in (None, "serve"):
        return run_command(args, settings)
    return serving.serve(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

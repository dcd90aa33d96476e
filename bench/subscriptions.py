"""Subscriptions throughput: price directions updated per second, and price emails per second.

Builds a fresh SQLite file with N subscriptions (default 100,000) over M directions (default
10,000, every tenth with a filter, all in the future), starts a fast price index
(bench/price_index_server.py) in its own process, and runs `update_subscriptions` against it
through the real HTTP client. Prints directions per second, the requests made and the total time;
then emails per second from bench/subscription_emails.py's `measure_emails()` if that file exists.
Target on a 2-core host: 2,000 directions/s.

    python bench/subscriptions.py [--subscriptions 100000] [--directions 10000]
                                  [--batch-size 100] [--concurrency 4] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.price_updates import UpdateSummary, update_subscriptions  # noqa: E402
from server.gateways.price_index import HttpPriceSource  # noqa: E402
from server.settings import SubscriptionSettings  # noqa: E402
from bench.common import ROOT, migrate, start_listener  # noqa: E402
from storage.db import Database  # noqa: E402

TOKEN = "bench-price-index-token"
CREATED = "2026-01-01T00:00:00.000Z"
DEFAULTS = SubscriptionSettings()


def populate(path: Path, subscriptions: int, directions: int) -> None:
    """Set-up only, in plain set-based SQL: directions, then one subscriber per subscription."""
    migrate(path)
    first_day = date.today() + timedelta(days=30)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
        "INSERT INTO directions (id, qkey, date_range, filter, created_at) "
        "SELECT i, 'c' || (1000 + i) || '_c2_' || date(:first_day, '+' || (i % 200) || ' days')"
        " || '_None_economy_1_0_0_ru', i % 3, CASE WHEN i % 10 = 0 THEN '{\"withBaggage\":true}' ELSE '' END,"
        " :created FROM n",
        {"count": directions, "first_day": first_day.isoformat(), "created": CREATED},
    )
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
        "INSERT INTO contacts (id, email, created_at, updated_at) "
        "SELECT i, 'user' || i || '@example.com', :created, :created FROM n",
        {"count": subscriptions, "created": CREATED},
    )
    conn.execute(
        "INSERT INTO subscribers (id, contact_id, email, confirmed_at, created_at, updated_at) "
        "SELECT printf('00000000-0000-4000-8000-%012d', id), id, email, :created, :created, :created FROM contacts",
        {"created": CREATED},
    )
    conn.execute(
        "INSERT INTO subscriptions (subscriber_id, direction_id, qkey, date_range, filter, created_at, updated_at) "
        "SELECT s.id, d.id, d.qkey, d.date_range, nullif(d.filter, ''), :created, :created "
        "FROM subscribers s JOIN directions d ON d.id = (s.contact_id - 1) % :directions + 1",
        {"directions": directions, "created": CREATED},
    )
    conn.execute("COMMIT")
    conn.close()




def start_index() -> tuple[subprocess.Popen, int]:
    return start_listener("price_index_server.py", "--token", TOKEN)


async def run_update(db_path: Path, port: int, args) -> UpdateSummary:
    settings = SubscriptionSettings(
        price_index="http", price_index_url=f"http://127.0.0.1:{port}", price_index_token=TOKEN,
        price_index_batch_size=args.batch_size, price_index_concurrency=args.concurrency,
    )
    db, source = Database(db_path), HttpPriceSource(settings)
    await db.open()
    try:
        return await update_subscriptions(db, source)
    finally:
        await source.close()
        await db.close()


def stored_prices(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM direction_prices").fetchone()[0]
    finally:
        conn.close()


def measure_emails() -> dict | None:
    """bench/subscription_emails.py's figure, or None while that file does not exist."""
    path = ROOT / "bench" / "subscription_emails.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("subscription_emails", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.measure_emails()


def report(args, summary: UpdateSummary, stored: int, setup_seconds: float) -> None:
    print(f"subscriptions:       {args.subscriptions:,} over {args.directions:,} directions "
          f"(set-up {setup_seconds:.1f} s)")
    print(f"price index:         batch {args.batch_size}, concurrency {args.concurrency}, "
          f"{summary.requests} requests, {summary.failed_batches} failed")
    print(f"directions updated:  {summary.directions:,} asked, {summary.stored:,} stored "
          f"({stored:,} rows) in {summary.seconds:.2f} s")
    print(f"directions/s:        {summary.per_second:,.0f} (target 2,000)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--directions", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.price_index_batch_size)
    parser.add_argument("--concurrency", type=int, default=DEFAULTS.price_index_concurrency)
    parser.add_argument("--profile", help="profile the update run and write its stats here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        db_path = Path(tmp) / "herald.db"
        started = time.perf_counter()
        populate(db_path, args.subscriptions, args.directions)
        setup_seconds = time.perf_counter() - started
        index, port = start_index()
        try:
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            summary = asyncio.run(run_update(db_path, port, args))
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
        finally:
            index.terminate()
            index.wait(10)
        report(args, summary, stored_prices(db_path), setup_seconds)
        if args.profile:
            pstats.Stats(args.profile).sort_stats("tottime").print_stats(20)
    emails = measure_emails()
    if emails is None:
        print("emails: not measured (bench/subscription_emails.py missing)")
    else:
        print(f"emails:              {emails['emails']:,} in {emails['seconds']:.2f} s, "
              f"{emails['per_second']:,.0f} emails/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

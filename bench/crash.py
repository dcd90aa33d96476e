"""Resends after a crash: kill -9 the server mid-mailing, start it again, count msgIds sent twice.

Each round builds a fresh SQLite file with N clients (default 10,000), starts a fast provider
(bench/provider_server.py) and Herald (`main.py`, transport `http`) each in its own process,
creates one mailing for everyone, and SIGKILLs the server once the provider has accepted a share
of the messages (default 40%). It then starts the server again on the same file, lets it finish
the mailing and stops it. A message the provider accepted whose `sent` was not yet recorded when
the server died is sent again with the same msgId: that is what this counts.
Prints per round: what the provider had accepted at the kill and what the database had recorded
as sent, the messages `sending` at the kill, the msgIds the provider got more than once, and the
requests per message over the whole mailing.

    python bench/crash.py [--clients 10000] [--rounds 5] [--kill-at 0.4] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, wait_until_up  # noqa: E402
from bench.dispatch import AUTH, populate, start_provider, start_server  # noqa: E402

FINISH_SECONDS = 120


def statuses(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    counts = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())
    conn.close()
    return counts


async def counts(http: aiohttp.ClientSession, provider_port: int) -> dict[str, int]:
    async with http.get(f"http://127.0.0.1:{provider_port}/counts") as response:
        return await response.json()


async def one_round(args, workdir: Path, provider_port: int) -> dict:
    db_path = workdir / "herald.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (workdir / "first").mkdir()
    (workdir / "second").mkdir()
    server = start_server(workdir / "first", db_path, port, provider_port, args)
    seen: dict = {}
    async with aiohttp.ClientSession() as http:
        try:
            await wait_until_up(base)
            now = datetime.now(timezone.utc)
            mailing = {"datetime_start": now.isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
                       "message_text": "Crash benchmark: hello from Herald"}
            async with http.post(f"{base}/Mailing/", json=mailing, headers=AUTH) as response:
                assert response.status == 201, await response.text()
            while (await counts(http, provider_port))["accepted"] < args.kill_at * args.clients:
                await asyncio.sleep(0.005)
            server.send_signal(signal.SIGKILL)
            server.wait()
            await asyncio.sleep(0.5)  # requests already at the provider finish there
            seen["at_kill"] = await counts(http, provider_port)
            seen["db_at_kill"] = statuses(db_path)
        finally:
            if server.poll() is None:
                server.kill()
        server = start_server(workdir / "second", db_path, port, provider_port, args)
        try:
            await wait_until_up(base)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + FINISH_SECONDS
            while statuses(db_path).get("sent", 0) < args.clients:
                if loop.time() > deadline:
                    raise SystemExit(f"not finished after the restart: {statuses(db_path)}")
                await asyncio.sleep(0.1)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
        seen["final"] = await counts(http, provider_port)
        seen["db_final"] = statuses(db_path)
    return seen


def report_round(n: int, clients: int, seen: dict) -> None:
    accepted, recorded = seen["at_kill"]["distinct"], seen["db_at_kill"].get("sent", 0)
    final = seen["final"]
    print(f"round {n}: at the kill the provider had accepted {accepted:,}, the database had {recorded:,} sent "
          f"and {seen['db_at_kill'].get('sending', 0):,} sending; after the restart "
          f"{final['repeated']:,} msgIds were received more than once; "
          f"{final['accepted']:,} requests for {clients:,} messages ({final['distinct']:,} distinct)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of messages accepted before the kill")
    parser.add_argument("--concurrency", type=int, default=50, help="notifications.concurrency")
    args = parser.parse_args(argv)
    args.profile = None
    repeated = []
    for n in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="herald-crash-") as tmp:
            populate(Path(tmp) / "herald.db", args.clients)
            provider, provider_port = start_provider()
            try:
                seen = asyncio.run(one_round(args, Path(tmp), provider_port))
            finally:
                provider.send_signal(signal.SIGTERM)
                provider.wait(10)
        report_round(n, args.clients, seen)
        repeated.append(seen["final"]["repeated"])
    print(f"msgIds sent twice per kill -9: min {min(repeated)}, max {max(repeated)}, "
          f"mean {sum(repeated) / len(repeated):.1f} ({args.clients:,} messages, concurrency {args.concurrency})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

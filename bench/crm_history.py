"""CRM history throughput and latency: requests/s and p99 of an account's chat-messages, its first
page and its last, at 50 connections (issue 8: 1,500 requests/s, p99 under 50 ms, the last page
as fast as the first).

Builds a database with one account of 10,000 messages (every kind: mailing SMS, chatbot templates,
emails, incoming, replies, state changes, some cancelled) among 1,000 other accounts' 100,000
messages, in SQL before the server starts; starts `main.py` on it in its own process; then loads
it from this process. `run_history(base_url, token, account_id, ...)` is the part bench/crm.py
calls with a server of its own.

    python bench/crm_history.py [--messages 10000] [--seconds 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port, migrate, wait_until_up  # noqa: E402

TOKEN = "bench-token-" + "0" * 28
PAGE = 20
CREATED = "2026-01-01T00:00:00.000Z"


@dataclass(frozen=True)
class Figures:
    name: str
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float

    def __str__(self) -> str:
        return (f"{self.name:<44} {self.per_second:8.0f} req/s   p50 {self.p50_ms:6.1f} ms   p99 {self.p99_ms:6.1f} ms"
                f"   ({self.requests} requests, {self.errors} errors)")


def populate(path: Path, messages: int, others: int = 1000, per_other: int = 100) -> int:
    """The database: account 1 with `messages` messages, and `others` accounts with `per_other`
    each; returns the big account's id."""
    migrate(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO contacts (phone_number, operator_code, name, source, created_at, updated_at) "
        "SELECT '79' || printf('%09d', i), '900', 'Account ' || i, 'SMS', ?, ? FROM n", (others + 1, CREATED, CREATED))
    conn.execute("INSERT INTO platform_users (name, created_at, updated_at) VALUES ('Robert', ?, ?)", (CREATED, CREATED))
    kinds = ("('sms', 'out', 'sent', NULL)", "('chat', 'out', 'pending', 'contact:99999')",
             "('email', 'out', 'sent', NULL)", "('sms', 'in', 'sent', NULL)", "('sms', 'out', 'sent', 'user:1')",
             "('system', 'out', 'sent', NULL)", "('sms', 'out', 'cancelled', NULL)")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1), "
        f"kind(k, channel, direction, status, sender) AS (VALUES {', '.join(f'({k}, ' + v[1:] for k, v in enumerate(kinds))}) "
        "INSERT INTO messages (contact_id, channel, direction, status, sender, body, created_at, sent_at, updated_at) "
        "SELECT 1, channel, direction, status, sender, 'Message ' || i, ?, ?, ? FROM n JOIN kind ON k = i % ?",
        (messages, CREATED, CREATED, CREATED, len(kinds)))
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1) "
        "INSERT INTO messages (contact_id, channel, direction, status, body, created_at, sent_at, updated_at) "
        "SELECT 2 + i % ?, 'sms', 'out', 'sent', 'Sale', ?, ?, ? FROM n",
        (others * per_other, others, CREATED, CREATED, CREATED))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return 1


async def load(base_url: str, token: str, name: str, path: str, seconds: float, connections: int) -> Figures:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base_url, connector=connector, headers={"X-Leeloo-AuthToken": token}) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(path) as response:
                    await response.read()
                    errors += response.status != 200
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return Figures(name, len(latencies), errors, len(latencies) / elapsed, statistics.median(latencies) * 1000,
                   latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000)


async def run_history(base_url: str, token: str, account_id: int = 1, *, connections: int = 50,
                      seconds: float = 10) -> list[Figures]:
    """The first and the last page of the account's chat-messages, each loaded for `seconds`."""
    await wait_until_up(base_url)
    async with aiohttp.ClientSession(base_url, headers={"X-Leeloo-AuthToken": token}) as session:
        async with session.get(f"/api/v1/accounts/{account_id}/chat-messages?limit=1") as response:
            total = (await response.json())["meta"]["totalCount"]
    last = max(0, (total - 1) // PAGE * PAGE)
    figures = []
    for name, offset in (("first page", 0), (f"last page (offset {last})", last)):
        path = f"/api/v1/accounts/{account_id}/chat-messages?limit={PAGE}&offset={offset}"
        figures.append(await load(base_url, token, f"GET chat-messages, {name}", path, seconds, connections))
        print(figures[-1], flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        account = populate(path, args.messages)
        print(f"database: one account of {args.messages} messages among 1,000 others' 100,000 "
              f"({time.perf_counter() - started:.1f} s to build)", flush=True)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
               "HERALD_STORAGE__PATH": str(path), "HERALD_SERVER__PORT": str(port),
               "HERALD_AUTH__API_TOKENS": f'["{TOKEN}"]', "HERALD_SMTP__OUTBOX_DIR": str(Path(folder) / "outbox")}
        with open(Path(folder) / "server.log", "w") as log:
            server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--config", str(Path(folder) / "none.toml")],
                                      env=env, stdout=log, stderr=log)
            try:
                asyncio.run(run_history(f"http://127.0.0.1:{port}", TOKEN, account, connections=args.connections,
                                        seconds=args.seconds))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()

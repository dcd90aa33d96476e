"""CRM throughput and latency: requests/s, p50 and p99 of the accounts list (seed 002).

Builds a database of 100,000 accounts (notification clients with one of ten tags each, a name,
a source and a message each, so that lastMessageTime is read) and 100 chatbot sender profiles
(contacts that are platform users, so not accounts), starts `main.py` on it in its own process,
then loads it from this process with 50 concurrent connections: `GET /api/v1/accounts` without a
filter, with one tag, with two tags, a deep page (offset 99,000), one account's detail with both
includes, and a search `q`. Targets: 1,500 requests/s, p99 under 50 ms for the list.

    python bench/crm.py [--accounts 100000] [--seconds 10] [--connections 50]

An account's history (chat-messages, first and last page of 10,000 messages) is measured by
bench/crm_history.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import load  # noqa: E402
from bench.common import ROOT, free_port, insert_clients, migrate, wait_until_up  # noqa: E402

TOKEN = "bench-token-" + "0" * 28
PROFILES = 100
SOURCES = ("SMS", "FACEBOOK", "TELEGRAM", "EMAIL", "VICTORIABRIDES")


def populate(path: Path, accounts: int) -> None:
    """`accounts` clients (bench/common.py) made CRM accounts, each with one message, plus the
    chatbot's sender profiles, in a few set-based statements."""
    migrate(path)
    insert_clients(path, accounts + PROFILES)
    now = "2026-01-01T00:00:00.000Z"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    cases = " ".join(f"WHEN {n} THEN '{source}'" for n, source in enumerate(SOURCES))
    conn.execute(f"UPDATE contacts SET name = 'Account ' || id, source = CASE id % {len(SOURCES)} {cases} END")
    conn.execute("INSERT INTO platform_users (name, contact_id, created_at, updated_at) "
                 "SELECT 'Profile ' || id, id, ?, ? FROM contacts WHERE id % (? / ?) = 0 LIMIT ?",
                 (now, now, accounts + PROFILES, PROFILES, PROFILES))
    conn.execute("INSERT INTO messages (contact_id, channel, direction, status, body, sender, created_at, "
                 "sent_at, updated_at) SELECT id, 'sms', 'out', 'sent', 'Hello', NULL, ?, ?, ? FROM contacts",
                 (now, now, now))
    conn.execute("COMMIT")
    conn.close()


async def run(base: str, seconds: float, connections: int, pid: int, accounts: int) -> None:
    await wait_until_up(base)
    deep = max(accounts - 1000, 0)
    await load(base, "accounts", lambda s: s.get("/api/v1/accounts"), seconds, connections, pid)
    await load(base, "accounts, tag3", lambda s: s.get("/api/v1/accounts?filter[tags]=tag3"),
               seconds, connections, pid)
    await load(base, "accounts, tag3,tag7", lambda s: s.get("/api/v1/accounts?filter[tags]=tag3,tag7"),
               seconds, connections, pid)
    await load(base, f"accounts, offset {deep}", lambda s: s.get(f"/api/v1/accounts?offset={deep}"),
               seconds, connections, pid)
    await load(base, f"accounts, tag3 offset {deep // 10}",
               lambda s: s.get(f"/api/v1/accounts?filter[tags]=tag3&offset={deep // 10}"), seconds, connections, pid)
    await load(base, "account detail, includes",
               lambda s: s.get("/api/v1/accounts/12345?include=contactedUsers,orders"), seconds, connections, pid)
    await load(base, "accounts, q (a scan)", lambda s: s.get("/api/v1/accounts?q=account 9999"),
               seconds, connections, pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        populate(path, args.accounts)
        print(f"database: {args.accounts} accounts, {PROFILES} sender profiles "
              f"({time.perf_counter() - started:.1f} s to build)", flush=True)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
               "HERALD_STORAGE__PATH": str(path), "HERALD_SERVER__PORT": str(port),
               "HERALD_AUTH__API_TOKENS": f'["{TOKEN}"]', "HERALD_SMTP__OUTBOX_DIR": str(Path(folder) / "outbox")}
        with open(Path(folder) / "server.log", "w") as log:
            server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--config", str(Path(folder) / "none.toml")],
                                      env=env, stdout=log, stderr=log)
            try:
                asyncio.run(run(f"http://127.0.0.1:{port}", args.seconds, args.connections, server.pid, args.accounts))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()

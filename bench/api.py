"""API throughput and latency: requests/s, p50 and p99 for the notification family's hot routes.

Builds a database of 100,000 clients and 1,000,000 messages (10 mailings), starts `main.py` on it
in its own process, then loads it from this process with 50 concurrent connections:
`GET /Clients/?limit=25`, `POST /Clients/` and `GET /Stats/`.
Targets on a 2-core host: 2,000 requests/s for the reads, p99 under 50 ms.

    python bench/api.py [--clients 100000] [--mailings 10] [--seconds 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port, insert_clients, migrate, wait_until_up  # noqa: E402

TOKEN = "bench-token-" + "0" * 28
STATUSES = ("sent", "sent", "sent", "failed", "expired", "cancelled")  # ended mailings: nothing left to do




def populate(path: Path, clients: int, mailings: int) -> None:
    migrate(path)
    insert_clients(path, clients)
    now = "2026-01-01T00:00:00.000Z"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for _ in range(mailings):
        conn.execute(
            "INSERT INTO mailings (datetime_start, datetime_end, message_text, fanned_out_at, created_at, updated_at) "
            "VALUES ('2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z', 'bench', ?, ?, ?)",
            (now, now, now),
        )
    cases = " ".join(f"WHEN {n} THEN '{status}'" for n, status in enumerate(STATUSES))
    conn.execute(
        "INSERT INTO messages (contact_id, mailing_id, channel, status, attempts, created_at, updated_at) "
        f"SELECT c.id, m.id, 'sms', CASE (c.id + m.id) % {len(STATUSES)} {cases} END, 1, ?, ? "
        "FROM mailings m, contacts c",
        (now, now),
    )
    conn.execute("COMMIT")
    conn.close()




def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(base: str, name: str, make_request, seconds: float, connections: int, pid: int) -> None:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base, connector=connector, headers={"Authorization": f"Token {TOKEN}"}) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with make_request(session) as response:
                    await response.read()
                    if response.status >= 400:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began, cpu_before = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
        server_cpu = (cpu_seconds(pid) - cpu_before) / elapsed
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"{name:<24} {len(latencies) / elapsed:8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
          f"   server CPU {server_cpu:4.0%}   ({len(latencies)} requests, {errors} errors)", flush=True)


async def run(base: str, seconds: float, connections: int, pid: int) -> None:
    await wait_until_up(base)
    phones = (f"78{n:09d}" for n in itertools.count())
    await load(base, "GET /Clients/?limit=25", lambda s: s.get("/Clients/?limit=25"), seconds, connections, pid)
    await load(base, "POST /Clients/", lambda s: s.post("/Clients/", json={"phone_number": next(phones), "tag": "new"}),
               seconds, connections, pid)
    await load(base, "GET /Stats/", lambda s: s.get("/Stats/"), seconds, connections, pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--mailings", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        populate(path, args.clients, args.mailings)
        print(f"database: {args.clients} clients, {args.clients * args.mailings} messages "
              f"({time.perf_counter() - started:.1f} s to build)", flush=True)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
               "HERALD_STORAGE__PATH": str(path), "HERALD_SERVER__PORT": str(port),
               "HERALD_AUTH__API_TOKENS": f'["{TOKEN}"]', "HERALD_SMTP__OUTBOX_DIR": str(Path(folder) / "outbox")}
        with open(Path(folder) / "server.log", "w") as log:
            server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--config", str(Path(folder) / "none.toml")],
                                      env=env, stdout=log, stderr=log)
            try:
                asyncio.run(run(f"http://127.0.0.1:{port}", args.seconds, args.connections, server.pid))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()

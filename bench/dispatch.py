"""Dispatch throughput: fan-out time, messages per second and the server's peak memory.

Builds a fresh SQLite file with N clients (default 100,000), starts a fast provider
(bench/provider_server.py) and Herald (`main.py`, transport `http`) each in its own process, creates
one mailing for everyone over the HTTP API and watches /Stats/ until every message is `sent`.
Prints: the fan-out time (mailing created -> all messages exist, and the INSERT ... SELECT alone,
from the engine's log), messages per second from the mailing's start to the last `sent`, the
latency of `GET /Clients/` meanwhile, and the server's peak RSS (VmHWM).
Targets on a 2-core host: fan-out of 100,000 under 2 s, 2,000 messages/s, peak RSS under 150 MB.

    python bench/dispatch.py [--clients 100000] [--concurrency 50] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port, insert_clients, migrate, start_listener, wait_until_up  # noqa: E402

API_TOKEN = "bench-api-token-" + "0" * 24
PROVIDER_TOKEN = "bench-provider-jwt"
AUTH = {"Authorization": f"Token {API_TOKEN}"}
STALL_SECONDS = 30




def populate(path: Path, clients: int) -> None:
    """Set-up only: N clients with a tag each, inserted by one statement."""
    migrate(path)
    insert_clients(path, clients)




def start_provider() -> tuple[subprocess.Popen, int]:
    return start_listener("provider_server.py", "--token", PROVIDER_TOKEN)


def start_server(workdir: Path, db_path: Path, port: int, provider_port: int, args) -> subprocess.Popen:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("HERALD_")},
        "HERALD_CONFIG": str(workdir / "absent.toml"),
        "HERALD_STORAGE__PATH": str(db_path),
        "HERALD_SERVER__PORT": str(port),
        "HERALD_AUTH__API_TOKENS": json.dumps([API_TOKEN]),
        "HERALD_LOG__FORMAT": "json",
        "HERALD_LOG__LEVEL": "INFO",
        "HERALD_NOTIFICATIONS__TRANSPORT": "http",
        "HERALD_NOTIFICATIONS__PROVIDER_URL": f"http://127.0.0.1:{provider_port}/send",
        "HERALD_NOTIFICATIONS__PROVIDER_TOKEN": PROVIDER_TOKEN,
        "HERALD_NOTIFICATIONS__CONCURRENCY": str(args.concurrency),
        "HERALD_SMTP__OUTBOX_DIR": str(workdir / "outbox"),
    }
    command = [sys.executable]
    if args.profile:
        command += ["-m", "cProfile", "-o", args.profile]
    command.append(str(ROOT / "main.py"))
    log = open(workdir / "server.log", "w")
    return subprocess.Popen(command, env=env, stderr=log, stdout=log, cwd=workdir)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, dict]:
    started = time.perf_counter()
    async with session.get(url, headers=AUTH) as response:
        body = await response.json()
    return time.perf_counter() - started, body


async def run_mailing(base: str, clients: int) -> dict:
    """Create the mailing, then poll until all its messages are sent; returns what was seen."""
    seen: dict = {"api_latencies": []}
    async with aiohttp.ClientSession() as session:
        await wait_until_up(base)
        now = datetime.now(timezone.utc)
        mailing = {
            "datetime_start": now.isoformat(),
            "datetime_end": (now + timedelta(hours=1)).isoformat(),
            "message_text": "Benchmark: hello from Herald",
        }
        seen["created"] = time.perf_counter()
        async with session.post(f"{base}/Mailing/", json=mailing, headers=AUTH) as response:
            assert response.status == 201, await response.text()
            mailing_id = (await response.json())["id"]
        progress, progress_at = -1, time.perf_counter()
        while True:
            _, stats = await timed_get(session, f"{base}/Stats/{mailing_id}/?limit=1")
            statuses = {key: value for key, value in stats["statuses"].items() if value}
            if "fanned_out" not in seen and stats["total"] >= clients:
                seen["fanned_out"] = time.perf_counter()
            finished = statuses.get("sent", 0) + statuses.get("failed", 0)
            if finished >= clients:
                seen["done"] = time.perf_counter()
                seen["statuses"] = statuses
                break
            if finished != progress:
                progress, progress_at = finished, time.perf_counter()
            elif time.perf_counter() - progress_at > STALL_SECONDS:
                raise SystemExit(f"no progress for {STALL_SECONDS} s: {statuses}")
            latency, _ = await timed_get(session, f"{base}/Clients/?limit=25")
            seen["api_latencies"].append(latency)
            await asyncio.sleep(0.05)
    seen["mailing_id"] = mailing_id
    return seen


def fan_out_log_ms(log_path: Path) -> float | None:
    for line in log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("message", "").startswith("mailing started"):
            return entry.get("duration_ms")
    return None


def send_span_seconds(db_path: Path, mailing_id: int) -> tuple[int, float]:
    """(sent, seconds from the mailing's fan-out to its last sent_at), from the database."""
    conn = sqlite3.connect(db_path)
    sent, last = conn.execute(
        "SELECT count(*), max(sent_at) FROM messages WHERE mailing_id = ? AND status = 'sent'", (mailing_id,)
    ).fetchone()
    started = conn.execute("SELECT fanned_out_at FROM mailings WHERE id = ?", (mailing_id,)).fetchone()[0]
    conn.close()
    parse = lambda text: datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    return sent, (parse(last) - parse(started)).total_seconds()


def report(args, seen: dict, rss_mb: float, fan_out_ms: float | None, sent: int, span: float) -> None:
    latencies = sorted(seen["api_latencies"]) or [float("nan")]
    print(f"clients:                    {args.clients:,}")
    print(f"statuses:                   {seen['statuses']}")
    print(f"fan-out (API -> all exist): {seen['fanned_out'] - seen['created']:.2f} s")
    if fan_out_ms is not None:
        print(f"fan-out INSERT ... SELECT:  {fan_out_ms / 1000:.2f} s")
    print(f"sending (start -> last):    {span:.2f} s, {sent / span:,.0f} messages/s")
    print(f"wall clock (API -> done):   {seen['done'] - seen['created']:.2f} s")
    print(f"GET /Clients/ meanwhile:    median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms ({len(seen['api_latencies'])} requests)")
    print(f"server peak RSS (VmHWM):    {rss_mb:.1f} MB")


def print_profile(path: str) -> None:
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50, help="notifications.concurrency")
    parser.add_argument("--profile", help="run the server under cProfile and write its stats here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        workdir = Path(tmp)
        db_path = workdir / "herald.db"
        populate(db_path, args.clients)
        provider, provider_port = start_provider()
        port = free_port()
        server = start_server(workdir, db_path, port, provider_port, args)
        try:
            seen = asyncio.run(run_mailing(f"http://127.0.0.1:{port}", args.clients))
            rss_mb = peak_rss_mb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
            provider.send_signal(signal.SIGTERM)
            provider.wait(10)
        sent, span = send_span_seconds(db_path, seen["mailing_id"])
        report(args, seen, rss_mb, fan_out_log_ms(workdir / "server.log"), sent, span)
        if args.profile:
            print_profile(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

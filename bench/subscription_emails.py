"""Price-change email throughput: emails per second from the outbox to a local SMTP server.

Builds a fresh SQLite file with N confirmed subscribers, each subscribed to a direction whose
price changed since yesterday (details as the price index writes them), queues the N price emails
(jobs/price_emails.py, timed apart) and delivers them through the email delivery engine and the EmailSender's
SMTP pool to a minimal SMTP sink running in ANOTHER process, which only counts what it accepts.
Prints the delivery's emails per second (target on a 2-core host: 500/s; a single fast MTA does
about 830/s) and checks that every email was accepted once and recorded as sent.

    python bench/subscription_emails.py [--count 10000] [--pool-size 16] [--profile FILE]

The delivery runs on asyncio's default loop, as a `main.py` command does; BENCH_LOOP=uvloop runs
it on uvloop, as the server does.

`measure_emails(count)` returns {"emails", "seconds", "per_second", ...} for bench/subscriptions.py.
Not a test: it never runs under pytest.
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
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.email_channel import email_engine  # noqa: E402
from jobs.price_emails import queue_price_emails  # noqa: E402
from server.gateways.email import EmailSender  # noqa: E402
from server.settings import EmailSettings, SmtpSettings  # noqa: E402
from bench.common import migrate  # noqa: E402
from storage.db import Database  # noqa: E402

PUBLIC_URL = "https://herald.example.com"
DEFAULT_POOL_SIZE = 16


# -- the data ------------------------------------------------------------------------------------


def details_json(direction: int, price: float) -> str:
    """What the price index's details look like for one direction (fields of seed 001)."""
    leg = {"departure_time": "12:00", "arrival_time": "13:10", "departure_date": "15.05",
           "arrival_date": "15.05", "airlines": "Уральские авиалинии, Победа", "airlines_count": 2,
           "airline_avatar": "https://avatars.example.com/u6/orig", "connections": "1 пересадка"}
    return json.dumps({
        "qkey": f"c213_c{direction + 1000}_2026-05-15_2026-05-20_economy_1_0_0_ru",
        "found": True,
        "min_price": {"price": price, "currency": "RUR", "forward": leg, "backward": leg,
                      "qkey": f"c213_c{direction + 1000}_2026-05-15_2026-05-20_economy_1_0_0_ru",
                      "order_link": f"https://avia.example.com/order/?v={direction}"},
        "point_from": "Москва", "point_to": f"Город {direction}",
        "avia_search_link": f"https://avia.example.com/search/?to=c{direction + 1000}",
        "calendar_link": f"https://avia.example.com/calendar/?to=c{direction + 1000}",
        "popular_section_variants_data": {}, "other_data": {},
    }, ensure_ascii=False)


def populate(path: Path, count: int) -> None:
    """Set-up only (not measured): `count` subscribers, directions and price changes."""
    migrate(path)
    now = "2026-05-01T00:00:00.000Z"
    today = date(2026, 5, 1)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO contacts (id, email, created_at, updated_at) "
        "SELECT i, 'user' || i || '@example.com', ?, ? FROM n", (count, now, now))
    conn.execute(
        "INSERT INTO subscribers (id, contact_id, email, confirmed_at, created_at, updated_at) "
        "SELECT 'subscriber-' || id, id, email, ?, ?, ? FROM contacts", (now, now, now))
    conn.execute(
        "INSERT INTO directions (id, qkey, date_range, created_at) "
        "SELECT id, 'c213_c' || (id + 1000) || '_2026-05-15_2026-05-20_economy_1_0_0_ru', 0, ? "
        "FROM contacts", (now,))
    conn.execute(
        "INSERT INTO subscriptions (subscriber_id, direction_id, qkey, created_at, updated_at) "
        "SELECT 'subscriber-' || id, id, qkey, ?, ? FROM directions", (now, now))
    rows = []
    for direction in range(1, count + 1):
        old, new = 5000.0 + direction % 700, 4500.0 + direction % 500
        rows.append((direction, (today - timedelta(days=1)).isoformat(), old, details_json(direction, old), now))
        rows.append((direction, today.isoformat(), new, details_json(direction, new), now))
    conn.executemany(
        "INSERT INTO direction_prices (direction_id, day, price, currency, details, updated_at) "
        "VALUES (?, ?, ?, 'RUR', ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()




# -- the SMTP sink (runs in its own process) ------------------------------------------------------


class SinkProtocol(asyncio.Protocol):
    """Just enough ESMTP to accept mail: every command is answered at once, nothing is parsed."""

    accepted = 0

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.buffer = b""
        self.in_data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buffer = self.buffer[end + 5:]
                self.in_data = False
                SinkProtocol.accepted += 1
                self.transport.write(b"250 2.0.0 accepted\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            self.transport.write(self.reply(line[:4].upper()))

    def reply(self, verb: bytes) -> bytes:
        if verb == b"EHLO":
            return b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 33554432\r\n"
        if verb == b"DATA":
            self.in_data = True
            return b"354 go ahead\r\n"
        if verb == b"QUIT":
            self.transport.close()
            return b"221 bye\r\n"
        return b"250 OK\r\n"


async def serve_sink() -> None:
    server = await asyncio.get_running_loop().create_server(SinkProtocol, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(f"accepted {SinkProtocol.accepted}", flush=True)


def start_sink() -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"the SMTP sink did not start: {line!r}")
    return process, int(line.split()[-1])


def stop_sink(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=10)
    return int(out.strip().split()[-1])


# -- the measurement ------------------------------------------------------------------------------


async def _deliver(db_path: Path, port: int, pool_size: int) -> dict:
    db = Database(db_path)
    await db.open()
    sender = EmailSender(SmtpSettings(transport="smtp", host="127.0.0.1", port=port,
                                      pool_size=pool_size, from_address="Herald <herald@example.com>"))
    await sender.start()
    try:
        started = time.perf_counter()
        queued = await queue_price_emails(db, public_url=PUBLIC_URL, now=datetime.now(timezone.utc))
        queued_at = time.perf_counter()
        cpu_before = time.process_time()
        summary = await email_engine(db, sender, EmailSettings()).deliver_due()
        done = time.perf_counter()
        cpu = time.process_time() - cpu_before
        sent = await db.fetch_value(
            "SELECT count(*) FROM messages WHERE channel = 'email' AND status = 'sent'")
    finally:
        await sender.close()
        await db.close()
    return {"queued": queued, "queue_seconds": queued_at - started, "seconds": done - queued_at,
            "cpu_seconds": cpu, "sent": summary.sent, "recorded_sent": sent}


def measure_emails(count: int = 10_000, pool_size: int = DEFAULT_POOL_SIZE, profile: str | None = None) -> dict:
    """Deliver `count` price-change emails to a local SMTP sink; keys: emails, seconds,
    per_second (the delivery), queue_seconds (finding the changes and queueing the emails)."""
    with tempfile.TemporaryDirectory(prefix="herald-bench-emails-") as tmp:
        db_path = Path(tmp) / "herald.db"
        populate(db_path, count)
        sink, port = start_sink()
        try:
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                result = profiler.runcall(_run, db_path, port, pool_size)
                profiler.dump_stats(profile)
            else:
                result = _run(db_path, port, pool_size)
        finally:
            accepted = stop_sink(sink)
    if not result["queued"] == result["sent"] == result["recorded_sent"] == accepted == count:
        raise SystemExit(f"not every email went out exactly once: {result}, sink accepted {accepted}")
    return {"emails": result["sent"], "seconds": round(result["seconds"], 3),
            "per_second": round(result["sent"] / result["seconds"], 1),
            "queue_seconds": round(result["queue_seconds"], 3), "pool_size": pool_size,
            "cpu_seconds": round(result["cpu_seconds"], 3)}


def _run(db_path: Path, port: int, pool_size: int) -> dict:
    if os.environ.get("BENCH_LOOP") == "uvloop":  # the server's loop (main.py serve)
        import uvloop

        return uvloop.run(_deliver(db_path, port, pool_size))
    return asyncio.run(_deliver(db_path, port, pool_size))  # a command's loop (main.py)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--pool-size", type=int, default=DEFAULT_POOL_SIZE, help="smtp.pool_size")
    parser.add_argument("--profile", help="profile the sending process and write its stats here")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        asyncio.run(serve_sink())
        return 0
    result = measure_emails(args.count, args.pool_size, args.profile)
    print(f"price changes queued:    {result['emails']:,} in {result['queue_seconds']:.2f} s")
    print(f"delivered to SMTP:       {result['emails']:,} in {result['seconds']:.2f} s "
          f"(smtp.pool_size {result['pool_size']}; this process used {result['cpu_seconds']:.2f} s of CPU)")
    print(f"emails per second:       {result['per_second']:,.0f}  (target 500)")
    if args.profile:
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

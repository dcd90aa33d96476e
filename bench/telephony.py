"""Telephony (MANGO OFFICE PBX gateway) throughput and latency: webhooks accepted and stored per
second, and the latency Herald adds to a forwarded command (issue: 2,000 webhooks/s, aim 3,000,
none lost, at 50 connections; added latency p99 under 5 ms).

Starts `main.py` on a fresh database in its own process, and the MANGO OFFICE emulator of the
tests (tests/mango_emulator.py, which checks every signature) in another, as Herald's
telephony.api_url; this process is the load generator. Herald's own client-side pacing of Mango's
rate limits is off (HERALD_TELEPHONY__RATE_LIMITS=false) and so are the emulator's (it would answer
429 at Mango's 2 balance requests a second), so that neither adds a wait to the figures; the
emulator sends no result webhooks back (auto_results off), so nothing but the measured calls loads
Herald during the latency part.

1. Webhooks: `--events` distinct events (default 100,000), built and signed (sha256 of key + json +
   salt) before the clock starts, in the mix a PBX sends per call: three events/call (Appeared,
   Connected, Disconnected; distinct entry_id, rising seq), an events/summary (a contact and a CRM
   log line for its caller, 20,000 callers in all), a result/callback with its command_id, and one
   of events/sms, events/recording or events/dtmf. They are POSTed to /mango/<event path> over
   `--connections` connections (one aiohttp session, as many worker coroutines). Prints webhooks/s
   answered 200, p50/p99, the answers that were not 200, then counts telephony_events and calls in
   the SQLite file (opened read-only): "lost" is what was sent and is not there.
2. Added latency: `--commands` calls (default 2,000) one at a time, so that the figure is latency
   and not queueing: account/balance and commands/callback signed and POSTed straight to the
   emulator (as server/gateways/mango.py does: mango_protocol.build, then one aiohttp session),
   then POST /balance and POST /callback (a fresh command_id each) through Herald. Added latency is
   Herald's p50 less the emulator's, and the same of p99 (a difference of percentiles).

The load generator shares the host's two cores with both servers: its CPU use is printed too.

    python bench/telephony.py [--events 100000] [--connections 50] [--commands 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import cpu_seconds  # noqa: E402
from bench.common import ROOT, free_port, migrate, start_listener, wait_until_up  # noqa: E402
from server.gateways import mango_protocol as protocol  # noqa: E402
from tests.mango_emulator import call_event, sign, summary_event  # noqa: E402

TOKEN = "bench-token-" + "0" * 28
KEY, SALT = "bench-vpbx-key", "bench-vpbx-salt"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
CALLERS = 20_000
WARM_UP = 20
MANGO_PATHS = {"balance": "account/balance", "callback": "commands/callback"}


# -- the emulator's process -----------------------------------------------------------------------

def serve_emulator() -> int:
    """`--emulator`: the MANGO OFFICE emulator on a free port, without rate limits or result
    webhooks; prints 'listening on <port>', and what it saw once SIGTERM stops it."""
    from tests.mango_emulator import MangoEmulator

    async def serve() -> None:
        emulator = MangoEmulator(KEY, SALT, rate_limits=False)
        emulator.auto_results = False
        await emulator.start()
        print(f"listening on {emulator.port}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
        summary = {"requests": len(emulator.requests), "processed": len(emulator.forwarded()),
                   "errors_3xxx": emulator.errors_3xxx, "rate_limited": emulator.rate_limited,
                   "lockouts": emulator.lockouts}
        await emulator.stop()
        print(json.dumps(summary), flush=True)

    asyncio.run(serve())
    return 0


# -- the webhooks ---------------------------------------------------------------------------------

def signed(event_path: str, payload: dict) -> tuple[str, bytes]:
    """The POST Mango makes: its path under /mango/ and the form, signed as the emulator signs."""
    json_text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    form = urlencode({"vpbx_api_key": KEY, "sign": sign(KEY, json_text, SALT), "json": json_text})
    return "/mango/" + event_path, form.encode()


def call_webhooks(i: int) -> list[tuple[str, dict]]:
    """The six webhooks of call `i`: three call events, its summary, a command's result and one more."""
    entry, call_id, at = f"bench-entry-{i:07d}", f"bench-call-{i:07d}", EPOCH + i
    caller, extension, line = f"79{i % CALLERS:09d}", str(101 + i % 5), "74951234567"
    talk = i % 300
    hooks = [
        ("events/call", call_event(entry, call_id, 1, "Appeared", from_number=caller, line_number=line,
                                   location="ivr", timestamp=at)),
        ("events/call", call_event(entry, call_id, 2, "Connected", from_number=caller, to_extension=extension,
                                   line_number=line, timestamp=at + 5)),
        ("events/call", call_event(entry, call_id, 3, "Disconnected", from_number=caller, to_extension=extension,
                                   line_number=line, timestamp=at + 5 + talk)),
        ("events/summary", summary_event(entry, from_number=caller, to_extension=extension, line_number=line,
                                         talk_time=talk, create_time=at, end_time=at + 10 + talk)),
        ("result/callback", {"command_id": f"bench-callback-{i:07d}", "result": 1000}),
    ]
    match i % 3:
        case 0:
            hooks.append(("events/sms", {"command_id": f"bench-sms-{i:07d}", "timestamp": at, "reason": 1000}))
        case 1:
            hooks.append(("events/recording", {"entry_id": entry, "call_id": call_id, "extension": extension,
                                               "recording_id": f"bench-rec-{i:07d}", "recording_state": "Completed",
                                               "timestamp": at + 5 + talk}))
        case _:
            hooks.append(("events/dtmf", {"entry_id": entry, "call_id": call_id, "seq": 4, "dtmf": str(i % 10),
                                          "timestamp": at + 2, "location": "ivr", "initiator": caller,
                                          "from_number": caller, "to_number": line}))
    return hooks


def build_webhooks(count: int) -> tuple[list[tuple[str, bytes]], Counter, int]:
    """`count` signed webhooks, the count of each kind, and the number of calls (entry_ids) among them."""
    webhooks: list[tuple[str, bytes]] = []
    kinds: Counter = Counter()
    calls = 0
    while len(webhooks) < count:
        for event_path, payload in call_webhooks(calls)[:count - len(webhooks)]:
            webhooks.append(signed(event_path, payload))
            kinds[event_path] += 1
        calls += 1
    return webhooks, kinds, calls


@dataclass(frozen=True)
class Posted:
    sent: int
    statuses: Counter
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float
    own_cpu: float


def percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, int(len(ordered) * share) - 1)]


async def post_webhooks(base: str, webhooks: list[tuple[str, bytes]], connections: int, pid: int) -> Posted:
    latencies: list[float] = []
    statuses: Counter = Counter()
    queue = iter(webhooks)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for path, body in queue:
                started = time.perf_counter()
                try:
                    async with session.post(path, data=body, headers=FORM) as response:
                        await response.read()
                        statuses[response.status] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    statuses[exc.__class__.__name__] += 1
                latencies.append(time.perf_counter() - started)

        began, server_before, own_before = time.perf_counter(), cpu_seconds(pid), time.process_time()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - began
        server_cpu = (cpu_seconds(pid) - server_before) / seconds
        own_cpu = (time.process_time() - own_before) / seconds
    latencies.sort()
    return Posted(len(webhooks), statuses, seconds, statistics.median(latencies) * 1000,
                  percentile(latencies, 0.99) * 1000, server_cpu, own_cpu)


def stored(path: Path) -> tuple[int, int]:
    """telephony_events and calls in the file, read from a read-only connection of our own."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (conn.execute("SELECT count(*) FROM telephony_events").fetchone()[0],
                conn.execute("SELECT count(*) FROM calls").fetchone()[0])
    finally:
        conn.close()


async def run_webhooks(base: str, path: Path, count: int, connections: int, pid: int) -> None:
    started = time.perf_counter()
    webhooks, kinds, calls = build_webhooks(count)
    mix = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    print(f"webhooks: {count} distinct signed events of {calls} calls ({mix}); "
          f"built and signed in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"  POST /mango/<event path> over {connections} connections", flush=True)
    posted = await post_webhooks(base, webhooks, connections, pid)
    accepted = posted.statuses.get(200, 0)
    refused = {status: n for status, n in posted.statuses.items() if status != 200}
    events, stored_calls = stored(path)
    print(f"  accepted (200)  {accepted / posted.seconds:8.0f} webhooks/s   p50 {posted.p50_ms:6.1f} ms   "
          f"p99 {posted.p99_ms:6.1f} ms   (target 2,000/s, aim 3,000)", flush=True)
    print(f"  stored          {events / posted.seconds:8.0f} webhooks/s   ({events} rows in telephony_events, "
          f"{accepted} of {posted.sent} answered 200 in {posted.seconds:.1f} s)", flush=True)
    print(f"  not 200         {sum(refused.values()):8d}   {refused or ''}", flush=True)
    print(f"  lost: {posted.sent - events}   (sent {posted.sent}, stored {events}; target 0)   "
          f"calls: {stored_calls} of {calls}", flush=True)
    print(f"  CPU             server {posted.server_cpu:4.0%}   load generator {posted.own_cpu:4.0%}   "
          f"(of one core; the host has {os.cpu_count()})", flush=True)


# -- the added latency ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Timed:
    name: str
    calls: int
    errors: int
    p50_ms: float
    p99_ms: float
    first_error: str | None


async def one_at_a_time(name: str, count: int, call) -> Timed:
    """`count` awaits of `call(i)` (which answers (ok, text)) in a row, after a few not timed."""
    for i in range(WARM_UP):
        await call(-1 - i)
    latencies: list[float] = []
    errors, first_error = 0, None
    for i in range(count):
        started = time.perf_counter()
        ok, text = await call(i)
        latencies.append(time.perf_counter() - started)
        if not ok:
            errors += 1
            first_error = first_error or text[:200]
    latencies.sort()
    return Timed(name, count, errors, statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000,
                 first_error)


async def run_latency(base: str, vpbx_url: str, count: int) -> None:
    print(f"added latency: {count} calls of each, one at a time (after {WARM_UP} not timed); "
          "rate limits off in Herald and in the emulator", flush=True)
    to = "79001234567"
    async with aiohttp.ClientSession() as mango, \
            aiohttp.ClientSession(base, headers={"Authorization": f"Token {TOKEN}"}) as herald:

        def direct(path: str, payload_of):
            async def call(i: int) -> tuple[bool, str]:
                request = protocol.build(vpbx_url, path, payload_of(i), KEY, SALT)
                async with mango.post(request.url, data=request.body, headers=request.headers,
                                      allow_redirects=False) as reply:
                    answer = protocol.parse_answer(reply.status, await reply.read())
                return answer.status == 200 and answer.result == 1000, answer.text
            return call

        def through_herald(path: str, body_of):
            async def call(i: int) -> tuple[bool, str]:
                async with herald.post(path, json=body_of(i)) as reply:
                    text = await reply.text()
                return reply.status == 200, f"HTTP {reply.status}: {text}"
            return call

        pairs = [
            ("balance", await one_at_a_time("emulator alone", count, direct(MANGO_PATHS["balance"], lambda i: {}))),
            ("balance", await one_at_a_time("through Herald", count, through_herald("/balance", lambda i: {}))),
            ("callback", await one_at_a_time("emulator alone", count, direct(
                MANGO_PATHS["callback"],
                lambda i: {"command_id": f"bench-direct-{i}", "from": {"extension": "101"}, "to_number": to}))),
            ("callback", await one_at_a_time("through Herald", count, through_herald(
                "/callback", lambda i: {"command_id": f"bench-herald-{i}", "from_ext": "101", "to_num": to}))),
        ]
    print(f"  {'':<50} {'p50':>7} {'p99':>10}", flush=True)
    for (command, alone), (_, through) in zip(pairs[::2], pairs[1::2]):
        for figures, where in ((alone, f"vpbx/{MANGO_PATHS[command]}"), (through, f"/{command}")):
            errors = f"   {figures.errors} errors: {figures.first_error}" if figures.errors else ""
            print(f"  {f'{command}, {figures.name} ({where})':<50} {figures.p50_ms:5.2f} ms {figures.p99_ms:6.2f} ms"
                  f"{errors}", flush=True)
        print(f"  {f'{command}, added by Herald':<50} {through.p50_ms - alone.p50_ms:5.2f} ms "
              f"{through.p99_ms - alone.p99_ms:6.2f} ms   (target p99 under 5 ms)", flush=True)


# -- the whole run --------------------------------------------------------------------------------

def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def run(args: argparse.Namespace, base: str, path: Path, vpbx_url: str, pid: int) -> None:
    await wait_until_up(base)
    if args.events:
        await run_webhooks(base, path, args.events, args.connections, pid)
    if args.commands:
        await run_latency(base, vpbx_url, args.commands)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="webhooks to post (0: skip that part)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--commands", type=int, default=2_000,
                        help="calls of each kind for the added latency (0: skip that part)")
    parser.add_argument("--emulator", action="store_true", help=argparse.SUPPRESS)  # the emulator's own process
    args = parser.parse_args()
    if args.emulator:
        return serve_emulator()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        migrate(path)
        emulator, emulator_port = start_listener("telephony.py", "--emulator")
        vpbx_url = f"http://127.0.0.1:{emulator_port}/vpbx/"
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
               "HERALD_STORAGE__PATH": str(path), "HERALD_SERVER__PORT": str(port),
               "HERALD_AUTH__API_TOKENS": f'["{TOKEN}"]', "HERALD_SMTP__OUTBOX_DIR": str(Path(folder) / "outbox"),
               "HERALD_TELEPHONY__API_URL": vpbx_url,
               "HERALD_TELEPHONY__CC_API_URL": f"http://127.0.0.1:{emulator_port}/cc/",
               "HERALD_TELEPHONY__API_KEY": KEY, "HERALD_TELEPHONY__API_SALT": SALT,
               "HERALD_TELEPHONY__RATE_LIMITS": "false", "HERALD_TELEPHONY__TIMEOUT_SECONDS": "5"}
        log_path = Path(folder) / "server.log"
        try:
            with open(log_path, "w") as log:
                server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--config",
                                           str(Path(folder) / "none.toml")], env=env, stdout=log, stderr=log)
                try:
                    asyncio.run(run(args, f"http://127.0.0.1:{port}", path, vpbx_url, server.pid))
                except BaseException:
                    print("server log (last lines):\n" + "".join(log_path.read_text().splitlines(True)[-20:]),
                          file=sys.stderr)
                    raise
                finally:
                    stop(server)
        finally:
            stop(emulator)
            seen = emulator.stdout.read().strip()
            emulator.stdout.close()
        if seen:
            print(f"emulator: {seen}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the benchmark scripts share: a fresh migrated database, a free port, N clients inserted
in one statement, a helper server started in its own process. Set-up only; nothing here measures.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.db import Database  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate(path: Path) -> None:
    """Create the database file with every migration applied, as the server would."""

    async def open_and_close() -> None:
        db = Database(path)
        await db.open()
        await db.close()

    asyncio.run(open_and_close())


def insert_clients(path: Path, count: int, created_at: str = "2026-01-01T00:00:00.000Z") -> None:
    """`count` clients in three zones, each with one of ten tags, in one statement."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO contacts (phone_number, operator_code, timezone, created_at, updated_at) "
        "SELECT '79' || printf('%09d', i), '9' || printf('%02d', i % 100), "
        "CASE i % 3 WHEN 0 THEN 'UTC' WHEN 1 THEN 'Europe/Moscow' ELSE 'Asia/Vladivostok' END, ?, ? FROM n",
        (count, created_at, created_at),
    )
    conn.execute("INSERT INTO contact_tags SELECT id, 'tag' || (id % 10) FROM contacts")
    conn.execute("COMMIT")
    conn.close()


def start_listener(script: str, *args: str) -> tuple[subprocess.Popen, int]:
    """Start bench/<script> in its own process; it prints 'listening on <port>' when ready."""
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / script), *args],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"{script} did not start: {line!r}")
    return process, int(line.split()[-1])


async def serve_until_signalled(app, port: int) -> None:
    """Serve `app` on 127.0.0.1:`port` (0: any), print 'listening on <port>', stop on SIGINT/SIGTERM."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(f"listening on {site._server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def serve_main(argv: list[str], description: str, make_app, summary) -> int:
    """The command line of a bench's stand-in service: `--token TOKEN [--port 0]`; serves
    `make_app(token)` until signalled, then prints `summary(app)`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        app = make_app(args.token)
        await serve_until_signalled(app, args.port)
        print(summary(app), flush=True)

    asyncio.run(serve())
    return 0


async def wait_until_up(base: str, seconds: float = 30) -> None:
    """Poll `base`/health until the server answers 200."""
    import aiohttp

    deadline = asyncio.get_running_loop().time() + seconds
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(f"{base}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"the server at {base} did not come up within {seconds:.0f} s")

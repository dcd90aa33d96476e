"""The admin UI's page times with a big directory and log (issue 10: every page under 100 ms with
100,000 contacts and 1,000,000 messages; list pages must not count or scan the whole log).

Builds the database in SQL before the server starts: `--contacts` contacts (default 100,000; ten
tags), ten mailings that reached every contact (`--contacts` x 10 messages: 1,000,000), statuses
mostly sent with some failed, expired and pending. The subscription, chatbot and telephony pages
are timed over that log too (their own tables empty: what they must not do is scan the log). Starts
`main.py` on it in its own process, makes an operator with `create_admin`, logs in, then GETs
each page `--repeat` times one after another (latency, not throughput) and prints p50, p99 and
the slowest, with the page's size. Pages that answer other than 200 are reported, not timed.

    python bench/admin.py [--contacts 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
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

PASSWORD = "bench password"
MAILINGS = 10
CREATED = "2026-11-01T00:00:00.000Z"
TARGET_MS = 100


def populate(path: Path, contacts: int) -> None:
    migrate(path)
    insert_clients(path, contacts)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for n in range(1, MAILINGS + 1):
        running = n == MAILINGS  # the newest runs now; the others ended
        start, end = ("2026-11-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z") if running else \
            (f"2026-11-{n:02d}T08:00:00.000Z", f"2026-11-{n:02d}T20:00:00.000Z")
        conn.execute("INSERT INTO mailings (datetime_start, datetime_end, message_text, fanned_out_at, created_at, "
                     "updated_at) VALUES (?, ?, ?, ?, ?, ?)", (start, end, f"Mailing {n}: our autumn sale", start,
                                                             CREATED, CREATED))
        # Mostly sent; every 97th failed, every 89th expired; the running one leaves every 7th pending.
        conn.execute(
            "INSERT INTO messages (contact_id, mailing_id, channel, direction, status, body, attempts, last_error, "
            "created_at, sent_at, updated_at) "
            "SELECT id, :mailing, 'sms', 'out', "
            "  CASE WHEN id % 97 = 0 THEN 'failed' WHEN id % 89 = 0 THEN 'expired' "
            "       WHEN :running AND id % 7 = 0 THEN 'pending' ELSE 'sent' END, "
            "  :text, 1, CASE WHEN id % 97 = 0 THEN 'provider rejected the message: HTTP 422' END, "
            "  :start, CASE WHEN id % 97 != 0 AND id % 89 != 0 THEN :start END, :start FROM contacts",
            {"mailing": n, "running": running, "text": f"Mailing {n}: our autumn sale", "start": start})
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def timed_pages(base: str, pages: list[str], repeat: int) -> list[str]:
    lines = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # 127.0.0.1's cookies
        async with session.get(f"{base}/admin/login") as form:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
        async with session.post(f"{base}/admin/login", data={"name": "bench", "password": PASSWORD,
                                                             "csrf_token": token}, allow_redirects=False) as answer:
            if answer.status != 303:
                raise SystemExit(f"log-in failed: HTTP {answer.status}")
        for page in pages:
            times, size, status = [], 0, 200
            for _ in range(repeat):
                started = time.perf_counter()
                async with session.get(base + page, allow_redirects=False) as answer:
                    body = await answer.read()
                times.append((time.perf_counter() - started) * 1000)
                size, status = len(body), answer.status
                if status != 200:
                    break
            if status != 200:
                lines.append(f"{page:<52} HTTP {status}: not timed")
                continue
            times.sort()
            p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
            verdict = "ok" if p99 < TARGET_MS else f"OVER {TARGET_MS} ms"
            lines.append(f"{page:<52} p50 {statistics.median(times):6.1f} ms   p99 {p99:6.1f} ms   "
                         f"max {times[-1]:6.1f} ms   {size / 1024:6.1f} KiB   {verdict}")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "admin.db"
        started = time.perf_counter()
        populate(path, args.contacts)
        with sqlite3.connect(path) as conn:
            contacts, = conn.execute("SELECT count(*) FROM contacts").fetchone()
            messages, = conn.execute("SELECT count(*) FROM messages").fetchone()
        print(f"database: {contacts:,} contacts, {messages:,} messages, "
              f"{path.stat().st_size / 2**20:.0f} MiB, built in {time.perf_counter() - started:.0f} s")
        port = free_port()
        env = {**os.environ, "HERALD_STORAGE__PATH": str(path), "HERALD_SERVER__PORT": str(port),
               "HERALD_LOG__LEVEL": "WARNING", "HERALD_ADMIN_PASSWORD": PASSWORD}
        subprocess.run([sys.executable, str(ROOT / "main.py"), "create_admin", "bench"], env=env, check=True,
                       cwd=folder, stdout=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, str(ROOT / "main.py")], env=env, cwd=folder)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_until_up(base))
            middle = contacts // 2
            pages = ["/admin/", "/admin/fragments/active-mailings", "/admin/fragments/activity",
                     "/admin/mailings", "/admin/mailings?state=ended", "/admin/mailings?q=autumn",
                     f"/admin/mailings/{MAILINGS}", f"/admin/mailings/{MAILINGS}?status=failed",
                     f"/admin/mailings/{MAILINGS}?status=pending&after={messages // 2}",
                     f"/admin/fragments/mailings/{MAILINGS}/counts", f"/admin/mailings/{MAILINGS}/edit",
                     "/admin/contacts", f"/admin/contacts?before={middle}", "/admin/contacts?tag=tag3",
                     "/admin/contacts?q=7900004", "/admin/contacts?q=nobody-has-this", f"/admin/contacts/{middle}",
                     "/admin/subscriptions", "/admin/subscriptions/directions", "/admin/subscriptions/emails",
                     "/admin/subscriptions/emails?status=failed", "/admin/subscriptions/runs", "/admin/chatbot",
                     "/admin/telephony", "/admin/telephony/commands", "/admin/telephony/webhooks",
                     "/admin/tokens", "/admin/operators", "/admin/settings"]
            print(f"each page {args.repeat} times, one request at a time (target: under {TARGET_MS} ms):")
            for line in asyncio.run(timed_pages(base, pages, args.repeat)):
                print("  " + line)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Chatbot mailing latency: p50/p99 of `POST /chatbot/mailing/` for 1,000 men, and one call of 10,000.

Builds a database with one sender profile holding 1,000 templates and 1,000,000 earlier sends of
hers in the log (100,000 men with 10 templates each; chat messages as `POST /chatbot/mailing/`
writes them: channel `chat`, her as sender, payload, dedupe key `chat:<template>:<man>`, most
`sent`, some `pending` or `failed`), straight in SQL before the server starts. Then starts
`main.py` on it in its own process and asks for `--calls` mailings of 1,000 men each (men with a
history, as the site's searches find them, sent as the site's full profiles), one at a time, and
one of 10,000 men. Targets on a 2-core host: p99 under 150 ms for 1,000 men, under 1.5 s for 10,000.

    python bench/chatbot.py [--men 100000] [--templates 1000] [--sends 1000000] [--calls 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port, migrate, wait_until_up  # noqa: E402

TOKEN = "bench-token-" + "0" * 28
PROFILE = 1671492
FIRST_MAN = 10_000_000  # the men's id_user on the site: FIRST_MAN + 1, FIRST_MAN + 2, ...
NOW = "2026-01-01T00:00:00.000Z"


def populate(path: Path, men: int, templates: int, sends: int) -> None:
    """Her, `templates` templates, `men` men, and `sends` messages: man i holds templates
    (i * 7 + k) % templates for k < sends / men (his first ones spread over all her templates)."""
    migrate(path)
    per_man = sends // men
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO contacts (name, source, external_ids, attributes, created_at, updated_at) "
        "VALUES ('Inna', 'VICTORIABRIDES', json_object('victoriabrides', ?), json_object('age', 30), ?, ?)",
        (str(PROFILE), NOW, NOW))
    profile_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO chat_templates (profile_contact_id, text, given, created_at) "
        "SELECT ?, 'Hi {name}! How is the weather in {city}? (template ' || i || ')', 0, ? FROM n",
        (templates, profile_id, NOW))
    first_template = conn.execute("SELECT min(id) FROM chat_templates").fetchone()[0]
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO contacts (name, source, external_ids, attributes, created_at, updated_at) "
        "SELECT 'man' || (? + i), 'VICTORIABRIDES', json_object('victoriabrides', CAST(? + i AS TEXT)), "
        "json_object('name', 'man' || (? + i), 'age', 20 + (? + i) % 40, 'gender', 'male', 'country', 'Russia', "
        "'city', 'Moscow', 'avatar', '//gstatvb.com/img/defaults/avatar/c788bb.png', 'is_premium', json('false'), "
        "'last_visit', '2017-12-03 13:31:22', 'mirrorName', 'VictoriaBrides'), ?, ? FROM n",
        (men, FIRST_MAN, FIRST_MAN, FIRST_MAN, FIRST_MAN, NOW, NOW))
    first_man = conn.execute("SELECT min(id) FROM contacts WHERE id > ?", (profile_id,)).fetchone()[0]
    statuses = "CASE WHEN k = 0 THEN 'pending' WHEN (c.id + k) % 50 = 0 THEN 'failed' ELSE 'sent' END"
    conn.execute(
        "WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < ? - 1), "
        "pick AS (SELECT c.id AS contact_id, k.k AS k, "
        f"        {first_template} + ((c.id - {first_man}) * 7 + k.k) % ? AS template_id, {statuses} AS status "
        "        FROM contacts c, k WHERE c.id >= ?) "
        "INSERT INTO messages (contact_id, channel, direction, status, body, payload, sender, dedupe_key, attempts, "
        "                      next_attempt_at, created_at, sent_at, updated_at) "
        "SELECT p.contact_id, 'chat', 'out', p.status, 'Hi man! How is the weather in Moscow? (template ' || "
        f"       (p.template_id - {first_template} + 1) || ')', "
        "       json_object('template_id', p.template_id, 'id_user', CAST(? + p.contact_id - ? + 1 AS TEXT)), "
        "       'contact:' || ?, CASE WHEN p.status = 'failed' THEN NULL "
        "       ELSE 'chat:' || p.template_id || ':' || p.contact_id END, "
        "       CASE WHEN p.status = 'pending' THEN 0 ELSE 1 END, "
        "       CASE WHEN p.status = 'pending' THEN ? END, ?, CASE WHEN p.status = 'sent' THEN ? END, ? "
        "FROM pick p ORDER BY p.k, p.contact_id",
        (per_man, templates, first_man, FIRST_MAN, first_man, profile_id, NOW, NOW, NOW, NOW))
    conn.execute(
        "WITH held AS (SELECT json_extract(payload, '$.template_id') AS id, count(*) AS n FROM messages "
        "              WHERE channel = 'chat' AND dedupe_key IS NOT NULL GROUP BY 1) "
        "UPDATE chat_templates SET given = held.n FROM held WHERE held.id = chat_templates.id")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def profile_of(id_user: int) -> dict:
    """A man as the site sends him (seed 000's profile object)."""
    return {
        "id": id_user, "id_user": id_user, "name": f"man{id_user}", "age": 20 + id_user % 40, "country": "Russia",
        "city": "Moscow", "gender": "male", "occupation": "", "description": "", "looking_for": "",
        "avatar_xxs": "//gstatvb.com/img/defaults/avatar/dc5a01.png",
        "avatar_large": "//gstatvb.com/img/defaults/avatar/c788bb.png", "audioEnabled": 1, "count_photos": 1,
        "count_videos": "0", "credits_premium": 0, "credits_free": 0, "is_online": False, "is_premium": False,
        "id_partner": "tf_top1_desk", "can_receive_gift": 0, "imbra_verification": 0,
        "mirrorName": "VictoriaBrides", "mirrorCodes": "vb", "last_visit": "2017-12-03 13:31:22",
    }


async def mailing(session: aiohttp.ClientSession, men: list[int]) -> tuple[float, dict]:
    body = orjson.dumps({"data": {"users": [profile_of(id_user) for id_user in men], "count": len(men),
                                  "female_id": PROFILE}})
    started = time.perf_counter()  # from the first byte sent: the body is made before, as the site would have it
    async with session.post("/chatbot/mailing/", data=body, headers={"Content-Type": "application/json"}) as response:
        answer = await response.json()
        if response.status != 200:
            raise SystemExit(f"POST /chatbot/mailing/ answered {response.status}: {answer}")
    return time.perf_counter() - started, answer


def summary(name: str, latencies: list[float], given: int, left_out: int) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000
    return (f"{name:<34} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   ({len(ordered)} calls, "
            f"{given} templates given, {left_out} men left out)")


async def run(base: str, men: int, calls: int) -> None:
    await wait_until_up(base)
    rng = random.Random(8)
    async with aiohttp.ClientSession(base, headers={"Authorization": f"Token {TOKEN}"}) as session:
        await mailing(session, [FIRST_MAN + 1])  # warm-up (the first call reads her templates from disk)
        latencies, given, left_out = [], 0, 0
        for _ in range(calls):
            seconds, answer = await mailing(session, [FIRST_MAN + i for i in rng.sample(range(1, men + 1), 1000)])
            latencies.append(seconds)
            given += len(answer["data"])
            left_out += answer["received"]
        print(summary("POST /chatbot/mailing/ 1,000 men", latencies, given, left_out), flush=True)
        seconds, answer = await mailing(session, [FIRST_MAN + i for i in rng.sample(range(1, men + 1), 10_000)])
        print(summary("POST /chatbot/mailing/ 10,000 men", [seconds], len(answer["data"]), answer["received"]),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--men", type=int, default=100_000)
    parser.add_argument("--templates", type=int, default=1000)
    parser.add_argument("--sends", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        populate(path, args.men, args.templates, args.sends)
        print(f"database: 1 profile, {args.templates} templates, {args.men} men, "
              f"{args.sends // args.men * args.men} earlier sends ({time.perf_counter() - started:.1f} s to build)",
              flush=True)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
               "HERALD_STORAGE__PATH": str(path), "HERALD_SERVER__PORT": str(port),
               "HERALD_AUTH__API_TOKENS": f'["{TOKEN}"]', "HERALD_SMTP__OUTBOX_DIR": str(Path(folder) / "outbox"),
               "HERALD_LOG__LEVEL": "WARNING"}
        with open(Path(folder) / "server.log", "w") as log:
            server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--config", str(Path(folder) / "none.toml")],
                                      env=env, stdout=log, stderr=log)
            try:
                asyncio.run(run(f"http://127.0.0.1:{port}", args.men, args.calls))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""The README's screenshots of the admin UI (docs/screenshots/*.png), made from a real server.

Starts `main.py` on a fresh database in its own process (transport sandbox), fills it through the
APIs (clients, mailings, a CRM account with a reply, chatbot templates, a token), makes an
operator with `create_admin`, and photographs the main pages in Debian's Chromium with Playwright.

    python docs/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, wait_until_up  # noqa: E402
from tests.browser import CHROMIUM, FLAGS  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
TOKEN = "screenshots-token-0123456789abcdef"
PASSWORD = "screenshots password"
PAGES = [("dashboard", "/admin/"), ("mailings", "/admin/mailings"), ("mailing", "/admin/mailings/1"),
         ("mailing-form", "/admin/mailings/new"), ("contacts", "/admin/contacts"), ("contact", "/admin/contacts/1"),
         ("subscriptions", "/admin/subscriptions"), ("chatbot", "/admin/chatbot"), ("telephony", "/admin/telephony"),
         ("settings", "/admin/settings")]


async def fill(base: str) -> None:
    auth = {"Authorization": f"Token {TOKEN}"}
    now = datetime.now(timezone.utc)
    async with aiohttp.ClientSession(headers=auth) as http:
        for n, (tag, zone) in enumerate([("vip", "Europe/Moscow"), ("vip", "Asia/Vladivostok"), ("moscow", "UTC"),
                                         ("", "Europe/Moscow"), ("moscow", "Europe/Moscow")] * 8):
            await http.post(f"{base}/Clients/", json={"phone_number": f"7977{n:07d}", "tag": tag, "timezone": zone})
        for text, start, hours, fields in [
            ("Autumn sale: -20% on every order this week", now - timedelta(minutes=5), 3, {}),
            ("VIP evening: your personal manager is waiting", now - timedelta(minutes=2), 2, {"filter_tag": "vip"}),
            ("Winter timetable from Monday", now + timedelta(days=1), 6, {"window_start": "09:00", "window_end": "21:00"}),
        ]:
            await http.post(f"{base}/Mailing/", json={"message_text": text, "datetime_start": start.isoformat(),
                                                     "datetime_end": (start + timedelta(hours=hours)).isoformat(),
                                                     **fields})
        await http.post(f"{base}/chatbot/templates/", json={
            "templates": ["Hi! How was your day?", "I saw your profile and smiled", "Do you like travelling?"],
            "profile": {"id_user": 1001, "name": "Olga"}})
        await http.post(f"{base}/api/v1/accounts/1/chat-messages", json={"text": "Is my order ready?",
                                                                        "type": "FRIEND_MESSAGE"})


async def photograph(base: str) -> None:
    from playwright.async_api import async_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(f"{base}/admin/login")
        await page.get_by_label("Name").fill("anna")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_load_state()
        await page.goto(f"{base}/admin/contacts/1")
        await page.get_by_label("SMS to 79770000000").fill("Yes: it is ready, come any time before 20:00.")
        await page.get_by_role("button", name="Send SMS").click()
        await page.wait_for_load_state()
        for name, path in PAGES:
            answer = await page.goto(base + path)
            if answer is None or answer.status != 200:
                print(f"{path}: HTTP {answer.status if answer else '?'}, no screenshot")
                continue
            await page.wait_for_load_state("networkidle")
            await page.screenshot(path=OUT / f"{name}.png", full_page=False)
            print(f"docs/screenshots/{name}.png")
        await browser.close()


def main() -> int:
    if CHROMIUM is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        env = {**os.environ, "HERALD_STORAGE__PATH": str(Path(folder) / "shots.db"), "HERALD_SERVER__PORT": str(port),
               "HERALD_AUTH__API_TOKENS": f'["{TOKEN}"]', "HERALD_LOG__LEVEL": "WARNING",
               "HERALD_ADMIN_PASSWORD": PASSWORD}
        subprocess.run([sys.executable, str(ROOT / "main.py"), "create_admin", "anna"], env=env, check=True, cwd=folder,
                       stdout=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, str(ROOT / "main.py")], env=env, cwd=folder)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_until_up(base))
            asyncio.run(fill(base))
            asyncio.run(photograph(base))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

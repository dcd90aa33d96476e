"""A subscriber's whole story, end to end, with nothing replaced: the app on a SQLite file, a real
SMTP server, a price index on 127.0.0.1. Subscribe, confirm through the emailed link, get a price
change, receive and read the price email, unsubscribe through its List-Unsubscribe link. And the
seed's commands, run as an operator runs them."""

from __future__ import annotations

import asyncio
import hashlib
import email
import email.policy
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobs.price_emails import send_emails
from jobs.price_updates import update_subscriptions
from server.app import create_app
from server.gateways.price_index import make_price_source
from server.keys import DB, OUTBOX, SCHEDULER, SETTINGS
from tests.conftest import AUTH
from tests.pages import open_page, press_button
from tests.passport_service import PassportService
from tests.price_index import PriceIndex

API = "/email_subscription/v1.0"
ROOT = Path(__file__).resolve().parent.parent


def trip(days_ahead: int, length: int) -> str:
    forward = datetime.now(timezone.utc).date() + timedelta(days=days_ahead)
    return f"c213_c239_{forward}_{forward + timedelta(days=length)}_economy_1_0_0_ru"


@pytest.fixture
async def price_index():
    index = PriceIndex()
    await index.start()
    yield index
    await index.stop()
    assert index.protocol_errors == []


@pytest.fixture
async def herald(smtp_server, price_index, aiohttp_client, make_settings):  # noqa: F811
    settings = make_settings(
        smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
        server={"public_url": "http://herald.test"},
        subscriptions={"price_index": "http", "price_index_url": price_index.url,
                       "price_index_token": price_index.token},
    )
    return await aiohttp_client(create_app(settings))


def links(received) -> list[str]:
    return re.findall(r"https?://[^\s<>\"]+", received.body("plain"))


async def follow(herald, url: str, method: str = "GET", **kwargs) -> dict:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://herald.test"
    response = await herald.request(method, f"{parts.path}?{parts.query}", **kwargs)
    assert response.status == 200, await response.text()
    return await response.json()


async def update_prices(herald, now: datetime) -> None:
    source = make_price_source(herald.app[SETTINGS].subscriptions)
    try:
        summary = await update_subscriptions(herald.app[DB], source, now=now)
    finally:
        await source.close()
    assert summary.failed_batches == 0


async def test_subscribe_confirm_price_change_email_and_one_click_unsubscribe(herald, smtp_server, price_index):  # noqa: F811
    qkey = trip(days_ahead=40, length=7)
    response = await herald.get(f"{API}/subscribe", headers=AUTH, params={
        "email": "vasya@example.com", "passportuid": "36972065", "qkey": qkey, "email_source": "VALERA"})
    subscriber_id = (await response.json())["data"]["id"]

    await smtp_server.wait_for(1)
    confirm = next(url for url in links(smtp_server.received[0]) if "/confirm/page?" in url)
    assert "Подписка подтверждена" in (await press_button(herald, await open_page(herald, confirm))).text
    listed = await (await herald.get(f"{API}/user_subscriptions/list", headers=AUTH,
                                     params={"passportuid": "36972065"})).json()
    assert listed["data"]["subscriptions"] == [qkey]

    # Yesterday's price, then today's: cheaper by 1,500.
    today = datetime.now(timezone.utc)
    price_index.prices[qkey] = 12_000.0
    await update_prices(herald, today - timedelta(days=1))
    price_index.prices[qkey] = 10_500.0
    await update_prices(herald, today)
    summary = await send_emails(herald.app[DB], herald.app[OUTBOX], public_url="http://herald.test")
    assert (summary.queued, summary.delivery.sent) == (1, 1)

    await smtp_server.wait_for(2)
    price_email = smtp_server.received[1]
    assert price_email.rcpt_tos == ["vasya@example.com"]
    text, html = price_email.body("plain"), price_email.body("html")
    forward = datetime.fromisoformat(qkey.split("_")[2]).date()
    month_genitive = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
                      "октября", "ноября", "декабря"][forward.month - 1]
    for part in (text, html):
        assert "Москва" in part and "Сочи" in part
        assert f"{forward.day} {month_genitive}" in part
        assert re.search(r"10[\s\u00a0]?500", part) and re.search(r"12[\s\u00a0]?000", part)
    unsubscribe = price_email.message["List-Unsubscribe"].strip("<>")
    assert unsubscribe == f"http://herald.test{API}/unsubscribe/by_direction?id={subscriber_id}&qkey={qkey}"
    assert price_email.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The email's own link opens a page that asks first: opening it unsubscribes nobody.
    [page_link] = [url for url in links(price_email) if "/unsubscribe" in url]
    assert page_link == f"http://herald.test{API}/unsubscribe/by_direction/page?id={subscriber_id}&qkey={qkey}"
    page = await open_page(herald, page_link)
    assert page.buttons == ["Отписаться"] and "Москва — Сочи" in page.text
    listed = await (await herald.get(f"{API}/user_subscriptions/list", headers=AUTH,
                                     params={"passportuid": "36972065"})).json()
    assert listed["data"]["subscriptions"] == [qkey]

    # RFC 8058: what a mail client does with those two headers.
    assert await follow(herald, unsubscribe, "POST", data={"List-Unsubscribe": "One-Click"}) == \
        {"status": "success", "data": {"id": subscriber_id}}
    listed = await (await herald.get(f"{API}/user_subscriptions/list", headers=AUTH,
                                     params={"passportuid": "36972065"})).json()
    assert listed["data"]["subscriptions"] == []

    # Unsubscribed: another change brings no email; and the change already mailed never comes twice.
    price_index.prices[qkey] = 9_000.0
    await update_prices(herald, today)
    again = await send_emails(herald.app[DB], herald.app[OUTBOX], public_url="http://herald.test")
    assert (again.queued, again.delivery.sent) == (0, 0)
    assert len(smtp_server.received) == 2


async def test_an_unconfirmed_address_gets_nothing_but_the_confirmation(herald, smtp_server, price_index):  # noqa: F811
    qkey = trip(days_ahead=30, length=3)
    await herald.get(f"{API}/subscribe", headers=AUTH,
                     params={"email": "new@example.com", "session": "s1", "qkey": qkey})
    today = datetime.now(timezone.utc)
    price_index.prices[qkey] = 5_000.0
    await update_prices(herald, today - timedelta(days=1))
    price_index.prices[qkey] = 4_000.0
    await update_prices(herald, today)
    summary = await send_emails(herald.app[DB], herald.app[OUTBOX], public_url="http://herald.test")
    assert summary.queued == 0
    await asyncio.sleep(0.3)
    assert [m.message["Subject"] for m in smtp_server.received if "/confirm/page?" not in m.body("plain")] == []


def run_main(tmp_path: Path, *args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HERALD_STORAGE__PATH=str(tmp_path / "h.db"), HERALD_SMTP__OUTBOX_DIR=str(tmp_path / "outbox"),
               HERALD_SERVER__PUBLIC_URL="http://herald.test", **env_overrides)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(tmp_path / "none.toml"), *args],
                          capture_output=True, text=True, timeout=120, env=env)


async def test_the_seeds_commands_as_an_operator_runs_them(tmp_path, aiohttp_client, make_settings):
    """Subscribe and confirm through the API; then, as the seed does from a shell:
    set_test_min_price_for_direction, send_emails (twice: nothing twice), send_email_to."""
    settings = make_settings(storage={"path": str(tmp_path / "h.db")}, smtp={"outbox_dir": str(tmp_path / "outbox")},
                             subscriptions={"double_opt_in": False}, server={"public_url": "http://herald.test"})
    herald = await aiohttp_client(create_app(settings))
    qkey = trip(days_ahead=20, length=5)
    for address in ("a@example.com", "b@example.com"):
        response = await herald.get(f"{API}/subscribe", headers=AUTH,
                                    params={"email": address, "session": address, "qkey": qkey})
        assert (await response.json())["data"]["required_double_opt_in"] is False
    await herald.close()

    result = await asyncio.to_thread(run_main, tmp_path, "set_test_min_price_for_direction", qkey)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 2  # yesterday's and today's price

    result = await asyncio.to_thread(run_main, tmp_path, "send_emails")
    assert result.returncode == 0, result.stderr
    assert "2 emails sent" in result.stdout
    eml = sorted((tmp_path / "outbox").glob("*.eml"))
    recipients = sorted(email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["To"]
                        for path in eml)
    assert recipients == ["a@example.com", "b@example.com"]

    result = await asyncio.to_thread(run_main, tmp_path, "send_emails")
    assert "0 emails sent" in result.stdout and len(list((tmp_path / "outbox").glob("*.eml"))) == 2

    result = await asyncio.to_thread(run_main, tmp_path, "set_test_min_price_for_direction", qkey,
                                     HERALD_SUBSCRIPTIONS__PRODUCTION="true")
    assert result.returncode == 2 and "production" in result.stderr

    result = await asyncio.to_thread(run_main, tmp_path, "set_test_min_price_for_direction", qkey)
    result = await asyncio.to_thread(run_main, tmp_path, "send_email_to", "b@example.com")
    assert result.returncode == 0, result.stderr
    newest = max((tmp_path / "outbox").glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
    assert email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)["To"] == "b@example.com"


async def subscribe_confirmed(herald, address: str, passportuid: str, qkey: str) -> str:
    response = await herald.get(f"{API}/subscribe", headers=AUTH, params={
        "email": address, "passportuid": passportuid, "qkey": qkey})
    subscriber_id = (await response.json())["data"]["id"]
    proof = hashlib.sha256(passportuid.encode()).hexdigest()
    confirmed = await herald.post(f"{API}/confirm", data={"id": subscriber_id, "p": proof})
    assert confirmed.status == 200, await confirmed.text()
    return subscriber_id


async def test_a_new_subscription_is_mailed_a_change_on_its_first_day(herald, smtp_server, price_index):  # noqa: F811
    """The baseline is the price seen first: the direction's first price after subscribing, or its
    price at the time for a direction that already had one. No second day of prices is needed."""
    qkey = trip(days_ahead=50, length=4)
    today = datetime.now(timezone.utc)
    await subscribe_confirmed(herald, "first@example.com", "1001", qkey)

    async def run_and_send(price: float) -> tuple[int, int]:
        price_index.prices[qkey] = price
        await update_prices(herald, today)
        summary = await send_emails(herald.app[DB], herald.app[OUTBOX], public_url="http://herald.test")
        return summary.queued, summary.delivery.sent

    assert await run_and_send(12_000.0) == (0, 0)  # its first price: the baseline, nothing to tell
    assert await run_and_send(12_000.0) == (0, 0)  # no change: no email
    assert await run_and_send(11_000.0) == (1, 1)  # the same day, cheaper: mailed at once
    await smtp_server.wait_for(2)  # the confirmation and this one
    [first] = [m for m in smtp_server.received if m.rcpt_tos == ["first@example.com"] and "/confirm" not in
               m.body("plain")]
    assert re.search(r"11[\s\u00a0]?000", first.body("plain")) and re.search(r"12[\s\u00a0]?000", first.body("plain"))

    # Subscribing to a direction that has a price: that price is the baseline.
    await subscribe_confirmed(herald, "second@example.com", "1002", qkey)
    assert await run_and_send(11_000.0) == (0, 0)
    assert await run_and_send(10_500.0) == (2, 2)  # both, each against what it knew: 11,000
    await smtp_server.wait_for(5)  # and the second confirmation, and these two
    second = next(m for m in smtp_server.received[3:] if m.rcpt_tos == ["second@example.com"])
    assert re.search(r"10[\s\u00a0]?500", second.body("plain")) and re.search(r"11[\s\u00a0]?000", second.body("plain"))


@pytest.fixture
async def passport_service():
    service = PassportService()
    await service.start()
    yield service
    await service.stop()
    assert service.protocol_errors == []


async def test_subscribing_by_passport_alone_mails_once_the_account_service_knows_the_email(
        smtp_server, price_index, passport_service, aiohttp_client, make_settings):  # noqa: F811
    """Seed 001's third way to subscribe: stored at once, and its price emails start with the
    server's scheduled send_emails run that finds the account's email (no confirmation needed)."""
    settings = make_settings(
        smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
        server={"public_url": "http://herald.test"},
        subscriptions={"price_index": "http", "price_index_url": price_index.url,
                       "price_index_token": price_index.token, "passport_email_url": passport_service.url,
                       "passport_email_token": passport_service.token})
    herald = await aiohttp_client(create_app(settings))
    qkey = trip(days_ahead=45, length=3)
    response = await herald.get(f"{API}/subscribe", headers=AUTH,
                                params={"passportuid": "777", "qkey": qkey, "email_source": "VALERA"})
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert set(data) == {"required_double_opt_in", "id", "pending"}
    assert (data["required_double_opt_in"], data["pending"]) == (False, False)
    listed = await (await herald.get(f"{API}/user_subscriptions/list", headers=AUTH,
                                     params={"passportuid": "777"})).json()
    assert listed["data"] == {"id": data["id"], "subscriptions": [qkey]}

    today = datetime.now(timezone.utc)
    price_index.prices[qkey] = 8_000.0
    await update_prices(herald, today)
    price_index.prices[qkey] = 7_000.0
    await update_prices(herald, today)
    scheduled_send = herald.app[SCHEDULER].get_job("send_emails").func

    await scheduled_send()  # the account service does not know the email yet: nothing to send
    assert passport_service.asked == ["777"]
    assert await herald.app[DB].fetch_value("SELECT count(*) FROM messages WHERE channel = 'email'") == 0

    passport_service.emails["777"] = "Pass@Example.com"
    await scheduled_send()
    await smtp_server.wait_for(1)
    [price_email] = smtp_server.received
    assert price_email.rcpt_tos == ["pass@example.com"]
    assert "7\u00a0000" in price_email.body("plain") and "8\u00a0000" in price_email.body("plain")
    assert "/confirm" not in price_email.body("plain")
    listed = await (await herald.get(f"{API}/user_subscriptions/list", headers=AUTH,
                                     params={"email": "pass@example.com"})).json()
    assert listed["data"] == {"id": data["id"], "subscriptions": [qkey]}

    await scheduled_send()  # known now: not asked again
    assert passport_service.asked == ["777", "777"]


async def test_the_send_emails_command_asks_the_account_service_too(tmp_path, passport_service, aiohttp_client,
                                                                    make_settings):
    settings = make_settings(storage={"path": str(tmp_path / "h.db")}, smtp={"outbox_dir": str(tmp_path / "outbox")},
                             server={"public_url": "http://herald.test"})
    herald = await aiohttp_client(create_app(settings))
    qkey = trip(days_ahead=25, length=2)
    response = await herald.get(f"{API}/subscribe", headers=AUTH, params={"passportuid": "778", "qkey": qkey})
    assert response.status == 200
    await herald.close()
    passport_service.emails["778"] = "cmd@example.com"

    result = await asyncio.to_thread(run_main, tmp_path, "set_test_min_price_for_direction", qkey)
    assert result.returncode == 0, result.stderr
    result = await asyncio.to_thread(run_main, tmp_path, "send_emails",
                                     HERALD_SUBSCRIPTIONS__PASSPORT_EMAIL_URL=passport_service.url,
                                     HERALD_SUBSCRIPTIONS__PASSPORT_EMAIL_TOKEN=passport_service.token)
    assert result.returncode == 0, result.stderr
    assert "1 found" in result.stdout and "1 emails sent" in result.stdout
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)["To"] == "cmd@example.com"

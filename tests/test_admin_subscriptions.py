"""The admin UI's subscriptions pages (handlers/admin_subscriptions.py) over real flows: subscribers
made and confirmed through the subscription API, prices from a price index on 127.0.0.1, emails
through a real SMTP server. The subscribers, directions and emails lists with their searches,
filters and keyset pages; a direction's page whose chart data is the stored prices; the runs page
starting `update_subscriptions` and `send_emails` under the jobs' lease, following them to their
end, refusing a second start; and the same in a real browser (the chart drawn, a run followed)."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from handlers import admin_subscriptions
from jobs.price_updates import update_subscriptions
from jobs.scheduler import STALE_LEASE
from server import passwords
from server.app import create_app
from server.gateways.price_index import make_price_source
from server.keys import DB, SETTINGS
from server.templating import money
from server.timeutil import utc_now
from storage import admins, job_runs
from storage.prices import prices_of_direction
from tests.browser import browser  # noqa: F401 (fixture)
from tests.conftest import AUTH
from tests.price_index import PriceIndex
from tests.test_admin_access import NAME, PASSWORD, log_in, token_in
from tests.test_admin_browser import log_in_with_the_form

API = "/email_subscription/v1.0"


def trip(days_ahead: int, length: int = 7, start: str = "c213") -> str:
    forward = datetime.now(timezone.utc).date() + timedelta(days=days_ahead)
    return f"{start}_c239_{forward}_{forward + timedelta(days=length)}_economy_1_0_0_ru"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def price_index():
    index = PriceIndex()
    await index.start()
    yield index
    await index.stop()
    assert index.protocol_errors == []


@pytest.fixture
def operator(aiohttp_client, make_settings, smtp_server, price_index):  # noqa: F811
    """operator(**sections) -> a client of the app (the price index and SMTP server above) logged
    in as an operator; `.csrf` is its token. The app opens the runs as server/app.py is to open them."""

    async def start(**sections):
        settings = make_settings(**{
            "smtp": {"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
            "server": {"public_url": "http://herald.test"},
            **sections,
            "subscriptions": {"price_index": "http", "price_index_url": price_index.url,
                              "price_index_token": price_index.token, **sections.get("subscriptions", {})},
        })
        app = create_app(settings)
        if admin_subscriptions.runs not in app.cleanup_ctx:
            app.cleanup_ctx.append(admin_subscriptions.runs)
        api = await aiohttp_client(app)
        await admins.create_admin(api.app[DB], NAME, passwords.hash_password(PASSWORD))
        assert (await log_in(api)).status == 303
        api.csrf = token_in(await (await api.get("/admin/")).text())
        return api

    return start


async def subscribe(api, qkey: str, **who: str) -> str:
    answer = await api.get(f"{API}/subscribe", headers=AUTH, params={"qkey": qkey, "email_source": "ADMIN", **who})
    body = await answer.json()
    assert answer.status == 200, body
    return body["data"]["id"]


async def confirm(api, subscriber_id: str, passportuid: str) -> None:
    answer = await api.get(f"{API}/confirm", params={"id": subscriber_id, "p": sha256(passportuid)})
    assert answer.status == 200, await answer.text()


async def page(api, path: str, expected: int = 200, /, **params) -> str:
    answer = await api.get(path, params=params)
    text = await answer.text()
    assert answer.status == expected, text
    return text


def rows(text: str, kind: str) -> list[str]:
    """The ids of the page's table rows `<tr data-<kind>="...">`, in order."""
    return re.findall(rf'<tr data-{kind}="([^"]+)"', text)


def row(text: str, kind: str, key: str) -> str:
    return re.search(rf'<tr data-{kind}="{re.escape(key)}">(.*?)</tr>', text, re.S).group(1)


def older_link(text: str) -> str:
    return html.unescape(re.search(r'<p class="pager"><a href="([^"]+)"', text).group(1))


async def prices_on(api, day: datetime) -> None:
    """update_subscriptions as the server runs it, as of `day`."""
    source = make_price_source(api.app[SETTINGS].subscriptions)
    try:
        assert (await update_subscriptions(api.app[DB], source, now=day)).failed_batches == 0
    finally:
        await source.close()


async def newest_subscribers(api) -> list[str]:
    """Every subscriber's id, newest first (made in the same millisecond: by id), as the page orders them."""
    return [r[0] for r in await api.app[DB].fetch_all("SELECT id FROM subscribers ORDER BY created_at DESC, id DESC")]


async def direction_ids(api) -> dict[str, int]:
    found = await api.app[DB].fetch_all("SELECT id, qkey FROM directions")
    return {qkey: direction_id for direction_id, qkey in found}


def run_state(text: str, job: str) -> tuple[str, int, int | None]:
    """(state, done, total) of the job's run fragment."""
    state = re.search(rf'id="run-{job}" data-state="(\w+)"', text).group(1)
    label = re.search(r'data-done="(\d+)" data-total="(\d*)"', text)
    if label is None:
        return state, 0, None
    return state, int(label.group(1)), int(label.group(2)) if label.group(2) else None


async def run_to_the_end(api, job: str, timeout: float = 15) -> str:
    """Poll the job's fragment (as htmx does) until its run is no longer running; its last text."""
    deadline = time.monotonic() + timeout
    while True:
        text = await page(api, f"/admin/fragments/subscriptions/runs/{job}")
        if run_state(text, job)[0] not in ("running", "elsewhere"):
            return text
        assert time.monotonic() < deadline, f"{job} still running after {timeout} s: {text}"
        await asyncio.sleep(0.05)


async def start(api, job: str):
    return await api.post(f"/admin/subscriptions/runs/{job}", data={"csrf_token": api.csrf}, allow_redirects=False)


# -- subscribers -----------------------------------------------------------------------------


async def test_the_subscribers_page_shows_each_ones_state_and_directions_and_finds_them(operator, smtp_server):  # noqa: F811
    api = await operator()
    confirmed = await subscribe(api, trip(30), email="vasya@example.com", passportuid="111")
    await subscribe(api, trip(31), email="vasya@example.com", passportuid="111")
    await confirm(api, confirmed, "111")
    waiting = await subscribe(api, trip(30), email="Petya@Example.com", passportuid="222")
    no_email = await subscribe(api, trip(32), passportuid="333")
    await subscribe(api, trip(32), email="gone@example.com", session="s-gone")
    gone = (await api.app[DB].fetch_one("SELECT id FROM subscribers WHERE email = 'gone@example.com'"))[0]
    answer = await api.get(f"{API}/unsubscribe", params={"id": gone})
    assert answer.status == 200

    text = await page(api, "/admin/subscriptions")
    assert rows(text, "subscriber") == await newest_subscribers(api)
    assert set(rows(text, "subscriber")) == {gone, no_email, waiting, confirmed}
    vasya = row(text, "subscriber", confirmed)
    assert "vasya@example.com" in vasya and 'data-state="confirmed"' in vasya
    assert re.search(r"<td data-directions>2</td>", vasya)
    petya = row(text, "subscriber", waiting)
    sent_at = (await api.app[DB].fetch_one("SELECT confirmation_sent_at FROM subscribers WHERE id = ?",
                                           (waiting,)))[0]
    assert "petya@example.com" in petya and 'data-state="waiting"' in petya
    assert f"confirmation sent {sent_at[:16].replace('T', ' ')}" in petya
    assert "passport 333" in row(text, "subscriber", no_email)
    assert 'data-state="no_email"' in row(text, "subscriber", no_email)
    assert re.search(r"<td data-directions>0</td>", row(text, "subscriber", gone))  # unsubscribed from all

    assert rows(await page(api, "/admin/subscriptions", q="PETYA@"), "subscriber") == [waiting]
    assert rows(await page(api, "/admin/subscriptions", q="example.com", state="confirmed"),
                "subscriber") == [confirmed]
    assert set(rows(await page(api, "/admin/subscriptions", state="waiting"), "subscriber")) == {gone, waiting}
    assert rows(await page(api, "/admin/subscriptions", state="no_email"), "subscriber") == [no_email]
    assert rows(await page(api, "/admin/subscriptions", q="50%_"), "subscriber") == []  # wildcards are text
    assert "No subscriber matches." in await page(api, "/admin/subscriptions", q="nobody")
    await page(api, "/admin/subscriptions", 400, state="sleeping")
    await page(api, "/admin/subscriptions", 400, before="yesterday")


async def test_the_lists_page_fifty_at_a_time_newest_first(operator, smtp_server):  # noqa: F811
    api = await operator()
    made = [await subscribe(api, trip(10 + n), email=f"user{n}@example.com", session=f"s{n}") for n in range(53)]
    await smtp_server.wait_for(53)  # one confirmation each

    first = await page(api, "/admin/subscriptions")
    second = await page(api, older_link(first))
    listed = rows(first, "subscriber") + rows(second, "subscriber")
    assert listed == await newest_subscribers(api) and sorted(listed) == sorted(made)
    assert len(rows(first, "subscriber")) == 50 and 'class="pager"' not in second

    directions = await direction_ids(api)
    first = await page(api, "/admin/subscriptions/directions")
    second = await page(api, older_link(first))
    listed = [int(x) for x in rows(first, "direction") + rows(second, "direction")]
    assert listed == sorted(directions.values(), reverse=True) and len(rows(first, "direction")) == 50

    first = await page(api, "/admin/subscriptions/emails")
    second = await page(api, older_link(first))
    ids = [int(x) for x in rows(first, "email") + rows(second, "email")]
    assert len(ids) == 53 and ids == sorted(ids, reverse=True) and len(set(ids)) == 53


# -- directions ------------------------------------------------------------------------------


async def test_the_directions_list_shows_subscribers_and_the_newest_price(operator, price_index):
    api = await operator(subscriptions={"double_opt_in": False})
    popular, quiet, dropped = trip(40), trip(41, start="c54"), trip(42, start="c2")
    for n in range(3):
        await subscribe(api, popular, email=f"p{n}@example.com", session=f"p{n}")
    await subscribe(api, quiet, email="q@example.com", session="q")
    dropped_by = await subscribe(api, dropped, email="d@example.com", session="d")
    await api.get(f"{API}/unsubscribe/by_direction", params={"id": dropped_by, "qkey": dropped})
    price_index.prices[popular] = 12_000.0
    now = datetime.now(timezone.utc)
    await prices_on(api, now - timedelta(days=1))
    price_index.prices[popular] = 10_499.5
    await prices_on(api, now)
    ids = await direction_ids(api)

    text = await page(api, "/admin/subscriptions/directions")
    assert rows(text, "direction") == [str(ids[quiet]), str(ids[popular])]  # not the one nobody is subscribed to
    line = row(text, "direction", str(ids[popular]))
    assert popular in line and "<td data-subscribers>3</td>" in line
    assert f"<td data-price>{money(10_499.5, 'RUB')}</td>" in line and f"<td>{now.date()}</td>" in line
    stored = await prices_of_direction(api.app[DB], ids[popular])
    assert stored[-1]["updated_at"][:16].replace("T", " ") in line
    assert "<td data-subscribers>1</td>" in row(text, "direction", str(ids[quiet]))
    assert rows(await page(api, "/admin/subscriptions/directions", q="c54_"), "direction") == [str(ids[quiet])]


async def test_a_directions_page_charts_its_stored_prices_and_lists_them(operator, price_index):
    api = await operator(subscriptions={"double_opt_in": False})
    qkey = trip(60)
    await subscribe(api, qkey, email="a@example.com", session="a")
    await subscribe(api, qkey, email="b@example.com", session="b")
    today = datetime.now(timezone.utc)
    for days_ago, price in ((3, 9_000.0), (2, 9_250.25), (0, 8_100.0)):  # a day without a price in between
        price_index.prices[qkey] = price
        await prices_on(api, today - timedelta(days=days_ago))
    direction_id = (await direction_ids(api))[qkey]

    text = await page(api, f"/admin/subscriptions/directions/{direction_id}")
    block = re.search(r'<script type="application/json" id="price-history">(.*?)</script>', text, re.S).group(1)
    chart = json.loads(block)
    stored = await prices_of_direction(api.app[DB], direction_id)
    assert chart["days"] == [p["day"] for p in stored] == [str((today - timedelta(days=d)).date()) for d in (3, 2, 0)]
    assert chart["prices"] == [p["price"] for p in stored] == [9_000.0, 9_250.25, 8_100.0]
    assert chart["currency"] == "RUB"
    assert 'data-chart="price-history"' in text and "/admin/static/admin/charts.js" in text
    assert "<script>" not in text and "style=" not in text  # the CSP allows neither
    # The same prices as a table, newest first, for a page without its script.
    assert re.findall(r'<tr data-day="([^"]+)">', text) == chart["days"][::-1]
    assert f'<td data-price="8100.0">{money(8_100.0, "RUB")}</td>' in text
    assert "<dd data-subscribers>2</dd>" in text and "Москва → Сочи" in text
    assert len(rows(text, "subscription")) == 2
    await page(api, "/admin/subscriptions/directions/999999", 404)


async def test_a_direction_without_prices_says_so_and_the_static_files_are_served(operator):
    api = await operator(subscriptions={"double_opt_in": False})
    await subscribe(api, trip(20), email="a@example.com", session="a")
    text = await page(api, f"/admin/subscriptions/directions/{(await direction_ids(api))[trip(20)]}")
    assert "No price stored yet" in text and "price-history" not in text
    for path in ("/admin/static/admin/charts.js", "/admin/static/vendor/uPlot-1.6.32.iife.min.js",
                 "/admin/static/vendor/uPlot-1.6.32.min.css"):
        assert (await api.get(path)).status == 200


# -- emails ----------------------------------------------------------------------------------


async def test_the_emails_page_shows_confirmations_and_price_changes_by_status(operator, price_index, smtp_server):  # noqa: F811
    api = await operator()
    qkey = trip(25)
    vasya = await subscribe(api, qkey, email="vasya@example.com", passportuid="111")
    await smtp_server.wait_for(1)
    await confirm(api, vasya, "111")
    smtp_server.fail_next(1)  # Petya's confirmation: a temporary failure, tried again later
    await subscribe(api, trip(26), email="petya@example.com", passportuid="222")
    deadline = time.monotonic() + 5
    while not await api.app[DB].fetch_one("SELECT 1 FROM messages WHERE attempts = 1 AND status = 'pending'"):
        assert time.monotonic() < deadline, "Petya's confirmation was not tried"
        await asyncio.sleep(0.02)
    today = datetime.now(timezone.utc)
    price_index.prices[qkey] = 5_000.0
    await prices_on(api, today - timedelta(days=1))
    price_index.prices[qkey] = 4_500.0
    await prices_on(api, today)

    assert (await start(api, "send_emails")).status == 303
    final = await run_to_the_end(api, "send_emails")
    assert run_state(final, "send_emails")[0] == "done" and "1 price emails queued" in final
    await smtp_server.wait_for(2)
    found = {r[0]: r[1:] for r in await api.app[DB].fetch_all(
        "SELECT id, json_extract(payload, '$.kind'), status FROM messages WHERE channel = 'email' ORDER BY id")}
    assert [kind for kind, _ in found.values()] == ["confirmation", "confirmation", "price_change"]
    confirmation, retried, price_email = found

    text = await page(api, "/admin/subscriptions/emails")
    assert rows(text, "email") == [str(price_email), str(retried), str(confirmation)]
    line = row(text, "email", str(price_email))
    direction_id = (await direction_ids(api))[qkey]
    assert "vasya@example.com" in line and "price change" in line and '<span class="status sent">sent</span>' in line
    assert f'href="/admin/subscriptions/directions/{direction_id}">{qkey}</a>' in line and money(4_500.0, "RUB") in line
    sent_at = (await api.app[DB].fetch_one("SELECT sent_at FROM messages WHERE id = ?", (price_email,)))[0]
    assert sent_at[:19].replace("T", " ") in line
    waiting = row(text, "email", str(retried))
    assert "petya@example.com" in waiting and '<span class="status pending">' in waiting and "451" in waiting
    assert rows(await page(api, "/admin/subscriptions/emails", status="sent"), "email") == \
        [str(price_email), str(confirmation)]
    assert rows(await page(api, "/admin/subscriptions/emails", status="pending"), "email") == [str(retried)]
    assert "No email failed." in await page(api, "/admin/subscriptions/emails", status="failed")
    await page(api, "/admin/subscriptions/emails", 400, status="lost")


# -- runs ------------------------------------------------------------------------------------


async def test_update_subscriptions_from_the_page_stores_prices_and_a_second_start_is_refused(operator, price_index):
    api = await operator(subscriptions={"double_opt_in": False, "price_index_batch_size": 1,
                                        "price_index_concurrency": 1})
    qkeys = [trip(30 + n) for n in range(3)]
    for n, qkey in enumerate(qkeys):
        await subscribe(api, qkey, email=f"u{n}@example.com", session=f"u{n}")
        price_index.prices[qkey] = 1_000.0 + n
    price_index.delay = 0.3  # about a second for the three batches

    answer = await start(api, "update_subscriptions")
    assert answer.status == 303 and answer.headers["Location"] == "/admin/subscriptions/runs?started=update_subscriptions"
    text = await page(api, answer.headers["Location"])
    assert "update_subscriptions started: its progress follows below." in text
    assert 'hx-get="/admin/fragments/subscriptions/runs/update_subscriptions" hx-trigger="every 1s"' in text
    state, done, total = run_state(text, "update_subscriptions")
    assert state == "running" and done < 3

    again = await start(api, "update_subscriptions")
    refused = await again.text()
    assert again.status == 409
    assert f"update_subscriptions is already running (started from this page by {NAME} at" in refused
    assert "not started again." in refused

    final = await run_to_the_end(api, "update_subscriptions")
    assert run_state(final, "update_subscriptions") == ("done", 3, 3)
    assert "update_subscriptions: 3 directions asked in 3 requests: 3 prices stored" in final
    assert "hx-trigger" not in final  # no more polling
    assert price_index.asked() == {qkey: 1 for qkey in qkeys}  # asked once each: it ran once
    listed = await page(api, "/admin/subscriptions/directions")
    for n, qkey in enumerate(qkeys):
        line = row(listed, "direction", str((await direction_ids(api))[qkey]))
        assert f"<td data-price>{money(1_000.0 + n, 'RUB')}</td>" in line
    lease = await api.app[DB].fetch_one("SELECT finished_at FROM job_runs WHERE job = 'update_subscriptions'")
    assert lease[0] is not None  # given back


async def test_a_run_going_on_elsewhere_refuses_the_start_and_is_shown(operator, price_index):
    api = await operator(subscriptions={"double_opt_in": False})
    await subscribe(api, trip(30), email="u@example.com", session="u")
    assert await job_runs.take_lease(api.app[DB], "update_subscriptions", utc_now(), STALE_LEASE)  # a command's run

    text = await page(api, "/admin/subscriptions/runs")
    assert run_state(text, "update_subscriptions")[0] == "elsewhere" and "running</span> elsewhere" in text
    answer = await start(api, "update_subscriptions")
    refused = await answer.text()
    assert answer.status == 409 and '<p class="problem" role="alert">update_subscriptions is already running ' \
        "(in the server&#39;s schedule or a command); not started again.</p>" in refused
    assert price_index.requests == []
    assert run_state(refused, "update_subscriptions")[0] == "elsewhere"  # no run of its own was kept

    await job_runs.finish(api.app[DB], "update_subscriptions", utc_now())  # the command ended
    assert (await start(api, "update_subscriptions")).status == 303
    assert run_state(await run_to_the_end(api, "update_subscriptions"), "update_subscriptions") == ("done", 1, 1)


async def test_a_run_going_on_when_the_server_stops_is_cancelled_and_gives_its_lease_back(operator, price_index,
                                                                                         make_settings):
    api = await operator(subscriptions={"double_opt_in": False})
    await subscribe(api, trip(30), email="u@example.com", session="u")
    price_index.delay = 30
    assert (await start(api, "update_subscriptions")).status == 303
    await asyncio.sleep(0.2)
    run = api.app[admin_subscriptions.RUNS].last("update_subscriptions")
    assert run.running
    await api.close()
    assert run.state == "failed" and run.error == "cancelled: the server stopped"
    with sqlite3.connect(make_settings().storage.path) as conn:
        assert conn.execute("SELECT finished_at FROM job_runs WHERE job = 'update_subscriptions'").fetchone()[0]


async def test_the_runs_page_needs_its_form_token(operator):
    api = await operator()
    answer = await api.post("/admin/subscriptions/runs/update_subscriptions", data={"csrf_token": "forged"},
                            allow_redirects=False)
    assert answer.status == 403
    assert api.app[admin_subscriptions.RUNS].last("update_subscriptions") is None
    assert (await api.post("/admin/subscriptions/runs/preheat_everything", data={"csrf_token": api.csrf})).status == 404


# -- in a browser ----------------------------------------------------------------------------


async def test_in_a_browser_the_chart_is_drawn_and_a_run_is_followed_to_its_end(operator, price_index, browser):  # noqa: F811
    api = await operator(subscriptions={"double_opt_in": False, "price_index_batch_size": 1,
                                        "price_index_concurrency": 1})
    qkeys = [trip(30 + n) for n in range(4)]
    for n, qkey in enumerate(qkeys):
        await subscribe(api, qkey, email=f"u{n}@example.com", session=f"u{n}")
    today = datetime.now(timezone.utc)
    for days_ago in (2, 1):
        price_index.prices[qkeys[0]] = 3_000.0 + 100 * days_ago
        await prices_on(api, today - timedelta(days=days_ago))
    base = str(api.make_url("")).rstrip("/")
    page_ = browser.page
    await log_in_with_the_form(page_, base)

    await page_.get_by_role("link", name="Subscriptions", exact=True).click()
    await page_.get_by_role("link", name="Directions", exact=True).click()
    await page_.get_by_role("link", name=qkeys[0], exact=True).click()
    await page_.wait_for_selector("#price-chart canvas", state="attached")
    assert await page_.locator("#price-chart").get_attribute("data-drawn") == "true"
    box = await page_.locator("#price-chart canvas").bounding_box()
    assert box["width"] > 300 and box["height"] > 100

    price_index.delay = 0.25  # four batches, one at a time: about a second to follow
    await page_.get_by_role("link", name="Runs", exact=True).click()
    await page_.get_by_role("button", name="Run update_subscriptions now").click()
    await page_.wait_for_url(f"{base}/admin/subscriptions/runs?started=update_subscriptions")
    assert await page_.get_by_role("status").inner_text() == "update_subscriptions started: its progress follows below."
    await page_.wait_for_selector('#run-update_subscriptions[data-state="done"]', timeout=15_000)
    label = page_.locator("#run-update_subscriptions .progress-label")
    assert await label.inner_text() == "4 of 4 directions"
    assert await page_.locator("#run-update_subscriptions progress").get_attribute("value") == "100"
    assert "4 prices stored" in await page_.locator("#run-update_subscriptions .outcome").inner_text()
    for direction_id in (await direction_ids(api)).values():  # today's price of each, stored by the run
        assert (await prices_of_direction(api.app[DB], direction_id))[-1]["day"] == str(today.date())

"""handlers/subscription_pages.py and HEAD: the links in emails open pages that act only on their
button's POST, so a mail scanner's GET or HEAD changes nothing; the seed's API routes still act
on GET for API callers, but never on HEAD. Against the real app, a real SQLite file and a real
SMTP server, reading the pages as a browser would."""

from __future__ import annotations

import hashlib
import re

import pytest

from server.app import create_app
from server.keys import DB
from tests.conftest import AUTH
from tests.pages import Page, open_page, press_button
from tests.test_openapi import Checker

API = "/email_subscription/v1.0"
QKEY = "c213_c2_2030-04-01_None_economy_1_0_0_ru"
OTHER = "c213_c239_2030-05-02_2030-05-09_economy_1_0_0_ru"
PASSPORT = "36972065"
P = hashlib.sha256(PASSPORT.encode()).hexdigest()
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@pytest.fixture
async def api(smtp_server, aiohttp_client, make_settings):  # noqa: F811
    settings = make_settings(smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
                             server={"public_url": "http://herald.test"})
    return await aiohttp_client(create_app(settings))


async def subscribed(api, *qkeys: str) -> str:
    """A subscriber (email and passport, not confirmed yet) of `qkeys`; its id."""
    for qkey in qkeys:
        response = await api.get(f"{API}/subscribe", headers=AUTH,
                                 params={"email": "vasya@example.com", "passportuid": PASSPORT, "qkey": qkey})
        assert response.status == 200, await response.text()
    return (await response.json())["data"]["id"]


async def state(api) -> list[tuple]:
    """Everything a link could change: confirmations, subscriptions, emails queued."""
    db = api.app[DB]
    return [tuple(row) for sql in ("SELECT id, email, confirmed_at FROM subscribers ORDER BY id",
                                   "SELECT id, qkey, unsubscribed_at FROM subscriptions ORDER BY id",
                                   "SELECT count(*) FROM messages")
            for row in await db.fetch_all(sql)]


async def active(api) -> list[str]:
    response = await api.get(f"{API}/user_subscriptions/list", headers=AUTH, params={"passportuid": PASSPORT})
    return (await response.json())["data"]["subscriptions"]


async def is_confirmed(api) -> bool:
    return await api.app[DB].fetch_value("SELECT confirmed_at IS NOT NULL FROM subscribers") == 1


def emailed_links(smtp_server) -> list[str]:
    return [url for received in smtp_server.received
            for url in re.findall(r"https?://\S+", received.body("plain"))]


# -- HEAD ----------------------------------------------------------------------------------------


async def test_head_changes_nothing_on_any_route(api):
    """Every route that answers HEAD, given everything it could act on, with a token."""
    subscriber_id = await subscribed(api, QKEY)
    params = {"id": subscriber_id, "p": P, "qkey": QKEY, "email": "vasya@example.com", "passportuid": PASSPORT,
              "email_source": "HEAD"}
    before = await state(api)
    heads = sorted({route.resource.canonical.replace("{slash}", "") for route in api.app.router.routes()
                    if route.method == "HEAD" and "{" not in route.resource.canonical.replace("{slash}", "")})
    for path in heads:
        response = await api.head(path, params={**params, "qkey": OTHER if path.endswith("subscribe") else QKEY},
                                  headers=AUTH)
        assert response.status < 500, path
        assert await state(api) == before, f"HEAD {path} changed something"
    assert not await is_confirmed(api) and await active(api) == [QKEY]
    assert {f"{API}/subscribe", f"{API}/confirm", f"{API}/unsubscribe", f"{API}/unsubscribe/by_direction",
            f"{API}/confirm/page", f"{API}/unsubscribe/page", f"{API}/unsubscribe/by_direction/page"} <= set(heads)


async def test_head_on_an_api_route_checks_the_parameters_only(api):
    subscriber_id = await subscribed(api, QKEY)
    assert (await api.head(f"{API}/unsubscribe", params={"id": subscriber_id})).status == 200
    assert await active(api) == [QKEY]
    assert (await api.head(f"{API}/unsubscribe")).status == 400
    assert (await api.head(f"{API}/confirm", params={"id": subscriber_id})).status == 400  # p or s missing
    assert (await api.head(f"{API}/subscribe", params={"passportuid": PASSPORT, "qkey": OTHER})).status == 401
    # GET still does what the seed says.
    response = await api.get(f"{API}/unsubscribe", params={"id": subscriber_id})
    assert await response.json() == {"status": "success", "data": {"id": subscriber_id}}
    assert await active(api) == []


# -- the confirmation page -------------------------------------------------------------------------


async def test_the_confirmation_link_asks_first_and_the_button_confirms(api, smtp_server):  # noqa: F811
    subscriber_id = await subscribed(api, QKEY)
    await smtp_server.wait_for(1)
    [link] = [url for url in emailed_links(smtp_server) if "/confirm" in url]
    assert link == f"http://herald.test{API}/confirm/page?id={subscriber_id}&p={P}"

    response = await api.get(link.removeprefix("http://herald.test"))
    assert response.content_type == "text/html" and response.charset == "utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    page = Page(await response.text())
    assert page.title == "Подтверждение подписки" and page.buttons == ["Подтвердить подписку"]
    assert page.form.action == f"{API}/confirm/page" and page.form.fields == {"id": subscriber_id, "p": P}
    assert not await is_confirmed(api)  # opening the link (a scanner does) confirms nothing

    done = await press_button(api, page)
    assert "Подписка подтверждена" in done.text and done.forms == []
    assert await is_confirmed(api)
    again = await open_page(api, link)
    assert "уже подтверждён" in again.text and again.forms == []
    assert "уже подтверждён" in (await press_button(api, page)).text  # a second press is harmless


async def test_a_confirmation_link_that_does_not_work_is_a_page_with_the_apis_status(api):
    subscriber_id = await subscribed(api, QKEY)
    wrong = await api.get(f"{API}/confirm/page", params={"id": subscriber_id, "p": hashlib.sha256(b"1").hexdigest()})
    assert wrong.status == 400 and wrong.content_type == "text/html"
    assert wrong.headers["X-Frame-Options"] == "DENY"
    assert "Ссылка не работает" in Page(await wrong.text()).text
    posted = await api.post(f"{API}/confirm/page", data={"id": subscriber_id, "p": hashlib.sha256(b"1").hexdigest()})
    assert posted.status == 400 and not await is_confirmed(api)
    missing = await api.get(f"{API}/confirm/page", params={"id": "no-such-id", "p": P})
    assert missing.status == 404 and "Такой подписки нет" in Page(await missing.text()).text
    assert (await api.get(f"{API}/confirm/page", params={"id": subscriber_id})).status == 400


async def test_what_a_link_carries_is_escaped_never_markup(api):
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    response = await api.get(f"{API}/confirm/page", params={"id": attack[:64], "p": P})
    body = await response.text()
    assert response.status == 404
    assert "<script" not in body and "<img" not in body and "&lt;script&gt;" in body
    response = await api.get(f"{API}/unsubscribe/by_direction/page", params={"id": "x", "qkey": attack})
    body = await response.text()
    assert response.status == 400 and "<script" not in body


# -- the unsubscribe pages -------------------------------------------------------------------------


async def test_unsubscribing_from_one_direction_asks_first_and_says_which(api):
    subscriber_id = await subscribed(api, QKEY, OTHER)
    link = f"http://herald.test{API}/unsubscribe/by_direction/page?id={subscriber_id}&qkey={OTHER}"

    page = await open_page(api, link)
    assert page.buttons == ["Отписаться"]
    assert "c213 — c239, 2 мая – 9 мая" in page.text  # no price has named the points yet
    assert page.form.fields == {"id": subscriber_id, "qkey": OTHER}
    assert await active(api) == [QKEY, OTHER]

    done = await press_button(api, page)
    assert "Вы отписались" in done.text and "c213 — c239" in done.text
    assert await active(api) == [QKEY]
    assert "уже не приходят" in (await open_page(api, link)).text

    missing = await api.get(f"{API}/unsubscribe/by_direction/page",
                            params={"id": subscriber_id, "qkey": "c213_c2_2030-04-02_None_economy_1_0_0_ru"})
    assert missing.status == 404 and missing.content_type == "text/html"


async def test_unsubscribing_from_everything_asks_first(api, smtp_server):  # noqa: F811
    subscriber_id = await subscribed(api, QKEY, OTHER)
    await smtp_server.wait_for(1)
    [link] = [url for url in emailed_links(smtp_server) if "/unsubscribe" in url]  # the confirmation's
    assert link == f"http://herald.test{API}/unsubscribe/page?id={subscriber_id}"
    assert smtp_server.received[0].message["List-Unsubscribe"] == \
        f"<http://herald.test{API}/unsubscribe?id={subscriber_id}>"

    page = await open_page(api, link)
    assert page.buttons == ["Отписаться"] and "по всем направлениям" in page.text
    assert await active(api) == [QKEY, OTHER]
    assert "Вы отписались" in (await press_button(api, page)).text
    assert await active(api) == []
    assert "не подписаны ни на одно" in (await open_page(api, link)).text
    assert (await api.get(f"{API}/unsubscribe/page", params={"id": "no-such-id"})).status == 404


async def test_the_one_click_post_of_rfc_8058_still_unsubscribes_at_once(api):
    subscriber_id = await subscribed(api, QKEY)
    response = await api.post(f"{API}/unsubscribe?id={subscriber_id}", data={"List-Unsubscribe": "One-Click"})
    assert await response.json() == {"status": "success", "data": {"id": subscriber_id}}
    assert await active(api) == []


async def test_the_pages_answer_as_server_openapi_json_says(api):
    check = Checker(api)
    subscriber_id = await subscribed(api, QKEY)
    await check("GET", f"{API}/confirm/page", 200, query={"id": subscriber_id, "p": P})
    await check("GET", f"{API}/confirm/page", 400, query={"id": subscriber_id})
    await check("GET", f"{API}/confirm/page", 404, query={"id": "nobody", "p": P})
    await check("POST", f"{API}/confirm/page", 200, data={"id": subscriber_id, "p": P})
    await check("POST", f"{API}/confirm/page", 415, data=b"id", headers={"Content-Type": "text/plain"})
    await check("GET", f"{API}/unsubscribe/by_direction/page", 200, query={"id": subscriber_id, "qkey": QKEY})
    await check("GET", f"{API}/unsubscribe/by_direction/page", 404, query={"id": subscriber_id, "qkey": OTHER})
    await check("POST", f"{API}/unsubscribe/by_direction/page", 200, json={"id": subscriber_id, "qkey": QKEY})
    await check("GET", f"{API}/unsubscribe/page", 200, query={"id": subscriber_id})
    await check("POST", f"{API}/unsubscribe/page", 400, data={"qkey": QKEY})
    await check("POST", f"{API}/unsubscribe/page?id={{id}}", 200, {"id": subscriber_id})

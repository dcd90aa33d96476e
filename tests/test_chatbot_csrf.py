"""/chatbot/ from the browser (server/csrf.py): Django's AJAX CSRF recipe from an allowed origin,
refused for each missing piece with the rule that failed, the CORS preflight, the service token
still working, and the body limits (a mailing may be large, every other route keeps 1 MiB)."""

from __future__ import annotations

import pytest

from server.app import create_app
from tests.conftest import AUTH

SITE = "https://victoriabrides.com"
INNA = {"id_user": 1671492, "name": "Inna"}
TEMPLATES = {"templates": ["Hi {name}"], "profile": INNA}
ROUTES = ["/chatbot/templates/", "/chatbot/mailing/", "/chatbot/report/"]


@pytest.fixture
async def browser(aiohttp_client, make_settings):
    """A client of the app that allows SITE, as a browser on SITE's pages: it keeps cookies."""
    return await aiohttp_client(create_app(make_settings(chatbot={"allowed_origins": [SITE]})))


async def csrf_token(browser, origin: str = SITE) -> str:
    response = await browser.get("/chatbot/csrf/", headers={"Origin": origin})
    body = await response.json()
    assert response.status == 200 and body == {"result": True, "csrftoken": body["csrftoken"]}
    assert browser.session.cookie_jar.filter_cookies(browser.make_url("/chatbot/"))["csrftoken"].value == body[
        "csrftoken"]
    return body["csrftoken"]


async def test_the_csrf_route_sets_a_random_cookie_for_cross_site_use(browser):
    response = await browser.get("/chatbot/csrf/", headers={"Origin": SITE})
    cookie = response.cookies["csrftoken"]
    token = (await response.json())["csrftoken"]
    assert cookie.value == token and len(token) >= 32
    assert cookie["samesite"] == "None" and not cookie["secure"]  # public_url is http here
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert response.headers["Access-Control-Allow-Credentials"] == "true" and response.headers["Vary"] == "Origin"
    assert await csrf_token(browser) != token  # a new one each time
    other = await browser.get("/chatbot/csrf/", headers={"Origin": "https://evil.example"})
    assert other.status == 200 and "Access-Control-Allow-Origin" not in other.headers  # no credentials needed
    assert "Access-Control-Allow-Origin" not in (await browser.get("/chatbot/csrf/")).headers


async def test_the_cookie_is_secure_when_herald_is_served_over_https(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(server={"public_url": "https://herald.example"},
                                                           chatbot={"allowed_origins": [SITE]})))
    response = await client.get("/chatbot/csrf/", headers={"Origin": SITE})
    assert response.cookies["csrftoken"]["secure"] and response.cookies["csrftoken"]["samesite"] == "None"


async def test_a_post_with_the_cookie_and_its_header_from_an_allowed_origin_is_accepted(browser):
    token = await csrf_token(browser)
    response = await browser.post("/chatbot/templates/", json=TEMPLATES, headers={"Origin": SITE, "X-CSRFToken": token})
    assert response.status == 200 and await response.json() == {"result": True, "received": 1}
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    mailing = {"data": {"users": [{"id_user": 5, "name": "Bob"}], "count": 1, "female_id": 1671492}}
    response = await browser.post("/chatbot/mailing/", json=mailing, headers={"Origin": SITE, "X-CSRFToken": token})
    assert await response.json() == {"result": True, "received": 0, "data": {"5": "Hi Bob"}}
    # an error answer to the page carries the CORS headers too, so that its script can read it
    response = await browser.post("/chatbot/mailing/", json={}, headers={"Origin": SITE, "X-CSRFToken": token})
    assert response.status == 400 and response.headers["Access-Control-Allow-Origin"] == SITE


@pytest.mark.parametrize("case,why", [
    ("no cookie", "CSRF cookie not set"),
    ("header differs", "CSRF token incorrect"),
    ("no header", "CSRF token missing"),
    ("origin not allowed", "Origin https://evil.example is not one of chatbot.allowed_origins"),
    ("no origin", "no Origin header"),
])
async def test_a_browser_post_missing_a_piece_is_a_403_saying_which(browser, case, why):
    token = await csrf_token(browser)
    headers = {"Origin": SITE, "X-CSRFToken": token}
    if case == "no cookie":
        browser.session.cookie_jar.clear()
    elif case == "header differs":
        headers["X-CSRFToken"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif case == "no header":
        del headers["X-CSRFToken"]
    elif case == "origin not allowed":
        headers["Origin"] = "https://evil.example"
    else:
        del headers["Origin"]
    response = await browser.post("/chatbot/templates/", json=TEMPLATES, headers=headers)
    body = await response.json()
    assert response.status == 403 and body["result"] is False and why in body["error"], body
    assert (response.headers.get("Access-Control-Allow-Origin") == SITE) == (headers.get("Origin") == SITE)


async def test_browser_calls_are_off_without_allowed_origins(client):
    token = (await (await client.get("/chatbot/csrf/", headers={"Origin": SITE})).json())["csrftoken"]
    response = await client.post("/chatbot/templates/", json=TEMPLATES, headers={"Origin": SITE, "X-CSRFToken": token})
    assert response.status == 403 and "not one of chatbot.allowed_origins" in (await response.json())["error"]
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_a_service_token_still_works_and_a_wrong_one_is_refused_even_with_the_cookie(browser):
    response = await browser.post("/chatbot/templates/", json=TEMPLATES, headers=AUTH)
    assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers
    token = await csrf_token(browser)
    response = await browser.post("/chatbot/templates/", json=TEMPLATES,
                                  headers={"Authorization": "Token nope", "Origin": SITE, "X-CSRFToken": token})
    assert response.status == 403 and (await response.json())["error"] == "Invalid token."


@pytest.mark.parametrize("path", ROUTES)
async def test_the_preflight_answers_an_allowed_origin_with_credentials(browser, path):
    response = await browser.options(path, headers={"Origin": SITE, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type,x-csrftoken"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-csrftoken", "authorization"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0 and response.headers["Vary"] == "Origin"


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("origin", ["https://evil.example", None])
async def test_the_preflight_from_another_origin_is_a_403(browser, path, origin):
    headers = {"Access-Control-Request-Method": "POST"} | ({"Origin": origin} if origin else {})
    response = await browser.options(path, headers=headers)
    body = await response.json()
    assert response.status == 403 and body["result"] is False and "CORS preflight refused" in body["error"]
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_the_entry_points_preflight_gives_cors_headers_to_allowed_origins_only(browser):
    allowed = await browser.options("/chatbot/csrf/", headers={"Origin": SITE, "Access-Control-Request-Method": "GET"})
    assert allowed.status == 204 and allowed.headers["Access-Control-Allow-Origin"] == SITE
    other = await browser.options("/chatbot/csrf/", headers={"Origin": "https://evil.example"})
    assert other.status == 204 and "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
async def test_every_chatbot_route_without_credentials_is_a_403_in_the_envelope(browser, path, method):
    response = await browser.request(method, path, json={})
    assert response.status == 403
    assert await response.json() == {"result": False, "error": "Authentication credentials were not provided."}


def mailing_of(size: int) -> bytes:
    """A mailing body of about `size` bytes: one man whose profile carries a long description."""
    filler = "x" * size
    return (b'{"data": {"users": [{"id_user": 5, "name": "Bob", "description": "' + filler.encode()
            + b'"}], "count": 1, "female_id": 1671492}}')


async def test_a_large_mailing_is_read_and_every_other_body_keeps_aiohttps_1_mib(client):
    assert (await client.post("/chatbot/templates/", json=TEMPLATES, headers=AUTH)).status == 200
    response = await client.post("/chatbot/mailing/", data=mailing_of(5 * 2**20),
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 200 and (await response.json())["data"] == {"5": "Hi Bob"}
    response = await client.post("/chatbot/mailing/", data=mailing_of(33 * 2**20),
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 413 and (await response.json())["result"] is False
    response = await client.post("/chatbot/templates/", data=mailing_of(2 * 2**20),
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 413

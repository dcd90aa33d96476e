"""Every error a client can cause, in the notification family's shapes, and 401 on every route."""

import asyncio
import logging
import re
import sqlite3

import pytest

from server.app import create_app
from tests.conftest import AUTH


def notification_routes(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every notification route the app registers."""
    found = []
    for resource_route in app.router.routes():
        info = resource_route.resource.get_info()
        pattern = info.get("formatter") or info.get("path")
        if not pattern or not pattern.startswith(("/Clients", "/Mailing", "/Stats")):
            continue
        if resource_route.method == "HEAD":
            continue
        path = pattern.replace("{slash}", "/").replace("{id}", "1")
        found.append((resource_route.method, path))
    return found


async def test_every_notification_route_needs_a_token(aiohttp_client, make_settings):
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    routes = notification_routes(app)
    assert len(routes) == 14
    for method, path in routes:
        for headers, detail in (
            ({}, "Authentication credentials were not provided."),
            ({"Authorization": "Token wrong"}, "Invalid token."),
            ({"Authorization": "Bearer f3a527cd037b3a1e4d41f9e1afd7db26b6ba9cda"},
             "Authentication credentials were not provided."),
        ):
            response = await client.request(method, path, headers=headers)
            assert response.status == 401, (method, path, headers)
            assert await response.json() == {"detail": detail}
            assert response.headers["WWW-Authenticate"] == "Token"


async def test_a_token_made_by_the_command_is_accepted(aiohttp_client, make_settings):
    from storage.tokens import create_token

    app = create_app(make_settings(auth={"api_tokens": []}))
    client = await aiohttp_client(app)
    from server.keys import DB

    token = await create_token(app[DB], "ci")
    assert (await client.get("/Clients/", headers={"Authorization": f"Token {token}"})).status == 200
    stored = await app[DB].fetch_all("SELECT * FROM api_tokens")
    assert token not in str([dict(row) for row in stored])


async def test_field_errors_name_each_bad_field(client):
    response = await client.post("/Clients/", data={"phone_number": "12345", "timezone": "Mars/Olympus"},
                                 headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert set(body) == {"phone_number", "timezone"}
    assert all(isinstance(messages, list) and messages for messages in body.values())
    assert "Mars/Olympus" in body["timezone"][0]


async def test_missing_fields_are_required(client):
    response = await client.post("/Mailing/", data={}, headers=AUTH)
    assert response.status == 400
    assert await response.json() == {
        "datetime_start": ["This field is required."],
        "datetime_end": ["This field is required."],
        "message_text": ["This field is required."],
    }


async def test_malformed_json_is_a_400_detail(client):
    response = await client.post("/Clients/", data=b"{not json",
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["detail"].startswith("JSON parse error")
    response = await client.post("/Clients/", json=["a", "list"], headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"detail": "JSON body must be an object"}


async def test_not_found_and_method_not_allowed(client):
    for path in ("/Clients/999/", "/Mailing/999", "/Stats/999/", "/Clients/99999999999999999999999/"):
        response = await client.get(path, headers=AUTH)
        assert response.status == 404, path
        assert await response.json() == {"detail": "Not found."}
    response = await client.get("/no/such/path")
    assert response.status == 404
    assert await response.json() == {"detail": "Not found."}
    response = await client.delete("/Clients/", headers=AUTH)
    assert response.status == 405
    assert await response.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("param,value", [("limit", "x"), ("limit", "0"), ("limit", "100000"), ("offset", "-1")])
async def test_bad_pagination_names_the_parameter(client, param, value):
    response = await client.get(f"/Clients/?{param}={value}", headers=AUTH)
    assert response.status == 400
    assert list(await response.json()) == [param]


@pytest.mark.parametrize("path", ["/Clients/", "/Mailing/", "/Stats/"])
@pytest.mark.parametrize("param,value", [("limit", ""), ("limit", "%EF%BC%91%EF%BC%90"), ("limit", "1_0"),
                                         ("limit", "+5"), ("limit", "%205"), ("offset", ""), ("offset", "٣"),
                                         ("offset", "0x10"), ("limit", "-")])
async def test_only_ascii_digits_are_a_page_number(client, path, param, value):
    response = await client.get(f"{path}?{param}={value}", headers=AUTH)
    assert response.status == 400
    assert await response.json() == {param: ["A valid integer is required."]}


@pytest.mark.parametrize("param,value,bounds", [
    ("offset", "-1", "0 and 1000000000"), ("offset", "1000000001", "0 and 1000000000"),
    ("offset", "9" * 5000, "0 and 1000000000"), ("limit", "-5", "1 and 1000"), ("limit", "1001", "1 and 1000"),
])
async def test_a_page_number_out_of_range_names_the_bounds(client, param, value, bounds):
    response = await client.get(f"/Clients/?{param}={value}", headers=AUTH)
    assert response.status == 400
    assert await response.json() == {param: [f"Must be between {bounds}."]}
    response = await client.get("/Clients/?limit=0010&offset=1000000000", headers=AUTH)
    assert response.status == 200 and (await response.json())["results"] == []


async def test_an_unexpected_failure_is_a_500_without_internals(aiohttp_client, make_settings, caplog):
    settings = make_settings()
    client = await aiohttp_client(create_app(settings))

    def break_the_store() -> None:  # behind the server's back, from another thread
        with sqlite3.connect(settings.storage.path, timeout=30) as conn:
            conn.execute("DROP TABLE mailing_status_counts")

    await asyncio.to_thread(break_the_store)
    await client.post("/Mailing/", data={"datetime_start": "2020-01-01T00:00", "datetime_end": "2020-01-02T00:00",
                                         "message_text": "x"}, headers=AUTH)
    with caplog.at_level(logging.ERROR, logger="herald.http"):
        response = await client.get("/Stats/", headers=AUTH)
    assert response.status == 500
    assert await response.json() == {"detail": "Internal server error."}
    assert "mailing_status_counts" not in await response.text()
    assert any(record.exc_info and re.search("no such table", str(record.exc_info[1])) for record in caplog.records)
    assert (await client.get("/health")).status == 200  # and the server goes on serving


async def test_a_body_in_another_format_is_a_415(client):
    response = await client.patch("/Clients/1/", data=b"phone_number=79000000001",
                                  headers={**AUTH, "Content-Type": "text/plain"})
    assert response.status == 415
    assert await response.json() == {"detail": 'Unsupported media type "text/plain" in request.'}

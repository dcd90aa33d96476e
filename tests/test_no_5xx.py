"""Nothing a client sends gets a 5xx: every route of every family, fed odd values in every field it
reads, as query parameters, form data and JSON, answers 2xx or 4xx (and the server goes on)."""

from __future__ import annotations

import json

import pytest

from server.app import create_app
from tests.conftest import AUTH

ODD_VALUES = [
    "", " ", "0", "-1", "99999999999999999999999999", "1e309", "NaN", "null", "true", "[]", "{}",
    "\x00", "💥" * 50, "x" * 5000, "2030-02-30T25:61:00", "9999-12-31T23:59:59-23:59", "+7 (", "c213_",
    "c213_c2_2018-04-01_None_economy_1_0_0_ru", '{"transfer": {"count": 1e400}}', "../../etc/passwd",
]
JSON_ODDITIES = [None, True, -1, 10**30, 1.5, [], {}, ["a"], {"a": {"b": []}}]
FIELDS = ["phone_number", "tag", "timezone", "datetime_start", "datetime_end", "message_text", "filter_tag",
          "filter_op_codes", "window_start", "window_end", "email", "passportuid", "session", "qkey",
          "email_source", "filter", "date_range", "id", "p", "s", "limit", "offset", "operator_code"]


def routes_of(app) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        pattern = info.get("formatter") or info.get("path")
        if route.method == "HEAD" or not pattern or "static" in str(info.get("prefix", "")):
            continue
        found.append((route.method, pattern.replace("{slash}", "/").replace("{id}", "1")))
    return found


@pytest.mark.parametrize("shape", ["query", "form", "json"])
async def test_no_input_gets_a_5xx(aiohttp_client, make_settings, shape):
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    await client.post("/Clients/", data={"phone_number": "79000000001"}, headers=AUTH)
    await client.post("/Mailing/", data={"datetime_start": "2030-01-01T00:00", "datetime_end": "2030-01-02T00:00",
                                         "message_text": "x"}, headers=AUTH)
    routes = routes_of(app)
    assert len(routes) >= 28  # every family's routes, so that this test cannot pass by testing nothing
    failures = []
    for method, path in routes:
        for value in ODD_VALUES + (JSON_ODDITIES if shape == "json" else []):
            fields = {field: value for field in FIELDS}
            if shape == "query" or method == "GET":
                params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
                response = await client.request(method, path, params=params, headers=AUTH)
            elif shape == "form":
                response = await client.request(method, path, data=fields, headers=AUTH)
            else:
                response = await client.request(method, path, json=fields, headers=AUTH)
            if response.status >= 500:
                failures.append((method, path, shape, repr(value)[:40], response.status, (await response.text())[:80]))
    assert failures == []
    assert (await client.get("/health")).status == 200

"""Nothing a client sends gets a 5xx: every route of every family, fed odd values in every field it
reads, as query parameters, form data and JSON, and bodies that cannot be read as what they say
they are, answers 2xx or 4xx (and the server goes on)."""

from __future__ import annotations

import json

import pytest

from server.app import create_app
from tests.conftest import AUTH
from tests.mango_emulator import MangoEmulator

ODD_VALUES = [
    "", " ", "0", "-1", "99999999999999999999999999", "1e309", "NaN", "null", "true", "[]", "{}",
    "\x00", "💥" * 50, "x" * 5000, "2030-02-30T25:61:00", "9999-12-31T23:59:59-23:59", "+7 (", "c213_",
    "c213_c2_2018-04-01_None_economy_1_0_0_ru", '{"transfer": {"count": 1e400}}', "../../etc/passwd",
]
JSON_ODDITIES = [None, True, -1, 10**30, 1.5, [], {}, ["a"], {"a": {"b": []}}]
# (Content-Type, body) that no parser should take as given, sent to every route.
MALFORMED_BODIES = {
    "multipart without a boundary": ("multipart/form-data", b"phone_number=79000000002"),
    "multipart with a broken part": ("multipart/form-data; boundary=b", b"--b\r\nbroken\r\n--b--\r\n"),
    "multipart that never starts": ("multipart/form-data; boundary=b", b"phone_number=79000000002"),
    "multipart part not UTF-8": ("multipart/form-data; boundary=b",
                                 b'--b\r\nContent-Disposition: form-data; name="tag"\r\n\r\n\xff\xfe\r\n--b--\r\n'),
    "JSON nested 100,000 levels": ("application/json", b'{"tag": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "JSON filter nested 100,000 levels": ("application/json", b'{"filter": "' + b"[" * 100_000 + b'"}'),
    "JSON with a 5,000-digit number": ("application/json", b'{"limit": ' + b"9" * 5000 + b"}"),
    "JSON with a lone surrogate": ("application/json", b'{"phone_number": "79000000002", "tag": "\\ud800", '
                                   b'"datetime_start": "2030-01-01T00:00", "datetime_end": "2030-01-02T00:00", '
                                   b'"message_text": "\\udfff", "email_source": "\\udfff"}'),
    "JSON in an unknown charset": ("application/json; charset=klingon", b"{}"),
    "form not UTF-8": ("application/x-www-form-urlencoded", b"phone_number=79000000002&tag=\xff\xfe&email=\xff"),
    "form percent-encoded not UTF-8": ("application/x-www-form-urlencoded", b"tag=%ff%fe&qkey=%c3%28"),
    "form filter nested 100,000 levels": ("application/x-www-form-urlencoded", b"filter=" + b"%5B" * 100_000),
}
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


@pytest.fixture
async def telephony():
    """Settings of a configured telephony family, over a PBX emulator (no rate limits, no lockout)."""
    mango = MangoEmulator("k", "s", rate_limits=False, error_window_seconds=0)
    await mango.start()
    yield {"api_url": mango.vpbx_url, "cc_api_url": mango.cc_url, "api_key": "k", "api_salt": "s",
           "rate_limits": False, "stats_poll_seconds": 0.01}
    await mango.stop()


@pytest.mark.parametrize("shape", ["query", "form", "json"])
async def test_no_input_gets_a_5xx(aiohttp_client, make_settings, telephony, shape):
    app = create_app(make_settings(telephony=telephony))
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


@pytest.mark.parametrize("shape", list(MALFORMED_BODIES))
async def test_no_malformed_body_gets_a_5xx(aiohttp_client, make_settings, telephony, shape):
    app = create_app(make_settings(telephony=telephony))
    client = await aiohttp_client(app)
    content_type, body = MALFORMED_BODIES[shape]
    failures = []
    for method, path in routes_of(app):
        for query in ("", "?tag=%ff&limit=%EF%BC%91"):  # and a query string that is not UTF-8 either
            response = await client.request(method, path + query, data=body,
                                            headers={**AUTH, "Content-Type": content_type})
            if response.status >= 500:
                failures.append((method, path + query, response.status, (await response.text())[:80]))
    assert failures == []
    assert (await client.get("/health")).status == 200

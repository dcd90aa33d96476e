"""server/http.py and server/text.py: how bodies and query strings are read, for every family.

A body that cannot be read as what its Content-Type says, text that is not UTF-8, JSON nested too
deep and control characters are a 400 in the family's envelope naming what is wrong, and nothing
is stored; pagination links are built on `server.public_url`, whatever the Host header says.
"""

import pytest
from aiohttp import FormData

from server.app import create_app
from server.text import MAX_JSON_DEPTH, load_json
from tests.conftest import AUTH

UNSUBSCRIBE = "/email_subscription/v1.0/unsubscribe"
SUBSCRIBE = "/email_subscription/v1.0/subscribe"
QKEY = "c213_c2_2030-12-19_None_economy_2_1_0_ru"


async def post_raw(client, path, content_type, body, auth=True):
    headers = {**(AUTH if auth else {}), "Content-Type": content_type}
    response = await client.post(path, data=body, headers=headers)
    return response.status, await response.json()


async def client_count(client) -> int:
    return (await (await client.get("/Clients/", headers=AUTH)).json())["count"]


# -- multipart ------------------------------------------------------------------------------------


async def test_well_formed_multipart_is_accepted(client):
    form = FormData({"phone_number": "79000000001", "tag": "vip"}, default_to_multipart=True)
    response = await client.post("/Clients/", data=form, headers=AUTH)
    assert response.status == 201, await response.text()
    assert response.request_info.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert (await response.json())["tag"] == "vip"


@pytest.mark.parametrize("content_type,body,reason", [
    ("multipart/form-data", b"phone_number=79000000001", "boundary"),
    ("multipart/form-data; boundary=b", b"--b\r\nbroken\r\n--b--\r\n", "header"),
    ("multipart/form-data; boundary=b", b"phone_number=79000000001", "boundary"),
    ("multipart/form-data; boundary=b",
     b'--b\r\nContent-Disposition: form-data; name="phone_number"\r\n\r\n79000000001\r\n', "EOF"),
])
async def test_malformed_multipart_is_a_400_in_each_familys_envelope(client, content_type, body, reason):
    status, answer = await post_raw(client, "/Clients/", content_type, body)
    assert status == 400
    assert list(answer) == ["detail"] and answer["detail"].startswith("Multipart form data could not be read")
    assert reason in answer["detail"]
    status, answer = await post_raw(client, UNSUBSCRIBE, content_type, body, auth=False)  # public, no token
    assert status == 400
    assert answer["status"] == "error" and answer["message"].startswith("Multipart form data could not be read")
    assert await client_count(client) == 0


async def test_a_file_in_multipart_is_refused_not_dropped(client):
    form = FormData({"phone_number": "79000000001"})
    form.add_field("tag", b"vip", filename="tag.txt")
    response = await client.post("/Clients/", data=form, headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"tag": ["Files are not accepted: send this field as text."]}


# -- text that is not UTF-8 -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"phone_number=79000000001&tag=\xff\xfe", b"phone_number=79000000001&tag=%ff%fe"])
async def test_a_form_body_that_is_not_utf8_is_a_400_naming_the_field(client, body):
    status, answer = await post_raw(client, "/Clients/", "application/x-www-form-urlencoded", body)
    assert status == 400
    assert answer == {"tag": ["Not valid UTF-8 text in the request body."]}
    assert await client_count(client) == 0


async def test_a_form_body_in_another_declared_charset_is_read_in_it(client):
    status, answer = await post_raw(client, "/Clients/", "application/x-www-form-urlencoded; charset=latin-1",
                                    b"phone_number=79000000001&tag=caf\xe9")
    assert status == 201 and answer["tag"] == "café"


async def test_an_unknown_charset_is_a_415(client):
    status, answer = await post_raw(client, "/Clients/", "application/json; charset=klingon", b"{}")
    assert status == 415 and answer == {"detail": 'Unsupported charset "klingon" in request.'}


async def test_a_query_string_that_is_not_utf8_is_a_400_naming_the_parameter(client):
    response = await client.get("/Clients/?tag=%ff%fe", headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"tag": ["Not valid UTF-8 text in the query string."]}
    response = await client.get("/email_subscription/v1.0/user_subscriptions/list?email=%c3%28", headers=AUTH)
    assert response.status == 400
    assert (await response.json())["errors"] == {"email": ["Not valid UTF-8 text in the query string."]}


async def test_percent_encoded_utf8_and_plus_in_a_query_still_read_as_before(client):
    await client.post("/Clients/", json={"phone_number": "79000000001", "tag": "тег 3"}, headers=AUTH)
    for query in ("tag=%D1%82%D0%B5%D0%B3+3", "tag=%D1%82%D0%B5%D0%B3%203&tag=other"):
        page = await (await client.get(f"/Clients/?{query}", headers=AUTH)).json()
        assert page["count"] == 1, query


# -- JSON nesting and numbers ---------------------------------------------------------------------


def test_json_is_read_up_to_the_depth_limit_and_no_deeper():
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    assert load_json('{"a": ' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH)
    for deeper in ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "[" * 100_000 + "]" * 100_000):
        with pytest.raises(ValueError, match=f"nested more than {MAX_JSON_DEPTH} levels deep"):
            load_json(deeper)


@pytest.mark.parametrize("path", ["/Clients/", SUBSCRIBE])
async def test_json_nested_100000_levels_is_a_400(client, path):
    body = b'{"tag": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = await post_raw(client, path, "application/json", body)
    assert status == 400
    assert "nested more than 32 levels deep" in str(answer)


async def test_a_filter_nested_too_deep_in_a_form_field_is_a_400_naming_it(client):
    fields = {"qkey": QKEY, "email": "a@example.com", "session": "s1", "filter": "[" * 100_000}
    response = await client.post(SUBSCRIBE, data=fields, headers=AUTH)
    assert response.status == 400
    assert (await response.json())["errors"] == {"filter": ["Not JSON: nested more than 32 levels deep."]}


async def test_a_json_number_too_long_to_read_is_a_400(client):
    status, answer = await post_raw(client, "/Clients/", "application/json",
                                    b'{"phone_number": ' + b"7" * 5000 + b"}")
    assert status == 400 and answer["detail"].startswith("JSON parse error")


# -- control characters and lone surrogates -------------------------------------------------------


@pytest.mark.parametrize("send", ["json", "data"])
@pytest.mark.parametrize("field,value", [("tag", "\x00"), ("tag", "vip\x1b"), ("phone_number", "79000000001\x00"),
                                         ("timezone", "UTC\x07"), ("tag", "a\x7f")])
async def test_a_control_character_in_a_client_field_is_a_400_naming_it(client, send, field, value):
    fields = {"phone_number": "79000000001", field: value}
    response = await client.post("/Clients/", headers=AUTH, **{send: fields})
    assert response.status == 400
    body = await response.json()
    assert list(body) == [field] and body[field][0].startswith("Control characters are not allowed: U+00")
    assert await client_count(client) == 0


async def test_a_nul_in_a_filter_is_refused_not_turned_into_everyone(client):
    mailing = {"datetime_start": "2030-01-01T00:00", "datetime_end": "2030-01-02T00:00", "message_text": "x"}
    response = await client.post("/Mailing/", json={**mailing, "filter_tag": "\x00x"}, headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"filter_tag": ["Control characters are not allowed: U+0000 at character 1."]}
    response = await client.post("/Mailing/", json={**mailing, "message_text": "a\x00b"}, headers=AUTH)
    assert response.status == 400 and list(await response.json()) == ["message_text"]
    assert (await (await client.get("/Mailing/", headers=AUTH)).json())["count"] == 0


async def test_a_control_character_in_a_query_parameter_is_a_400_naming_it(client):
    for query in ("tag=%00", "operator_code=977%0A", "limit=%091"):
        response = await client.get(f"/Clients/?{query}", headers=AUTH)
        assert response.status == 400, query
        assert list(await response.json()) == [query.split("=")[0]]


@pytest.mark.parametrize("escaped", [b"\\ud800", b"a\\udfffb"])
async def test_a_lone_surrogate_is_a_400_not_a_500(client, escaped):
    status, answer = await post_raw(client, "/Clients/", "application/json",
                                    b'{"phone_number": "79000000001", "tag": "' + escaped + b'"}')
    assert status == 400
    assert list(answer) == ["tag"] and answer["tag"][0].startswith("Not valid Unicode: a lone surrogate")
    assert await client_count(client) == 0


@pytest.mark.parametrize("params", [
    {"email": "a@example.com\x00", "session": "s1", "qkey": QKEY},
    {"email": "a@example.com", "session": "s1", "qkey": QKEY + "\n"},
    {"email": "a@example.com", "session": "s\t1", "qkey": QKEY},
    {"email": "a@example.com", "session": "s1", "qkey": QKEY, "email_source": "VALERA\r\nBcc: x"},
])
async def test_subscription_parameters_are_one_line(client, params):
    response = await client.post(SUBSCRIBE, data=params, headers=AUTH)
    assert response.status == 400
    body = await response.json()
    bad = next(name for name, value in params.items() if any(c < " " for c in value))
    assert body["status"] == "error" and list(body["errors"]) == [bad]


async def test_unknown_fields_are_ignored_whatever_they_hold(client):
    """Only the fields a route reads are checked (the OpenAPI document allows other properties)."""
    response = await client.post("/Clients/", json={"phone_number": "79000000001", "ta\x00g": "x",
                                                    "other": {"\x01": ["\ud800"]}}, headers=AUTH)
    assert response.status == 201
    assert (await response.json())["tag"] == ""


# -- pagination links -----------------------------------------------------------------------------


@pytest.mark.parametrize("public_url", ["https://herald.example", "https://example.org/herald/"])
async def test_page_links_are_built_on_public_url_not_on_the_host_header(aiohttp_client, make_settings, public_url):
    client = await aiohttp_client(create_app(make_settings(server={"public_url": public_url})))
    for n in range(3):
        await client.post("/Clients/", json={"phone_number": f"7900000000{n}", "tag": "vip"}, headers=AUTH)
    headers = {**AUTH, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    page = await (await client.get("/Clients/?tag=vip&limit=1&offset=1", headers=headers)).json()
    base = public_url.rstrip("/")
    assert page["next"] == f"{base}/Clients/?tag=vip&limit=1&offset=2"
    assert page["previous"] == f"{base}/Clients/?tag=vip&limit=1"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_a_body_over_1_mib_is_a_413_outside_the_chatbot_mailing(client, content_type):
    """Only POST /chatbot/mailing/ reads up to 32 MiB (tests/test_chatbot_csrf.py); the app keeps aiohttp's 1 MiB."""
    body = (b'{"phone_number": "79000000001", "tag": "' + b"x" * 2 * 2**20 + b'"}' if content_type == "application/json"
            else b"phone_number=79000000001&tag=" + b"x" * 2 * 2**20)
    status, answer = await post_raw(client, "/Clients/", content_type, body)
    assert status == 413 and "detail" in answer
    assert await client_count(client) == 0

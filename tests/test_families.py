"""server/families.py: families declare their paths, auth, envelope and pagination; create_app
collects them, refuses overlapping claims, and each request is answered in its own family's ways.

The families here are built in the tests (a PBX-like one at the root, a CRM-like one with its own
token header); none of them ships.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from aiohttp import web

from server.app import FAMILIES, create_app
from server.errors import BadRequest, HeraldError, Unauthorized
from server.families import Family, FamilyConflict, ServiceToken, paginate
from server.http import read_body, respond, route
from tests.conftest import AUTH, SEED_TOKEN
from tests.test_protocol_errors import exchange

SECRET = b"pbx-secret"


class Signed:
    """A webhook-style strategy: `X-Sign` is the hex HMAC-SHA256 of the body under SECRET."""

    challenge = None

    async def check(self, request: web.Request) -> None:
        expected = hmac.new(SECRET, await request.read(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Sign", ""), expected):
            raise Unauthorized("Bad signature.")


def sign(body: bytes) -> dict[str, str]:
    return {"X-Sign": hmac.new(SECRET, body, hashlib.sha256).hexdigest()}


def pbx_error(error: HeraldError) -> dict:
    return {"result": False, "error": error.detail or error.fields}


class FirstPage:
    """`?page=N` (ten to a page) in a `{"data": ..., "meta": ...}` envelope."""

    def __init__(self, request: web.Request) -> None:
        self.number = int(request.query.get("page", "1"))

    def envelope(self, count: int, results: list) -> dict:
        return {"data": results[(self.number - 1) * 10:self.number * 10], "meta": {"page": self.number, "total": count}}


async def send_sms(request: web.Request) -> web.Response:
    body = await read_body(request)
    if not body.get("phone"):
        raise BadRequest.field("phone", "This field is required.")
    return respond({"result": True, "phone": body["phone"]})


async def list_calls(request: web.Request) -> web.Response:
    page = paginate(request)
    return respond(page.envelope(25, list(range(25))))


def pbx(**overrides) -> Family:
    declared = {"routes": (route("POST", "/send_fax", send_sms), route("GET", "/faxes", list_calls)),
                "paths": ("/send_fax", "/faxes"), "auth": Signed(), "error_body": pbx_error, "pagination": FirstPage}
    return Family("fax", **{**declared, **overrides})


async def whoami(request: web.Request) -> web.Response:
    return respond({"status": 1})


CRM = Family("crm", routes=(route("GET", "/api/v1/whoami", whoami),), prefixes=("/api/v1/",),
             auth=ServiceToken(headers=("X-Leeloo-AuthToken",)),
             error_body=lambda error: {"status": 0, "error": error.detail})


@pytest.mark.parametrize("other, claim", [
    (Family("twin", routes=(), paths=("/send_fax/",)), "path '/send_fax'"),
    (Family("twin", routes=(), prefixes=("/send_fax",)), "'/send_fax'"),
    (Family("twin", routes=(), paths=("/health",)), "path '/health'"),
    (Family("twin", routes=(), paths=("/Clients",)), "'/Clients'"),
    (Family("twin", routes=(), prefixes=("/Clients",)), "prefix '/Clients'"),
])
def test_two_families_claiming_one_path_or_prefix_is_an_error_at_create_app(make_settings, other, claim):
    with pytest.raises(FamilyConflict, match=claim):
        create_app(make_settings(), families=(*FAMILIES, pbx(), other))


def test_a_family_cannot_take_the_root_prefix_or_routes_it_does_not_own(make_settings):
    with pytest.raises(FamilyConflict, match="root paths one by one"):
        create_app(make_settings(), families=(*FAMILIES, pbx(prefixes=("/",))))
    with pytest.raises(FamilyConflict, match="route '/faxes' is owned by family 'system'"):
        create_app(make_settings(), families=(*FAMILIES, pbx(paths=("/send_fax",))))
    stray = Family("stray", routes=(route("GET", "/Clients/extra", whoami),), paths=("/stray",))
    with pytest.raises(FamilyConflict, match="owned by family 'notifications'"):
        create_app(make_settings(), families=(*FAMILIES, stray))


async def test_a_family_at_the_root_has_its_own_auth_envelope_and_pages(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(), families=(*FAMILIES, pbx())))

    body = b'{"phone": "79000000001"}'
    json_type = {"Content-Type": "application/json"}
    response = await client.post("/send_fax", data=body, headers={**json_type, **sign(body)})
    assert (response.status, await response.json()) == (200, {"result": True, "phone": "79000000001"})
    response = await client.post("/send_fax/", data=body, headers={**json_type, **AUTH})  # a token is no signature
    assert (response.status, await response.json()) == (401, {"result": False, "error": "Bad signature."})
    assert "WWW-Authenticate" not in response.headers
    response = await client.post("/send_fax", data=b"{}", headers={**json_type, **sign(b"{}")})
    assert (response.status, await response.json()) == (400, {"result": False,
                                                              "error": {"phone": ["This field is required."]}})
    response = await client.delete("/send_fax", headers=sign(b""))
    assert (response.status, await response.json()) == (405, {"result": False, "error": 'Method "DELETE" not allowed.'})
    response = await client.get("/faxes?page=3", headers=sign(b""))
    assert await response.json() == {"data": [20, 21, 22, 23, 24], "meta": {"page": 3, "total": 25}}

    # The system's paths stay the system's; what no family claims is the system's 404.
    response = await client.get("/health")
    assert (response.status, await response.json()) == (200, {"status": "ok"})
    for path in ("/send_fax/more", "/fax_callback"):
        response = await client.get(path)
        assert (response.status, await response.json()) == (404, {"detail": "Not found."})
    # And the families that were there answer as before.
    response = await client.get("/Clients/?limit=x", headers=AUTH)
    assert (response.status, await response.json()) == (400, {"limit": ["A valid integer is required."]})
    response = await client.get("/Clients/", headers=sign(b""))
    assert response.status == 401 and response.headers["WWW-Authenticate"] == "Token"


async def test_a_family_may_take_its_token_in_a_header_of_its_own(aiohttp_client, make_settings):
    others = tuple(family for family in FAMILIES if family.name != "crm")  # a stand-in of its own
    client = await aiohttp_client(create_app(make_settings(), families=(*others, CRM)))

    for headers in ({"X-Leeloo-AuthToken": SEED_TOKEN}, AUTH):
        response = await client.get("/api/v1/whoami", headers=headers)
        assert (response.status, await response.json()) == (200, {"status": 1}), headers
    for headers, detail in (({}, "Authentication credentials were not provided."),
                            ({"X-Leeloo-AuthToken": "wrong"}, "Invalid token."),
                            ({"Authorization": f"Bearer {SEED_TOKEN}"}, "Authentication credentials were not provided.")):
        response = await client.get("/api/v1/whoami", headers=headers)
        assert (response.status, await response.json()) == (401, {"status": 0, "error": detail}), headers
        assert response.headers["WWW-Authenticate"] == "Token"
    response = await client.get("/api/v1/nothing", headers=AUTH)
    assert (response.status, await response.json()) == (404, {"status": 0, "error": "Not found."})


async def test_a_request_that_does_not_parse_is_answered_in_the_root_familys_envelope(make_settings):
    from server.protocol import Runner

    runner = Runner(create_app(make_settings(), families=(*FAMILIES, pbx())), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]
        raw = b"POST /send_fax HTTP/1.1\r\nHost: x\r\nContent-Length: x1\r\n\r\n"
        status, _, body = await exchange(port, raw)
    finally:
        await runner.cleanup()
    assert (status, body) == (400, {"result": False, "error": "Malformed HTTP request: Invalid character in Content-Length."})

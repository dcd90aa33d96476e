"""server/openapi.json: well formed, equal to the route table both ways, served with Swagger UI, and
true to what the server answers (its examples and live answers validate against its schemas).

The schema check is a small JSON Schema validator for exactly the keywords the document uses; a
keyword it does not know fails the test, so the document cannot quietly outgrow it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from handlers import subscription_schemas
from handlers.mango_webhooks import MangoSignature
from handlers.subscriptions import status_error
from handlers.system import FAMILY as SYSTEM
from server import directions
from server.app import FAMILIES, create_app
from server.errors import Unauthorized
from server.families import FamilyTable
from tests.conftest import AUTH
from tests.mango_emulator import MangoEmulator
from handlers.telephony_schemas import ENDPOINTS

SPEC_FILE = Path(__file__).resolve().parent.parent / "server" / "openapi.json"
SPEC = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
family_of = FamilyTable(FAMILIES, fallback=SYSTEM).of
TELEPHONY_PATHS = {endpoint.path for endpoint in ENDPOINTS}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def resolve(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = SPEC
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node: dict) -> dict:
    while "$ref" in node:
        node = resolve(node["$ref"])
    return node


def operations():
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


# -- a JSON Schema validator for the keywords the document uses ---------------------------------

ANNOTATIONS = {"description", "title", "readOnly", "writeOnly", "default", "examples", "deprecated"}
KEYWORDS = ANNOTATIONS | {
    "$ref", "type", "enum", "const", "format", "pattern", "minLength", "maxLength", "minimum",
    "maximum", "properties", "required", "additionalProperties", "minProperties", "maxProperties", "items",
    "minItems", "maxItems", "uniqueItems", "oneOf", "contentMediaType", "contentSchema",
}
TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _date_time(value: str) -> bool:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) is not None


FORMATS = {
    "date-time": _date_time,
    "date": _date,
    "uri": lambda v: v.startswith(("http://", "https://")),
    "int64": lambda v: -(2**63) <= v < 2**63,
    "uuid": lambda v: re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", v) is not None,
}


def errors_of(value: Any, schema: dict, at: str = "$") -> list[str]:
    unknown = set(schema) - KEYWORDS
    assert not unknown, f"the test's validator does not know {unknown} (at {at}); teach it"
    if "$ref" in schema:
        return errors_of(value, resolve(schema["$ref"]), at)
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not errors_of(value, s, at)]
        return [] if len(matching) == 1 else [f"{at}: matches {len(matching)} of oneOf"]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[name](value) for name in types):
            return [f"{at}: {value!r} is not {schema['type']}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{at}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{at}: {value!r} != {schema['const']!r}")
    if "format" in schema and value is not None and not FORMATS[schema["format"]](value):
        problems.append(f"{at}: {value!r} is not {schema['format']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            problems.append(f"{at}: length {len(value)} out of bounds")
        if "contentSchema" in schema:  # a string that carries JSON (e.g. the subscriptions' `filter`)
            assert schema.get("contentMediaType") == "application/json", at
            try:
                decoded = json.loads(value)
            except json.JSONDecodeError:
                problems.append(f"{at}: {value!r} is not JSON")
            else:
                problems += errors_of(decoded, schema["contentSchema"], f"{at}(decoded)")
    if TYPES["number"](value):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            problems.append(f"{at}: {value} out of bounds")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{at}: fewer than {schema['minItems']} items")
        if len(value) > schema.get("maxItems", len(value)):
            problems.append(f"{at}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(item, sort_keys=True) for item in value}) != len(value):
            problems.append(f"{at}: an item is repeated")
        for index, item in enumerate(value):
            problems += errors_of(item, schema.get("items", {}), f"{at}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if len(value) < schema.get("minProperties", 0):
            problems.append(f"{at}: fewer than {schema['minProperties']} properties")
        if len(value) > schema.get("maxProperties", len(value)):
            problems.append(f"{at}: more than {schema['maxProperties']} properties")
        problems += [f"{at}: {name} is missing" for name in schema.get("required", []) if name not in value]
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                problems += errors_of(item, properties[name], f"{at}.{name}")
            elif extra is False:
                problems.append(f"{at}: {name} is not documented")
            elif isinstance(extra, dict):
                problems += errors_of(item, extra, f"{at}.{name}")
    return problems


def test_the_validator_catches_what_it_should():
    client = {"$ref": "#/components/schemas/Client"}
    good = {"id": 1, "phone_number": "79774053329", "operator_code": "977", "tag": "", "timezone": "UTC"}
    assert errors_of(good, client) == []
    assert errors_of({**good, "extra": 1}, client)
    assert errors_of({**good, "id": "1"}, client)
    assert errors_of({k: v for k, v in good.items() if k != "tag"}, client)
    mailing = {"$ref": "#/components/schemas/Mailing/properties/datetime_start"}
    assert errors_of("2022-08-22T22:42:16", mailing)  # no offset
    bad_request = SPEC["components"]["responses"]["BadRequest"]["content"]["application/json"]["schema"]
    assert errors_of({"detail": "JSON body must be an object"}, bad_request) == []
    assert errors_of({"phone_number": ["This field is required."]}, bad_request) == []
    assert errors_of({"phone_number": "This field is required."}, bad_request)

    status_error = {"$ref": "#/components/schemas/StatusError"}
    assert errors_of({"status": "error", "message": "Invalid token."}, status_error) == []
    assert errors_of({"status": "error", "message": "qkey: x", "errors": {"qkey": ["x"]}}, status_error) == []
    assert errors_of({"status": "error", "message": "qkey: x", "errors": {"qkey": "x"}}, status_error)
    assert errors_of({"detail": "Invalid token."}, status_error)
    assert errors_of("54f62277-efdb-4839-a3e2-bcfad309c7e5", {"$ref": "#/components/schemas/SubscriberId"}) == []
    assert errors_of("no-such-id", {"$ref": "#/components/schemas/SubscriberId"})
    qkey = {"$ref": "#/components/schemas/Qkey"}
    assert errors_of("c213_c2_2018-04-01_None_economy_1_0_0_ru", qkey) == []
    assert errors_of("c213_c2_2018-04-01_None_cheap_1_0_0_ru", qkey)
    filter_field = {"$ref": "#/components/schemas/SubscribeInput/properties/filter"}
    assert errors_of('{"withBaggage": true, "transfer": {"count": 3, "hasNight": null}}', filter_field) == []
    for bad in ('{"withBaggage": false}', '{"transfer": {"count": 0}}', '{"bagage": true}', '{"airlines": ["1"]}',
                "{not json"):
        assert errors_of(bad, filter_field), bad
    check = {"$ref": "#/components/schemas/SubscriptionCheck"}
    nobody = {"id": None, "subscribed": False, "filter": None, "qkey": None, "date_range": None}
    assert errors_of({"status": "success", "data": nobody}, check) == []
    assert errors_of({"status": "success", "data": {**nobody, "subscribed": True}}, check)
    assert errors_of({"status": "success", "data": {**nobody, "qkey": "c213_c2_2018-04-01_None_economy_1_0_0_ru"}},
                     check)


# -- (a) the document's shape ---------------------------------------------------------------------


def all_refs(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_refs(item)


def test_document_is_openapi_3_1():
    assert re.fullmatch(r"3\.1\.\d+", SPEC["openapi"])
    assert SPEC["info"]["title"] and SPEC["info"]["version"]
    assert SPEC["paths"] and SPEC["components"]["schemas"]
    token_auth = SPEC["components"]["securitySchemes"]["TokenAuth"]
    assert (token_auth["type"], token_auth["in"], token_auth["name"]) == ("apiKey", "header", "Authorization")
    for pointer in set(all_refs(SPEC)):
        assert resolve(pointer) is not None, pointer
    operation_ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, method, operation in operations():
        assert operation["responses"], (method, path)
        parameters = [deref(p) for p in SPEC["paths"][path].get("parameters", []) + operation.get("parameters", [])]
        in_path = {p["name"] for p in parameters if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        # The auth middleware's own rule (server/families.py) decides which operations need a token.
        # Mango's webhooks carry their own credential, a signature in the form: no token, but a 401.
        auth = family_of(path).auth_for(path)
        signed = isinstance(auth, MangoSignature)
        needs_token = family_of(path).auth_required(path) and not signed
        security = [{"TokenAuth": []}] if needs_token else []
        assert operation.get("security", SPEC["security"]) == security, (method, path)
        refused = str(getattr(auth, "refused", Unauthorized).status)  # the chatbot's: 403
        assert (refused in operation["responses"]) == (needs_token or signed), (method, path)
        # Each family's errors in its own envelope: the subscriptions family's is StatusError.
        for status, response in operation["responses"].items():
            if status.startswith("4") and "application/json" in deref(response)["content"]:  # not a page's
                schema = deref(response)["content"]["application/json"]["schema"]
                in_status_envelope = schema == {"$ref": "#/components/schemas/StatusError"}
                assert in_status_envelope == (family_of(path).error_body is status_error), (method, path, status)
        if "{id}" in path:
            assert "404" in operation["responses"], (method, path)
        if method in ("post", "put", "patch"):  # the chatbot's bodies are nested: JSON only; Mango's are forms
            expected = ({"application/json"} if path.startswith("/chatbot/")
                        else {"application/x-www-form-urlencoded"} if signed
                        else {"application/json", "application/x-www-form-urlencoded"})
            assert set(operation["requestBody"]["content"]) == expected, (method, path)


# -- (b) the document and the route table are the same set of (method, path) ----------------------


def registered_routes(app: web.Application) -> dict[tuple[str, str], bool]:
    """{(method, path without its optional slash): whether the trailing slash is optional}, but for
    the operators' UI: /admin/ is pages for people behind a login, not an API (the README's)."""
    found = {}
    for resource_route in app.router.routes():
        if resource_route.method == "HEAD" or isinstance(resource_route.resource, web.StaticResource):
            continue
        path = resource_route.resource.canonical
        if path.startswith("/admin"):
            continue
        path = re.sub(r"\{(\w+):[^{}]*\}", r"{\1}", path)  # in case canonical keeps a regex
        optional_slash = path.endswith("{slash}")
        path = path.removesuffix("{slash}").rstrip("/") or "/"
        found[(resource_route.method, path)] = optional_slash
    return found


def documented_routes() -> dict[tuple[str, str], str]:
    return {(method.upper(), path.rstrip("/") or "/"): path for path, method, _ in operations()}


def test_every_route_is_documented_and_every_documented_route_exists(make_settings):
    registered = registered_routes(create_app(make_settings()))
    documented = documented_routes()
    assert sorted(set(registered) - set(documented)) == [], "served but not in server/openapi.json"
    assert sorted(set(documented) - set(registered)) == [], "in server/openapi.json but not served"
    for key, spec_path in documented.items():
        if spec_path.endswith("/") and spec_path != "/":
            assert registered[key], f"{spec_path} is documented with a slash the route does not serve"


async def test_every_documented_path_resolves_to_its_route(make_settings):
    app = create_app(make_settings())
    for path, method, _ in operations():
        concrete = re.sub(r"\{\w+\}", "1", path)
        match = await app.router.resolve(make_mocked_request(method.upper(), concrete, app=app))
        assert match.http_exception is None, (method, path)


# -- (c) /openapi.json and /docs/ ----------------------------------------------------------------


async def test_openapi_json_is_served_without_a_token(client):
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == SPEC


@pytest.mark.parametrize("path", ["/docs/", "/docs"])
async def test_docs_page_loads_the_bundled_swagger_ui_and_the_spec(client, path):
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert '"/openapi.json"' in page
    assets = re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', page)
    assert "/docs/static/swagger-ui-bundle.js" in assets
    for asset in assets:
        served = await client.get(asset)
        assert served.status == 200, asset
        assert len(await served.read()) > 0, asset
    script = await client.get("/docs/static/swagger-ui-bundle.js")
    assert "javascript" in script.content_type
    assert (await client.get("/docs/static/no-such-file.js")).status == 404


def page_script(page: str) -> str:
    inline = [body for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S) if "src=" not in attrs]
    assert len(inline) == 1
    return inline[0]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_the_page_shows_swagger_ui_4_a_3_0_spelling_of_the_same_document(client, tmp_path):
    """The bundled Swagger UI (4.x) renders only `openapi: 3.0.n`: the page's shim must make it so."""
    script = page_script(await (await client.get("/docs/")).text())
    harness = tmp_path / "harness.js"
    harness.write_text(
        f"const spec = {json.dumps(SPEC)};\n"
        "let config;\n"
        'globalThis.window = {location: {origin: "http://127.0.0.1:8080"}};\n'
        'globalThis.fetch = async (url) => { if (url !== "/openapi.json") throw new Error(url);'
        " return {json: async () => structuredClone(spec)}; };\n"
        "globalThis.SwaggerUIBundle = (c) => { config = c; };\n"
        "SwaggerUIBundle.presets = {apis: {}};\n"
        f"{script}\n"
        "setTimeout(() => process.stdout.write(JSON.stringify(config.spec)), 0);\n"
    )
    shown = json.loads(subprocess.run(["node", str(harness)], capture_output=True, check=True, text=True).stdout)
    assert shown["openapi"].startswith("3.0.")  # Swagger UI 4's isOAS3()
    assert shown["servers"] == [{"url": "http://127.0.0.1:8080"}]
    window = shown["components"]["schemas"]["Mailing"]["properties"]["window_start"]
    assert window["type"] == "string" and window["nullable"] is True
    assert "examples" not in shown["components"]["schemas"]["ClientInput"]["properties"]["phone_number"]

    def no_31_forms(node, at="$"):
        if isinstance(node, dict):
            assert not isinstance(node.get("type"), list), at
            assert not isinstance(node.get("examples"), list), at
            for key, value in node.items():
                if key not in ("example", "default", "enum"):
                    no_31_forms(value, f"{at}.{key}")
        elif isinstance(node, list):
            for item in node:
                no_31_forms(item, at)

    no_31_forms(shown)
    assert shown["paths"]["/Stats/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]["example"] == (
        SPEC["paths"]["/Stats/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]["example"])


# -- (d) examples and live answers validate against the documented schemas ------------------------


def examples_of(media: dict):
    """A media type's `example` and the values of its named `examples`."""
    if "example" in media:
        yield "", media["example"]
    for name, named in media.get("examples", {}).items():
        yield f" ({name})", deref(named)["value"]


def media_examples():
    for path, method, operation in operations():
        body = deref(operation.get("requestBody", {"content": {}}))
        for media_type, media in body["content"].items():
            for name, example in examples_of(media):
                yield f"{method} {path} request {media_type}{name}", example, media["schema"]
        for status, response in operation["responses"].items():
            for media_type, media in deref(response).get("content", {}).items():
                for name, example in examples_of(media):
                    yield f"{method} {path} {status} {media_type}{name}", example, media["schema"]
    for name, schema in SPEC["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield name, example, schema
        for prop, prop_schema in schema.get("properties", {}).items():
            for example in prop_schema.get("examples", []):
                yield f"{name}.{prop}", example, prop_schema


def test_every_example_validates_against_its_schema():
    checked = 0
    for where, example, schema in media_examples():
        assert errors_of(example, schema) == [], where
        checked += 1
    assert checked > 20
    two_xx = [op for _, _, op in operations() if any(
        any(examples_of(media)) for status, r in op["responses"].items() if status.startswith("2")
        for media in deref(r).get("content", {}).values())]
    # every JSON 2xx answer of the notification family, the subscriptions family and /health
    assert len(two_xx) >= 23


# -- (e) the subscriptions family's inputs and filter are the code's -------------------------------

API = "/email_subscription/v1.0"
SUBSCRIPTION_INPUTS = {  # path: the model its parameters are validated with, and its documented form body
    f"{API}/subscribe": (subscription_schemas.SubscribeParams, "SubscribeInput"),
    f"{API}/confirm": (subscription_schemas.ConfirmParams, "ConfirmInput"),
    f"{API}/user_subscriptions/list": (subscription_schemas.WhoParams, None),
    f"{API}/user_subscriptions": (subscription_schemas.CheckParams, None),
    f"{API}/unsubscribe": (subscription_schemas.UnsubscribeParams, "UnsubscribeInput"),
    f"{API}/unsubscribe/by_direction": (subscription_schemas.UnsubscribeDirectionParams, "UnsubscribeDirectionInput"),
    # The pages the emails link to: the same parameters, answered with HTML.
    f"{API}/confirm/page": (subscription_schemas.ConfirmParams, "ConfirmInput"),
    f"{API}/unsubscribe/page": (subscription_schemas.UnsubscribeParams, "UnsubscribeInput"),
    f"{API}/unsubscribe/by_direction/page": (subscription_schemas.UnsubscribeDirectionParams,
                                              "UnsubscribeDirectionInput"),
}
ONE_CLICK_FIELD = "List-Unsubscribe"  # RFC 8058's body field: documented, read by no model (extras are ignored)
LIMITS = {"max_length": "maxLength", "ge": "minimum", "le": "maximum"}


def limits_of(field) -> dict[str, Any]:
    return {LIMITS[name]: getattr(item, name) for item in field.metadata for name in LIMITS if hasattr(item, name)}


def test_the_subscription_parameters_are_the_models_fields():
    assert {path for path in SPEC["paths"] if path.startswith(API)} == set(SUBSCRIPTION_INPUTS)
    for path, (model, body_name) in SUBSCRIPTION_INPUTS.items():
        fields = model.model_fields
        required = {name for name, field in fields.items() if field.is_required()}
        query = {p["name"]: p for p in map(deref, SPEC["paths"][path]["get"]["parameters"])}
        assert set(query) == set(fields), path
        assert {name for name, p in query.items() if p["required"]} == required, path
        for name, field in fields.items():
            schema = deref(query[name]["schema"])
            for keyword, value in limits_of(field).items():
                assert schema.get(keyword) == value, (path, name, keyword)
        if body_name is None:
            assert "post" not in SPEC["paths"][path]
            continue
        body = SPEC["components"]["schemas"][body_name]
        assert set(body["properties"]) - {ONE_CLICK_FIELD} == set(fields), body_name
        assert set(body.get("required", [])) <= required, body_name
        for content in SPEC["paths"][path]["post"]["requestBody"]["content"].values():
            assert content["schema"] == {"$ref": f"#/components/schemas/{body_name}"}
            if body.get("required"):  # a complete request: the code accepts it as documented
                parsed = model.model_validate(content["example"])
                assert parsed.cross_field_errors() == {}, (path, content["example"])


FILTER_PARTS = {"PriceFilter": directions.PriceFilter, "TransferFilter": directions.TransferFilter,
                "TimeFilter": directions.TimeFilter, "AirportFilter": directions.AirportFilter}
SEED_FILTERS = [  # seed 001's two examples (its comments left out), and the edges its text names
    SPEC["components"]["schemas"]["PriceFilter"]["examples"][0],
    {"withBaggage": True, "transfer": {"count": 3, "hasAirportChange": False, "hasNight": None}, "time": None,
     "airport": None, "filter_url_postfix": "#tt=1,0,0,0,0,0&bg=1&t=f|d|3b|d|"},
    {"airlines": []}, {"airlines": None}, {}, {"time": {"forwardArrival": 1, "backwardDeparture": 4}},
]
BAD_FILTERS = [
    {"withBaggage": False}, {"airlines": "SU"}, {"airlines": [1, "2"]}, {"airlines": [True]},
    {"transfer": {"count": 0}}, {"transfer": {"hasNight": True}}, {"transfer": {"hasAirportChange": True}},
    {"transfer": {"minDuration": -1}}, {"time": {"forwardArrival": 5}}, {"time": {"backwardDeparture": 0}},
    {"airport": {"forwardTransfers": [1.5]}}, {"bagage": True}, {"time": {"evening": 3}},
    {"filter_url_postfix": 5},
]


def test_the_documented_filter_is_the_codes():
    for name, model in FILTER_PARTS.items():
        schema = SPEC["components"]["schemas"][name]
        assert set(schema["properties"]) == set(model.model_fields), name
        assert schema["additionalProperties"] is False and model.model_config["extra"] == "forbid", name
    price_filter = {"$ref": "#/components/schemas/PriceFilter"}
    for good in SEED_FILTERS + SPEC["components"]["schemas"]["PriceFilter"]["examples"]:
        assert errors_of(good, price_filter) == [], good
        directions.PriceFilter.model_validate(good)
    for bad in BAD_FILTERS:
        assert errors_of(bad, price_filter), bad
        with pytest.raises(ValueError):
            directions.PriceFilter.model_validate(bad)


class Checker:
    """Each answer checked against the status, media type and schema documented for it."""

    def __init__(self, client):
        self.client = client

    async def __call__(self, method: str, template: str, status: int, params: dict | None = None,
                       query: dict | None = None, **kwargs):
        """`params` fill the template's {names}; `query` is sent as the query string."""
        path = template.format(**(params or {}))
        response = await self.client.request(method, path, params=query, **kwargs)
        assert response.status == status, (method, path, await response.text())
        operation = SPEC["paths"][template.partition("?")[0]][method.lower()]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method} {template} answers {status}, which is not documented"
        content = deref(documented).get("content")
        if not content:
            assert await response.read() == b""
            return None
        assert response.content_type in content, (method, template, response.content_type)
        if response.content_type != "application/json":
            return await response.text()
        body = await response.json()
        assert errors_of(body, content["application/json"]["schema"]) == [], (method, path, body)
        return body


async def test_live_answers_match_the_documented_schemas(client):
    check = Checker(client)
    await check("GET", "/health", 200)
    await check("GET", "/metrics", 200)
    await check("GET", "/Clients/", 401)
    await check("GET", "/Clients/", 401, headers={"Authorization": "Token wrong"})

    created = await check("POST", "/Clients/", 201, data={"phone_number": "8 977 405 33 29", "tag": "vip, moscow"},
                          headers=AUTH)
    one = {"id": created["id"]}
    await check("POST", "/Clients/", 201, json={"phone_number": "+7 (921) 405-33-30", "timezone": "Asia/Tokyo"},
                headers=AUTH)
    await check("POST", "/Clients/", 400, data={"phone_number": "79774053329"}, headers=AUTH)
    await check("POST", "/Clients/", 400, data=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
    await check("GET", "/Clients/", 200, headers=AUTH)
    page = await check("GET", "/Clients/?limit=1&tag=vip", 200, headers=AUTH)
    assert page["count"] == 1 and page["next"] is None
    assert (await check("GET", "/Clients/?limit=1", 200, headers=AUTH))["next"].startswith("http")
    await check("GET", "/Clients/?limit=0", 400, headers=AUTH)
    await check("GET", "/Clients/{id}/", 200, one, headers=AUTH)
    await check("GET", "/Clients/{id}/", 404, {"id": 999}, headers=AUTH)
    await check("PATCH", "/Clients/{id}/", 200, one, data={"timezone": "Europe/Moscow"}, headers=AUTH)
    await check("PUT", "/Clients/{id}/", 200, one, json={"phone_number": "79774053329", "tag": "vip"}, headers=AUTH)
    await check("PUT", "/Clients/{id}/", 400, one, json={"tag": "vip"}, headers=AUTH)

    mailing = await check("POST", "/Mailing/", 201, json={
        "datetime_start": "2020-01-01T00:00:00", "datetime_end": "2099-01-01T00:00:00+03:00",
        "message_text": "Hello", "filter_tag": "vip"}, headers=AUTH)
    await check("POST", "/Mailing/", 400, data={"datetime_start": "2022-08-22T22:42:16",
                                                "datetime_end": "2022-08-20T21:42:16", "message_text": "x"},
                headers=AUTH)
    await check("GET", "/Mailing/", 200, headers=AUTH)
    await check("GET", "/Mailing/{id}/", 200, {"id": mailing["id"]}, headers=AUTH)
    await check("PATCH", "/Mailing/{id}/", 200, {"id": mailing["id"]},
                data={"window_start": "00:00", "window_end": "23:59"}, headers=AUTH)
    await check("PUT", "/Mailing/{id}/", 404, {"id": 999}, json={
        "datetime_start": "2020-01-01T00:00", "datetime_end": "2099-01-01T00:00", "message_text": "x"}, headers=AUTH)
    await check("GET", "/Stats/", 200, headers=AUTH)
    for _ in range(200):
        stats = await check("GET", "/Stats/{id}/", 200, {"id": mailing["id"]}, headers=AUTH)
        if stats["messages"]["results"]:
            break
        await asyncio.sleep(0.02)
    assert stats["total"] == 1 and stats["messages"]["results"][0]["client_id"] == created["id"]
    await check("GET", "/Stats/{id}/?limit=5000", 400, {"id": mailing["id"]}, headers=AUTH)
    await check("GET", "/Stats/{id}/", 404, {"id": 999}, headers=AUTH)

    await check("DELETE", "/Mailing/{id}/", 204, {"id": mailing["id"]}, headers=AUTH)
    await check("DELETE", "/Mailing/{id}/", 404, {"id": mailing["id"]}, headers=AUTH)
    await check("DELETE", "/Clients/{id}/", 204, one, headers=AUTH)
    await check("GET", "/Clients/{id}/", 404, one, headers=AUTH)


async def test_live_subscription_answers_match_the_documented_schemas(client):
    """Seed 001's requests through double opt-in, the check's date range and the unsubscribe links."""
    check = Checker(client)
    qkey = "c213_c54_2017-12-20_2018-01-04_economy_1_0_1_ru"
    other_qkey = "c213_c2_2018-04-01_None_economy_1_0_0_ru"
    who = {"email": "vasya@example.com", "passportuid": "36972065"}
    postfix = "#tt=1,0,0,0,0,0&bg=1"
    subscription = {**who, "qkey": qkey, "email_source": "VALERA", "date_range": "2",
                    "filter": json.dumps({"withBaggage": True, "filter_url_postfix": postfix})}

    await check("GET", f"{API}/subscribe", 401, query=subscription)
    await check("GET", f"{API}/user_subscriptions/list", 401, query=who, headers={"Authorization": "Token wrong"})
    first = await check("GET", f"{API}/subscribe", 200, query=subscription, headers=AUTH)
    subscriber = {"id": first["data"]["id"]}
    assert first["data"] == {**subscriber, "required_double_opt_in": True, "pending": False}
    again = await check("POST", f"{API}/subscribe", 200, data=subscription, headers=AUTH)
    assert again["data"] == {**subscriber, "required_double_opt_in": True, "pending": True}  # within the cool-down
    await check("POST", f"{API}/subscribe", 200, json={**who, "qkey": other_qkey}, headers=AUTH)
    await check("GET", f"{API}/subscribe", 409, query={**who, "passportuid": "1", "qkey": qkey}, headers=AUTH)
    bad = await check("GET", f"{API}/subscribe", 400, query={**who, "qkey": "c213_c2_2018-04-01_None_cheap_1_0_0_ru"},
                      headers=AUTH)
    assert list(bad["errors"]) == ["qkey"] and "class" in bad["message"]
    await check("POST", f"{API}/subscribe", 400, data={**who, "qkey": qkey, "filter": '{"withBaggage": false}'},
                headers=AUTH)
    await check("POST", f"{API}/subscribe", 400, data=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
    await check("POST", f"{API}/subscribe", 415, data=b"qkey", headers={**AUTH, "Content-Type": "text/plain"})

    wrong = await check("GET", f"{API}/confirm", 400, query={**subscriber, "p": hashlib.sha256(b"1").hexdigest()})
    assert list(wrong["errors"]) == ["p"]
    await check("GET", f"{API}/confirm", 400, query=subscriber)
    await check("GET", f"{API}/confirm", 404, query={"id": "no-such-id", "p": hashlib.sha256(b"1").hexdigest()})
    proof = {"p": hashlib.sha256(who["passportuid"].encode()).hexdigest()}
    assert await check("POST", f"{API}/confirm", 200, data={**subscriber, **proof}) == {
        "status": "success", "data": subscriber}
    confirmed = await check("GET", f"{API}/subscribe", 200, query={"passportuid": who["passportuid"],
                                                                    "qkey": other_qkey}, headers=AUTH)
    assert confirmed["data"] == {**subscriber, "required_double_opt_in": False, "pending": False}

    listed = await check("GET", f"{API}/user_subscriptions/list", 200, query={"email": who["email"]}, headers=AUTH)
    assert listed["data"] == {**subscriber, "subscriptions": [qkey, other_qkey]}
    nobody = await check("GET", f"{API}/user_subscriptions/list", 200, query={"email": "nobody@example.com"},
                         headers=AUTH)
    assert nobody["data"] == {"id": None, "subscriptions": []}
    await check("GET", f"{API}/user_subscriptions/list", 400, headers=AUTH)
    a_day_later = "c213_c54_2017-12-21_2018-01-05_economy_1_0_1_ru"
    found = await check("GET", f"{API}/user_subscriptions", 200, query={**who, "qkey": a_day_later}, headers=AUTH)
    assert found["data"] == {**subscriber, "subscribed": True, "filter": postfix, "qkey": qkey, "date_range": 2}
    missed = await check("GET", f"{API}/user_subscriptions", 200,
                         query={**who, "qkey": a_day_later.replace("economy", "business")}, headers=AUTH)
    assert missed["data"]["id"] == subscriber["id"] and missed["data"]["subscribed"] is False
    unknown = await check("GET", f"{API}/user_subscriptions", 200,
                          query={"email": "nobody@example.com", "qkey": qkey}, headers=AUTH)
    assert unknown["data"]["id"] is None
    await check("GET", f"{API}/user_subscriptions", 400, query=who, headers=AUTH)

    # RFC 8058 one-click: the link's query, the body List-Unsubscribe=One-Click.
    link = {**subscriber, "qkey": qkey}
    await check("POST", f"{API}/unsubscribe/by_direction?id={{id}}&qkey={{qkey}}", 200, link,
                data={"List-Unsubscribe": "One-Click"})
    await check("GET", f"{API}/unsubscribe/by_direction", 200, query=link)  # twice is fine
    await check("GET", f"{API}/unsubscribe/by_direction", 404,
                query={**subscriber, "qkey": "c213_c2_2018-04-11_None_economy_1_0_0_ru"})
    await check("GET", f"{API}/unsubscribe/by_direction", 400, query={**subscriber, "qkey": "c213"})
    await check("GET", f"{API}/unsubscribe", 200, query=subscriber)
    await check("POST", f"{API}/unsubscribe", 200, json=subscriber)
    await check("POST", f"{API}/unsubscribe?id={{id}}", 200, subscriber, data={"List-Unsubscribe": "One-Click"})
    await check("GET", f"{API}/unsubscribe", 404, query={"id": "no-such-id"})
    await check("GET", f"{API}/unsubscribe", 400)
    emptied = await check("GET", f"{API}/user_subscriptions/list", 200, query=who, headers=AUTH)
    assert emptied["data"] == {**subscriber, "subscriptions": []}


async def test_live_telephony_answers_match_the_documented_schemas(aiohttp_client, make_settings):
    """The gateway against the PBX emulator: a command, statistics as JSON and CSV, Mango's refusals,
    Herald's own, the lockout, and the webhooks."""
    mango = MangoEmulator("vpbx-key", "vpbx-salt", rate_limits=False, lockout_seconds=60)
    await mango.start()
    try:
        client = await aiohttp_client(create_app(make_settings(telephony={
            "api_url": mango.vpbx_url, "cc_api_url": mango.cc_url, "api_key": "vpbx-key", "api_salt": "vpbx-salt",
            "rate_limits": False, "stats_poll_seconds": 0.01, "timeout_seconds": 5})))
        mango.webhook_base = str(client.make_url("/mango/"))
        check = Checker(client)
        for path, _, operation in operations():  # every example request is accepted as documented
            if path.startswith("/telephony/") or path.startswith("/mango/") or path not in TELEPHONY_PATHS:
                continue
            method = "DELETE" if path == "/delete_bwlist" else "POST"
            for media_type, media in operation["requestBody"]["content"].items():
                body = dict(media["example"])
                if "command_id" in body:  # each command its own
                    body["command_id"] += "-form" if "form" in media_type else ""
                kwargs = {"json": body} if media_type == "application/json" else {"data": body}
                response = await client.request(method, path, headers=AUTH, **kwargs)
                assert response.status == 200, (path, media_type, await response.text())
                schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
                assert errors_of(await response.json(), schema) == [], (path, media_type)
                assert ("X-Command-Id" in response.headers) == ("headers" in operation["responses"]["200"]), path
        assert mango.errors_3xxx == 0

        await check("POST", "/send_sms", 401, json={})
        sent = await check("POST", "/send_sms", 200, json={"number": "79001234567", "text": "Hi", "from_ext": "101",
                                                           "command_id": "c1"}, headers=AUTH)
        assert sent == {"result": 1000, "detail": "Success."}
        await check("POST", "/send_sms", 409, json={"number": "79001234567", "text": "Hi", "from_ext": "101",
                                                    "command_id": "c1"}, headers=AUTH)
        await check("POST", "/send_sms", 400, data={"number": "12", "text": "Hi"}, headers=AUTH)
        await check("POST", "/balance", 415, data=b"x", headers={**AUTH, "Content-Type": "text/plain"})
        await mango.drain_webhooks()
        command = await check("GET", "/telephony/commands/{command_id}", 200, {"command_id": "c1"}, headers=AUTH)
        assert command["result"] == 1000 and [hook["kind"] for hook in command["webhooks"]] == ["result/sms", "events/sms"]
        await check("GET", "/telephony/commands/{command_id}", 404, {"command_id": "nope"}, headers=AUTH)

        mango.stats_calls = [{"start": 1767225700, "to_number": "74951234567", "records": ["r1", "r2"]}]
        stats = {"date_from": 1767225600, "date_to": 1767312000, "to_ext": "101", "fields": "records,start,to_number"}
        rows = await check("POST", "/get_stats_to", 200, json=stats, headers=AUTH)
        assert rows["records"] == [{"records": ["r1", "r2"], "start": "1767225700", "to_number": "74951234567"}]
        assert await check("POST", "/get_stats_to", 200, json=stats, headers={**AUTH, "Accept": "text/csv"}) == (
            "[r1,r2];1767225700;74951234567")
        await check("POST", "/get_stats_to", 400, json={**stats, "date_to": 1767225600 + 32 * 86400}, headers=AUTH)

        for code, status in [(2240, 402), (4101, 409), (4290, 429), (5008, 503), (5011, 504), (5000, 502),
                             (3310, 404), (3104, 400)]:
            mango.answer("vpbx/account/balance", body={"result": code}, times=1)
            await check("POST", "/balance", status, headers=AUTH)
        await check("POST", "/balance", 503, headers=AUTH)  # two 3xxx errors: Mango locks the account out
        await check("POST", "/end_call", 503, json={"call_id": "x"}, headers=AUTH)

        for status, form in [(401, {}), (401, {"vpbx_api_key": "other", "sign": "x", "json": "{}"}),
                             (403, {"vpbx_api_key": "vpbx-key", "sign": "x", "json": "{}"}),
                             (400, {"vpbx_api_key": "vpbx-key", "sign": mango.signature("[1]"), "json": "[1]"})]:
            await check("POST", "/mango/{path}", status, {"path": "events/call"}, data=form)
        event = '{"entry_id":"e1","call_id":"c","seq":1,"call_state":"Appeared","timestamp":1767225700}'
        await check("POST", "/mango/{path}", 200, {"path": "events/call"},
                    data={"vpbx_api_key": "vpbx-key", "sign": mango.signature(event), "json": event})
        page = await check("GET", "/telephony/calls/", 200, query={"limit": "10"}, headers=AUTH)
        await check("GET", "/telephony/calls/{id}", 200, {"id": page["results"][0]["id"]}, headers=AUTH)
        await check("GET", "/telephony/calls/{id}", 404, {"id": 999}, headers=AUTH)
        await check("GET", "/telephony/calls/", 400, query={"date_from": "x"}, headers=AUTH)
    finally:
        await mango.stop()


@pytest.mark.parametrize("method,path,headers,component", [
    ("POST", "/Stats/", AUTH, "MethodNotAllowed"),
    ("GET", "/send_sms", AUTH, "MethodNotAllowed"),
    ("POST", "/delete_bwlist", AUTH, "MethodNotAllowed"),
    ("POST", "/telephony/calls/", AUTH, "MethodNotAllowed"),
    ("DELETE", f"{API}/subscribe", AUTH, "SubscriptionMethodNotAllowed"),
    ("POST", f"{API}/user_subscriptions/list", AUTH, "SubscriptionMethodNotAllowed"),
    ("DELETE", f"{API}/unsubscribe", {}, "SubscriptionMethodNotAllowed"),
])
async def test_a_method_a_path_does_not_serve_is_the_documented_405(client, method, path, headers, component):
    response = await client.request(method, path, headers=headers)
    assert response.status == 405
    schema = SPEC["components"]["responses"][component]["content"]["application/json"]["schema"]
    assert errors_of(await response.json(), schema) == []
    assert "Allow" in response.headers

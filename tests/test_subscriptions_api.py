"""/email_subscription/v1.0/: seed 001's requests and answers, double opt-in through a real SMTP
server, the check's date range, unsubscribe links, and every error in the family's envelope."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import pytest

from server.app import create_app
from tests.conftest import AUTH
from tests.pages import open_page, press_button

API = "/email_subscription/v1.0"
QKEY = "c213_c2_2018-04-01_None_economy_1_0_0_ru"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def api(smtp_server, aiohttp_client, make_settings):  # noqa: F811
    """The app mailing through a real SMTP server that outlives it (fixtures close in reverse)."""
    settings = make_settings(smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
                             server={"public_url": "http://herald.test"})
    return await aiohttp_client(create_app(settings))


async def call(api, path: str, method: str = "GET", auth: bool = True, **params) -> tuple[int, dict]:
    headers = AUTH if auth else {}
    if method == "GET":
        response = await api.get(f"{API}/{path}", params=params, headers=headers)
    else:
        response = await api.post(f"{API}/{path}", data=params, headers=headers)
    return response.status, await response.json()


def link_in(received, name: str) -> str:
    text = received.body("plain")
    return next(url for url in re.findall(r"https?://\S+", text) if f"/{name}?" in url)


async def test_passport_subscription_with_double_opt_in(api, smtp_server):  # noqa: F811
    status, body = await call(api, "subscribe", email="Vasya@Example.com", passportuid="36972065", qkey=QKEY,
                              email_source="VALERA")
    assert status == 200
    assert body["status"] == "success"
    assert body["data"]["required_double_opt_in"] is True and body["data"]["pending"] is False
    subscriber_id = body["data"]["id"]
    assert UUID.match(subscriber_id)

    await smtp_server.wait_for(1)
    confirmation = smtp_server.received[0]
    assert confirmation.rcpt_tos == ["vasya@example.com"]
    assert confirmation.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    confirm_url = link_in(confirmation, "confirm/page")
    assert f"id={subscriber_id}" in confirm_url and f"p={sha256('36972065')}" in confirm_url

    # Asked again before confirming: pending, and no second email within the cool-down.
    status, body = await call(api, "subscribe", email="vasya@example.com", passportuid="36972065", qkey=QKEY,
                              email_source="VALERA")
    assert body == {"status": "success", "data": {"required_double_opt_in": True, "id": subscriber_id,
                                                  "pending": True}}

    page = await open_page(api, confirm_url)  # a scanner or the reader opens it: nothing happens yet
    assert page.buttons == ["Подтвердить подписку"]
    _, body = await call(api, "subscribe", email="vasya@example.com", passportuid="36972065", qkey=QKEY)
    assert body["data"]["required_double_opt_in"] is True
    assert "Подписка подтверждена" in (await press_button(api, page)).text

    # Confirmed: by email and passport, or by passport alone, no confirmation is needed any more.
    for params in ({"email": "vasya@example.com", "passportuid": "36972065"}, {"passportuid": "36972065"}):
        status, body = await call(api, "subscribe", qkey="c213_c2_2018-04-10_None_economy_1_0_0_ru",
                                  email_source="VALERA", **params)
        assert body == {"status": "success", "data": {"required_double_opt_in": False, "id": subscriber_id,
                                                      "pending": False}}
    assert len(smtp_server.received) == 1


async def test_session_subscription_is_confirmed_by_the_session_hash(api, smtp_server):  # noqa: F811
    _, body = await call(api, "subscribe", email="anon@example.com", session="sess-1", qkey=QKEY,
                         email_source="VALERA")
    subscriber_id = body["data"]["id"]
    await smtp_server.wait_for(1)
    confirm_url = link_in(smtp_server.received[0], "confirm/page")
    assert f"s={sha256('sess-1')}" in confirm_url

    status, body = await call(api, "confirm", auth=False, id=subscriber_id, s=sha256("another session"))
    assert status == 400 and body["status"] == "error" and "s" in body["errors"]
    status, body = await call(api, "confirm", auth=False, id=subscriber_id, p=sha256("sess-1"))
    assert status == 400  # a session subscriber has no passport hash
    _, body = await call(api, "subscribe", email="anon@example.com", session="sess-1", qkey=QKEY)
    assert body["data"]["required_double_opt_in"] is True  # nothing above confirmed it

    assert "Подписка подтверждена" in (await press_button(api, await open_page(api, confirm_url))).text
    _, body = await call(api, "subscribe", email="anon@example.com", session="sess-2", qkey=QKEY)
    assert body["data"] == {"required_double_opt_in": False, "id": subscriber_id, "pending": False}


async def test_passportuid_alone_subscribes_and_a_later_email_is_confirmed_like_any(api, smtp_server):  # noqa: F811
    """Seed 001's "Только по passportuid" for an account Herald has not seen: stored, nothing to
    send yet; the email a later subscribe gives goes through double opt-in with `p`."""
    status, body = await call(api, "subscribe", passportuid="111", qkey=QKEY, email_source="VALERA")
    assert status == 200 and body["status"] == "success"
    subscriber_id = body["data"]["id"]
    assert UUID.match(subscriber_id)
    assert body["data"] == {"required_double_opt_in": False, "id": subscriber_id, "pending": False}
    other = "c213_c2_2018-04-10_None_economy_1_0_0_ru"
    _, body = await call(api, "subscribe", passportuid="111", qkey=other)
    assert body["data"]["id"] == subscriber_id
    _, listed = await call(api, "user_subscriptions/list", passportuid="111")
    assert listed["data"] == {"id": subscriber_id, "subscriptions": [QKEY, other]}
    _, checked = await call(api, "user_subscriptions", passportuid="111", qkey=QKEY)
    assert checked["data"]["subscribed"] is True

    _, body = await call(api, "subscribe", email="late@example.com", passportuid="111", qkey=QKEY)
    assert body["data"] == {"required_double_opt_in": True, "id": subscriber_id, "pending": False}
    await smtp_server.wait_for(1)
    [confirmation] = smtp_server.received  # the only email: before, there was no one to send to
    assert confirmation.rcpt_tos == ["late@example.com"]
    assert f"p={sha256('111')}" in link_in(confirmation, "confirm/page")


async def test_list_and_check_as_in_the_seed(api):
    _, body = await call(api, "subscribe", email="v@example.com", passportuid="36972065",
                         qkey="c213_c54_2017-12-20_2018-01-04_economy_1_0_1_ru", date_range="2",
                         filter='{"withBaggage": true, "filter_url_postfix": "#tt=1,0,0,0,0,0&bg=1"}')
    subscriber_id = body["data"]["id"]
    await call(api, "subscribe", email="v@example.com", passportuid="36972065",
               qkey="c213_c2_2017-12-19_None_economy_2_1_0_ru")

    for who in ({"passportuid": "36972065"}, {"email": "v@example.com"}):
        status, body = await call(api, "user_subscriptions/list", **who)
        assert (status, body) == (200, {"status": "success", "data": {"id": subscriber_id, "subscriptions": [
            "c213_c54_2017-12-20_2018-01-04_economy_1_0_1_ru", "c213_c2_2017-12-19_None_economy_2_1_0_ru"]}})

    # The asked direction is a day later than the subscribed one, within its date range of 2.
    _, body = await call(api, "user_subscriptions", passportuid="36972065",
                         qkey="c213_c54_2017-12-21_2018-01-05_economy_1_0_1_ru")
    assert body == {"status": "success", "data": {"id": subscriber_id, "subscribed": True,
                                                  "filter": "#tt=1,0,0,0,0,0&bg=1",
                                                  "qkey": "c213_c54_2017-12-20_2018-01-04_economy_1_0_1_ru",
                                                  "date_range": 2}}
    for qkey in ("c213_c54_2017-12-23_2018-01-07_economy_1_0_1_ru",  # three days off: out of range
                 "c213_c54_2017-12-21_2018-01-05_business_1_0_1_ru"):  # another class
        _, body = await call(api, "user_subscriptions", email="v@example.com", qkey=qkey)
        assert body == {"status": "success", "data": {"id": subscriber_id, "subscribed": False, "filter": None,
                                                      "qkey": None, "date_range": None}}
    _, body = await call(api, "user_subscriptions", email="nobody@example.com", qkey=QKEY)
    assert body == {"status": "success", "data": {"id": None, "subscribed": False, "filter": None, "qkey": None,
                                                  "date_range": None}}
    _, body = await call(api, "user_subscriptions/list", email="nobody@example.com")
    assert body == {"status": "success", "data": {"id": None, "subscriptions": []}}


async def test_subscribing_twice_updates_the_subscription(api):
    for date_range in ("0", "3"):
        _, body = await call(api, "subscribe", "POST", email="v@example.com", passportuid="1", qkey=QKEY,
                             date_range=date_range)
    _, listed = await call(api, "user_subscriptions/list", passportuid="1")
    assert listed["data"]["subscriptions"] == [QKEY]
    _, checked = await call(api, "user_subscriptions", passportuid="1", qkey=QKEY)
    assert checked["data"]["date_range"] == 3


async def test_unsubscribe_links_need_no_token_and_answer_post_too(api):
    _, body = await call(api, "subscribe", email="v@example.com", passportuid="1", qkey=QKEY)
    subscriber_id = body["data"]["id"]
    other = "c213_c2_2018-04-10_None_economy_1_0_0_ru"
    await call(api, "subscribe", email="v@example.com", passportuid="1", qkey=other)

    # RFC 8058 one-click: a POST to the link with List-Unsubscribe=One-Click in the body.
    response = await api.post(f"{API}/unsubscribe/by_direction?id={subscriber_id}&qkey={QKEY}",
                              data={"List-Unsubscribe": "One-Click"})
    assert await response.json() == {"status": "success", "data": {"id": subscriber_id}}
    assert (await call(api, "user_subscriptions/list", passportuid="1"))[1]["data"]["subscriptions"] == [other]

    status, body = await call(api, "unsubscribe", auth=False, id=subscriber_id)
    assert (status, body) == (200, {"status": "success", "data": {"id": subscriber_id}})
    assert (await call(api, "user_subscriptions/list", passportuid="1"))[1]["data"]["subscriptions"] == []
    assert (await call(api, "unsubscribe", auth=False, id=subscriber_id))[0] == 200  # twice is fine

    # Subscribing again brings the subscription back.
    await call(api, "subscribe", email="v@example.com", passportuid="1", qkey=QKEY)
    assert (await call(api, "user_subscriptions/list", passportuid="1"))[1]["data"]["subscriptions"] == [QKEY]


@pytest.mark.parametrize("qkey,part", [
    ("c213_c2_2018-04-01_None_economy_1_0_0", "9 parts"),
    ("213_c2_2018-04-01_None_economy_1_0_0_ru", "point from"),
    ("c213_c2_2018-02-30_None_economy_1_0_0_ru", "date forward"),
    ("c213_c2_9999-12-31_None_economy_1_0_0_ru", "date forward"),
    ("c213_c2_2018-04-01_2018-03-01_economy_1_0_0_ru", "date backward"),
    ("c213_c2_2018-04-01_None_cheap_1_0_0_ru", "class"),
    ("c213_c2_2018-04-01_None_economy_0_0_0_ru", "adults"),
    ("c213_c2_2018-04-01_None_economy_1_x_0_ru", "children"),
    ("c213_c2_2018-04-01_None_economy_1_0_2_ru", "infants"),
    ("c213_c2_2018-04-01_None_economy_1_0_0_RU", "national version"),
])
async def test_a_bad_qkey_part_is_named(api, qkey, part):
    status, body = await call(api, "subscribe", email="v@example.com", passportuid="1", qkey=qkey)
    assert status == 400
    assert body["status"] == "error" and part in body["errors"]["qkey"][0] and part in body["message"]


@pytest.mark.parametrize("filter_json,where", [
    ('{"withBaggage": false}', "withBaggage"),
    ('{"airlines": "SU"}', "airlines"),
    ('{"airlines": [1, "2"]}', "airlines"),
    ('{"transfer": {"count": 0}}', "transfer.count"),
    ('{"transfer": {"hasNight": true}}', "transfer.hasNight"),
    ('{"time": {"forwardArrival": 5}}', "time.forwardArrival"),
    ('{"airport": {"forwardTransfers": [1.5]}}', "airport.forwardTransfers"),
    ('{"bagage": true}', "bagage"),
    ('[1, 2]', "JSON object"),
    ('{not json', "Not JSON"),
])
async def test_a_bad_filter_is_named(api, filter_json, where):
    status, body = await call(api, "subscribe", "POST", email="v@example.com", passportuid="1", qkey=QKEY,
                              filter=filter_json)
    assert status == 400
    assert where in body["errors"]["filter"][0]


async def test_the_seeds_filter_forms_are_accepted(api):
    """Every field optional; null is no filter; an empty list is a filter, not null."""
    for filter_json in ('{"withBaggage": true, "transfer": {"count": 3, "hasAirportChange": false, '
                        '"hasNight": null}, "time": null, "airport": null, "filter_url_postfix": "#tt"}',
                        '{"airlines": []}', "null", '{"time": {"forwardArrival": 1, "backwardDeparture": 4}}'):
        status, body = await call(api, "subscribe", "POST", email="v@example.com", passportuid="1", qkey=QKEY,
                                  filter=filter_json)
        assert status == 200, body


async def test_who_and_proof_are_required(api):
    status, body = await call(api, "subscribe", email="v@example.com", qkey=QKEY)
    assert status == 400 and list(body["errors"]) == ["session"]
    status, body = await call(api, "user_subscriptions/list")
    assert status == 400 and list(body["errors"]) == ["passportuid"]
    status, body = await call(api, "confirm", auth=False, id="x")
    assert status == 400 and list(body["errors"]) == ["p"]
    status, body = await call(api, "confirm", auth=False, id="no-such-id", p=sha256("1"))
    assert status == 404 and body == {"status": "error", "message": "No subscriber with id no-such-id."}
    status, body = await call(api, "unsubscribe/by_direction", auth=False, id="no-such-id", qkey=QKEY)
    assert status == 404 and body["status"] == "error"


async def test_an_email_owned_by_another_passport_is_a_conflict(api):
    await call(api, "subscribe", email="v@example.com", passportuid="1", qkey=QKEY)
    status, body = await call(api, "subscribe", email="v@example.com", passportuid="2", qkey=QKEY)
    assert status == 409 and list(body["errors"]) == ["email"]


async def test_service_routes_need_a_token_and_links_do_not(api):
    for path in ("subscribe", "user_subscriptions/list", "user_subscriptions"):
        status, body = await call(api, path, auth=False, email="v@example.com", session="s", qkey=QKEY)
        assert status == 401
        assert body == {"status": "error", "message": "Authentication credentials were not provided."}
    for path in ("confirm", "unsubscribe", "unsubscribe/by_direction"):
        status, body = await call(api, path, auth=False)
        assert status == 400, path  # validated, not refused


async def test_without_double_opt_in_no_confirmation_is_sent(smtp_server, aiohttp_client, make_settings):  # noqa: F811
    settings = make_settings(smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
                             subscriptions={"double_opt_in": False})
    api = await aiohttp_client(create_app(settings))
    _, body = await call(api, "subscribe", email="v@example.com", session="s", qkey=QKEY)
    assert body["data"]["required_double_opt_in"] is False and body["data"]["pending"] is False
    assert smtp_server.received == []


async def test_blank_parameters_count_as_absent_and_json_bodies_may_use_numbers_and_objects(api):
    status, body = await call(api, "subscribe", "POST", email="v@example.com", passportuid="1", qkey=QKEY,
                              email_source="", date_range="", filter="")
    assert status == 200, body
    status, body = await call(api, "subscribe", email="v@example.com", passportuid="1", qkey="")
    assert status == 400 and body["errors"] == {"qkey": ["This field is required."]}
    response = await api.post(f"{API}/subscribe", headers=AUTH, json={
        "email": "v@example.com", "passportuid": 1, "qkey": QKEY, "date_range": 2,
        "filter": {"withBaggage": True, "filter_url_postfix": "#bg=1"}})
    assert response.status == 200, await response.text()
    _, checked = await call(api, "user_subscriptions", passportuid="1", qkey=QKEY)
    assert (checked["data"]["filter"], checked["data"]["date_range"]) == ("#bg=1", 2)


@pytest.mark.parametrize("qkey", ["c213\n_c2_2018-04-01_None_economy_1_0_0_ru", "c٢١٣_c2_2018-04-01_None_economy_1_0_0_ru",
                                  "c213_c2_2018-04-01_None_economy_١_0_0_ru"])
async def test_a_qkey_is_ascii_to_the_letter(api, qkey):
    status, _ = await call(api, "subscribe", email="v@example.com", passportuid="1", qkey=qkey)
    assert status == 400


async def test_json_true_is_not_a_date_range_of_one_day(api):
    response = await api.post("/email_subscription/v1.0/subscribe", headers=AUTH, json={
        "email": "a@example.com", "session": "s1", "qkey": QKEY, "date_range": True})
    body = await response.json()
    assert response.status == 400 and list(body["errors"]) == ["date_range"]

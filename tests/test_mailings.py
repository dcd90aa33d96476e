"""/Mailing/: validation of times, filters and sending windows; PATCH merges before validating."""

import pytest

from tests.conftest import AUTH

VALID = {"datetime_start": "2030-01-01T10:00:00", "datetime_end": "2030-01-02T10:00:00", "message_text": "hello"}


async def create(client, **fields):
    response = await client.post("/Mailing/", json={**VALID, **fields}, headers=AUTH)
    return response.status, await response.json()


async def test_naive_times_are_utc_and_offsets_are_converted(client):
    status, body = await create(client, datetime_start="2030-01-01T13:00:00+03:00",
                                datetime_end="2030-01-01T12:00:00")
    assert status == 201
    assert body["datetime_start"] == "2030-01-01T10:00:00Z"
    assert body["datetime_end"] == "2030-01-01T12:00:00Z"


@pytest.mark.parametrize("field,value", [("datetime_start", "tomorrow"), ("datetime_end", "2030-13-01T00:00"),
                                         ("message_text", "   "), ("filter_op_codes", "977,92"),
                                         ("filter_op_codes", "abc"), ("window_start", "25:00")])
async def test_bad_values_name_their_field(client, field, value):
    extra = {"window_end": "10:00"} if field == "window_start" else {}
    status, body = await create(client, **{field: value}, **extra)
    assert status == 400
    assert list(body) == [field]


async def test_end_must_follow_start(client):
    status, body = await create(client, datetime_end=VALID["datetime_start"])
    assert status == 400 and body == {"datetime_end": ["Must be after datetime_start."]}


async def test_window_needs_both_ends_and_may_cross_midnight(client):
    status, body = await create(client, window_start="22:00")
    assert status == 400 and list(body) == ["window_end"]
    status, body = await create(client, window_start="09:00", window_end="09:00")
    assert status == 400 and list(body) == ["window_end"]
    status, body = await create(client, window_start="22:00", window_end="06:30")
    assert status == 201 and (body["window_start"], body["window_end"]) == ("22:00", "06:30")


async def test_filters_are_normalised_comma_lists(client):
    status, body = await create(client, filter_tag="тег3, vip,,", filter_op_codes="977, 921")
    assert status == 201
    assert body["filter_tag"] == "vip,тег3"
    assert body["filter_op_codes"] == "921,977"


async def test_patch_is_validated_against_the_stored_mailing(client):
    _, mailing = await create(client)
    url = f"/Mailing/{mailing['id']}/"
    response = await client.patch(url, data={"datetime_end": "2029-12-31T00:00:00"}, headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"datetime_end": ["Must be after datetime_start."]}
    response = await client.patch(url, data={"message_text": "changed"}, headers=AUTH)
    assert response.status == 200
    assert await response.json() == {**mailing, "message_text": "changed"}
    response = await client.patch(url, json={"window_start": None, "window_end": None}, headers=AUTH)
    assert response.status == 200


async def test_list_is_paginated(client):
    for _ in range(3):
        await create(client)
    page = await (await client.get("/Mailing/?limit=2", headers=AUTH)).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


async def test_a_running_mailing_follows_client_changes(aiohttp_client, make_settings):
    """Created, re-tagged and deleted clients join or leave a running mailing's unsent messages.
    A window that is never open here keeps every message pending, so nothing is sent meanwhile."""
    from datetime import datetime, timedelta, timezone

    from server.app import create_app

    client = await aiohttp_client(create_app(make_settings()))
    now = datetime.now(timezone.utc)
    closed_now = [(now + timedelta(hours=h)).strftime("%H:00") for h in (2, 3)]
    await client.post("/Clients/", json={"phone_number": "79000000001", "tag": "vip"}, headers=AUTH)
    other = await (await client.post("/Clients/", json={"phone_number": "79000000002", "tag": "new"},
                                     headers=AUTH)).json()
    mailing = await (await client.post("/Mailing/", json={
        "datetime_start": (now - timedelta(minutes=1)).isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
        "message_text": "hi", "filter_tag": "vip", "window_start": closed_now[0], "window_end": closed_now[1]},
        headers=AUTH)).json()

    async def statuses():
        import asyncio

        for _ in range(100):
            stats = await (await client.get(f"/Stats/{mailing['id']}/", headers=AUTH)).json()
            if stats["total"]:
                break
            await asyncio.sleep(0.02)
        return {m["phone_number"]: m["status"] for m in stats["messages"]["results"]}

    assert await statuses() == {"79000000001": "pending"}
    await client.patch(f"/Clients/{other['id']}/", json={"tag": "vip"}, headers=AUTH)
    third = await (await client.post("/Clients/", json={"phone_number": "79000000003", "tag": "vip"},
                                     headers=AUTH)).json()
    assert await statuses() == {"79000000001": "pending", "79000000002": "pending", "79000000003": "pending"}
    await client.patch(f"/Clients/{other['id']}/", json={"tag": "new"}, headers=AUTH)
    await client.delete(f"/Clients/{third['id']}/", headers=AUTH)
    assert await statuses() == {"79000000001": "pending", "79000000002": "cancelled", "79000000003": "cancelled"}


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "0999-01-01T00:00:00"])
async def test_times_at_the_ends_of_the_calendar_are_a_400(client, moment):
    status, body = await create(client, datetime_start=moment)
    assert status == 400 and list(body) == ["datetime_start"]


async def test_message_text_keeps_its_tabs_and_line_breaks(client):
    text = "Hello,\r\n\tour sale starts today.\nSee you!"
    status, body = await create(client, message_text=text)
    assert status == 201 and body["message_text"] == text


@pytest.mark.parametrize("field,value", [("filter_tag", "vip\n"), ("filter_op_codes", "977\t"),
                                         ("window_start", "09:00\n"), ("datetime_start", "2030-01-01T10:00\n")])
async def test_one_line_fields_refuse_tabs_and_line_breaks(client, field, value):
    extra = {"window_end": "18:00"} if field == "window_start" else {}
    status, body = await create(client, **{field: value}, **extra)
    assert status == 400
    assert list(body) == [field] and body[field][0].startswith("Must be one line")


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "9999-06-01T00:00:00", "0001-01-01T00:00:00+05:00",
                                   "0001-01-01T00:00:00", "1969-12-31T23:59:59", "0000-01-01T00:00"])
async def test_dates_out_of_range_say_so(client, value):
    status, body = await create(client, datetime_start=value)
    assert status == 400
    assert body == {"datetime_start": [f"{value!r} is out of range: the year must be between 1970 and 9998 (in UTC)."]}


async def test_an_offset_whose_plus_arrived_as_a_space_gets_a_hint(client):
    # curl -d datetime_start=2030-01-01T10:00:00+03:00 sends a '+', which form data reads as a space
    body = b"datetime_start=2030-01-01T10:00:00+03:00&datetime_end=2030-01-02T00:00&message_text=x"
    response = await client.post("/Mailing/", data=body,
                                 headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 400
    [message] = (await response.json())["datetime_start"]
    assert message.startswith("'2030-01-01T10:00:00 03:00' is not an ISO 8601 date and time")
    assert "URL-encoded as %2B" in message
    body = body.replace(b"+", b"%2B")
    response = await client.post("/Mailing/", data=body,
                                 headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 201 and (await response.json())["datetime_start"] == "2030-01-01T07:00:00Z"


async def test_a_bad_date_without_a_space_for_plus_gets_no_such_hint(client):
    status, body = await create(client, datetime_start="2030-01-01 25:00")
    assert status == 400 and "%2B" not in body["datetime_start"][0]

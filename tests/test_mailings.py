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

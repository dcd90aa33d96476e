"""/Clients/: phone normalisation, uniqueness, tags, time zones, filters and pagination."""

import pytest

from tests.conftest import AUTH


async def create(client, **fields):
    response = await client.post("/Clients/", json=fields, headers=AUTH)
    return response.status, await response.json()


@pytest.mark.parametrize("written", ["79774053329", "+7 (977) 405-33-29", "8 977 405 33 29", "+79774053329",
                                     "8(977)4053329", "7-977-405-33-29"])
async def test_written_forms_of_a_phone_are_normalised(client, written):
    status, body = await create(client, phone_number=written)
    assert status == 201
    assert body["phone_number"] == "79774053329"
    assert body["operator_code"] == "977"


@pytest.mark.parametrize("bad", ["", "12345", "+1 202 555 0100", "7977405332", "797740533299", "7977abc3329",
                                 "89774053329 1"])
async def test_other_phones_are_a_400(client, bad):
    status, body = await create(client, phone_number=bad)
    assert status == 400
    assert list(body) == ["phone_number"]


async def test_a_phone_is_unique_even_in_another_written_form(client):
    assert (await create(client, phone_number="79774053329"))[0] == 201
    status, body = await create(client, phone_number="8 977 405 33 29")
    assert status == 400
    assert body == {"phone_number": ["client with this phone_number already exists."]}


async def test_a_deleted_clients_phone_can_be_used_again(client):
    _, first = await create(client, phone_number="79774053329")
    assert (await client.delete(f"/Clients/{first['id']}/", headers=AUTH)).status == 204
    status, second = await create(client, phone_number="79774053329")
    assert status == 201 and second["id"] != first["id"]


async def test_timezone_defaults_to_utc_and_must_be_iana(client):
    assert (await create(client, phone_number="79000000001"))[1]["timezone"] == "UTC"
    assert (await create(client, phone_number="79000000002", timezone="Asia/Vladivostok"))[1]["timezone"] == "Asia/Vladivostok"
    status, body = await create(client, phone_number="79000000003", timezone="MSK+3")
    assert status == 400 and list(body) == ["timezone"]


async def test_patch_changes_only_what_it_names_and_put_replaces(client):
    _, created = await create(client, phone_number="79774053329", tag="vip", timezone="Europe/Moscow")
    url = f"/Clients/{created['id']}/"
    response = await client.patch(url, data={"phone_number": "79214053328"}, headers=AUTH)
    patched = await response.json()
    assert patched == {**created, "phone_number": "79214053328", "operator_code": "921"}
    response = await client.put(url, json={"phone_number": "79214053328"}, headers=AUTH)
    assert await response.json() == {**patched, "tag": "", "timezone": "UTC"}
    response = await client.put(url, json={"tag": "x"}, headers=AUTH)
    assert response.status == 400 and await response.json() == {"phone_number": ["This field is required."]}


async def test_patch_cannot_take_another_clients_phone(client):
    await create(client, phone_number="79000000001")
    _, second = await create(client, phone_number="79000000002")
    response = await client.patch(f"/Clients/{second['id']}/", json={"phone_number": "79000000001"}, headers=AUTH)
    assert response.status == 400 and list(await response.json()) == ["phone_number"]
    response = await client.patch(f"/Clients/{second['id']}/", json={"phone_number": "79000000002"}, headers=AUTH)
    assert response.status == 200  # its own number is no conflict


async def test_tag_is_the_comma_joined_set_of_tags(client):
    _, body = await create(client, phone_number="79000000001", tag=" b, a ,b,")
    assert body["tag"] == "a,b"


async def test_list_filters_by_tag_and_operator_code(client):
    await create(client, phone_number="79770000001", tag="vip")
    await create(client, phone_number="79210000002", tag="vip")
    await create(client, phone_number="79770000003", tag="new")
    await create(client, phone_number="79770000004", tag="vip,new")

    async def phones(query):
        response = await client.get(f"/Clients/?{query}", headers=AUTH)
        body = await response.json()
        assert body["count"] == len(body["results"])
        return [item["phone_number"] for item in body["results"]]

    assert await phones("tag=vip") == ["79770000001", "79210000002", "79770000004"]
    assert await phones("operator_code=977") == ["79770000001", "79770000003", "79770000004"]
    assert await phones("tag=vip&operator_code=977") == ["79770000001", "79770000004"]
    assert await phones("tag=nobody") == []


async def test_pagination_links(client):
    for n in range(5):
        await create(client, phone_number=f"7900000000{n}")
    response = await client.get("/Clients/?limit=2&offset=2", headers=AUTH)
    page = await response.json()
    assert page["count"] == 5
    assert [item["phone_number"] for item in page["results"]] == ["79000000002", "79000000003"]
    assert page["next"].endswith("/Clients/?limit=2&offset=4")
    assert page["previous"].endswith("/Clients/?limit=2")
    last = await (await client.get("/Clients/?limit=2&offset=4", headers=AUTH)).json()
    assert last["next"] is None and len(last["results"]) == 1


async def test_paths_work_without_the_trailing_slash(client):
    response = await client.post("/Clients", data={"phone_number": "79000000001"}, headers=AUTH,
                                 allow_redirects=False)
    assert response.status == 201
    client_id = (await response.json())["id"]
    response = await client.get(f"/Clients/{client_id}", headers=AUTH, allow_redirects=False)
    assert response.status == 200


async def test_counts_follow_every_kind_of_change(client):
    """The page counts come from trigger-kept totals; they must agree with the rows themselves."""
    ids = [(await create(client, phone_number=f"79{n % 3}1000000{n}", tag=["a", "b", "a,b", ""][n % 4]))[1]["id"]
           for n in range(8)]
    await client.patch(f"/Clients/{ids[0]}/", json={"tag": "b"}, headers=AUTH)
    await client.patch(f"/Clients/{ids[1]}/", json={"phone_number": "79990000001"}, headers=AUTH)
    await client.put(f"/Clients/{ids[2]}/", json={"phone_number": "79990000002"}, headers=AUTH)
    await client.delete(f"/Clients/{ids[3]}/", headers=AUTH)
    await client.delete(f"/Clients/{ids[4]}/", headers=AUTH)
    await create(client, phone_number="79901000004", tag="a")  # a deleted client's number, reused

    everyone = (await (await client.get("/Clients/?limit=1000", headers=AUTH)).json())["results"]
    for tag in (None, "a", "b", "zzz"):
        for code in (None, "901", "911", "921", "999", "000"):
            query = "&".join(f"{k}={v}" for k, v in (("tag", tag), ("operator_code", code)) if v)
            page = await (await client.get(f"/Clients/?limit=1000&{query}", headers=AUTH)).json()
            expected = [c for c in everyone if (tag is None or tag in c["tag"].split(","))
                        and (code is None or c["operator_code"] == code)]
            assert page["count"] == len(expected) == len(page["results"]), (tag, code)


async def test_an_explicit_empty_or_null_timezone_is_a_400_and_leaving_it_out_keeps_it(client):
    for sent in ({"json": {"phone_number": "79000000001", "timezone": ""}},
                 {"json": {"phone_number": "79000000001", "timezone": None}},
                 {"data": {"phone_number": "79000000001", "timezone": ""}}):
        response = await client.post("/Clients/", headers=AUTH, **sent)
        assert response.status == 400, sent
        assert list(await response.json()) == ["timezone"]
    _, created = await create(client, phone_number="79000000001", timezone="Europe/Moscow")
    url = f"/Clients/{created['id']}/"
    for sent in ({"json": {"timezone": ""}}, {"json": {"timezone": None}}, {"data": {"timezone": ""}},
                 {"data": {"timezone": " "}}):
        response = await client.patch(url, headers=AUTH, **sent)
        assert response.status == 400, sent
        assert (await response.json())["timezone"][0].startswith(("This field may not be blank",
                                                                  "This field may not be null"))
    response = await client.patch(url, data={"tag": "vip"}, headers=AUTH)
    assert (await response.json())["timezone"] == "Europe/Moscow"
    assert (await (await client.get(url, headers=AUTH)).json())["timezone"] == "Europe/Moscow"


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "posix/Europe/Moscow", "right/UTC"])
async def test_files_of_the_zone_database_that_are_no_place_are_refused(client, zone):
    status, body = await create(client, phone_number="79000000001", timezone=zone)
    assert status == 400 and body == {"timezone": [f"{zone!r} is not an IANA time zone name, e.g. Europe/Moscow."]}


@pytest.mark.parametrize("zone", ["Europe/Moscow", "UTC", "Etc/GMT+3", "America/Argentina/Buenos_Aires"])
async def test_iana_region_zones_are_accepted(client, zone):
    status, body = await create(client, phone_number="79000000001", timezone=zone)
    assert status == 201 and body["timezone"] == zone


@pytest.mark.parametrize("field,value", [("tag", "vip\n"), ("tag", "a\tb"), ("timezone", "Europe/Moscow\n"),
                                         ("phone_number", "7900000\t0001"), ("tag", ["vip", "new\r\n"])])
async def test_one_line_fields_refuse_tabs_and_line_breaks_instead_of_trimming_them(client, field, value):
    status, body = await create(client, **{"phone_number": "79000000001", field: value})
    assert status == 400
    assert list(body) == [field] and body[field][0].startswith("Must be one line: a tab or line break")


@pytest.mark.parametrize("tag", [None, 5, {}, ["a", None], ["a,b"], [["a"]]])
async def test_a_tag_that_is_neither_text_nor_a_list_of_texts_is_refused_not_stored_as_its_text(client, tag):
    response = await client.post("/Clients/", json={"phone_number": "79000000001", "tag": tag}, headers=AUTH)
    assert response.status == 400
    assert list(await response.json()) == ["tag"]
    listed = await (await client.get("/Clients/", headers=AUTH)).json()
    assert listed["count"] == 0


@pytest.mark.parametrize("phone", ["7٩٧٧٤٠٥٣٣٢٩", "7９７７４０５３３２９"])
async def test_digits_of_other_scripts_are_not_a_phone_number(client, phone):
    response = await client.post("/Clients/", json={"phone_number": phone}, headers=AUTH)
    assert response.status == 400 and list(await response.json()) == ["phone_number"]

"""Seed 003's curl examples, replayed as written (form bodies, the seed's token, its paths)."""

from tests.conftest import AUTH


async def test_seed_requests_in_order(client):
    # curl -X POST /Clients/ -d phone_number=79774053329
    response = await client.post("/Clients/", data={"phone_number": "79774053329"}, headers=AUTH)
    assert response.status == 201
    created = await response.json()
    assert created == {"id": created["id"], "phone_number": "79774053329", "operator_code": "977",
                       "tag": "", "timezone": "UTC"}
    client_id = created["id"]

    # curl -X PATCH /Clients/{id}/ -d phone_number=79774053328
    response = await client.patch(f"/Clients/{client_id}/", data={"phone_number": "79774053328"}, headers=AUTH)
    assert response.status == 200
    assert (await response.json())["phone_number"] == "79774053328"

    # curl -X POST /Mailing/ -d datetime_end=2022-08-20T21:42:16 -d datetime_start=2022-08-22T22:42:16
    # The seed's own example ends before it starts: a clear 400 naming the field.
    seed_mailing = {"datetime_end": "2022-08-20T21:42:16", "datetime_start": "2022-08-22T22:42:16",
                    "message_text": "123123123"}
    response = await client.post("/Mailing/", data=seed_mailing, headers=AUTH)
    assert response.status == 400
    assert (await response.json()) == {"datetime_end": ["Must be after datetime_start."]}

    # The same mailing with its times the right way round (in the past: nothing is sent).
    fixed = {**seed_mailing, "datetime_start": "2022-08-20T21:42:16", "datetime_end": "2022-08-21T22:42:16"}
    response = await client.post("/Mailing/", data=fixed, headers=AUTH)
    assert response.status == 201
    mailing = await response.json()
    assert mailing["datetime_start"] == "2022-08-20T21:42:16Z"
    mailing_id = mailing["id"]

    # curl -X GET /Stats/
    response = await client.get("/Stats/", headers=AUTH)
    assert response.status == 200
    stats = await response.json()
    assert [item["id"] for item in stats["results"]] == [mailing_id]
    assert stats["results"][0]["total"] == 0

    # curl -X GET /Stats/{id}/
    response = await client.get(f"/Stats/{mailing_id}/", headers=AUTH)
    assert response.status == 200
    assert (await response.json())["messages"]["results"] == []

    # curl -X PATCH /Mailing/{id}/ -d datetime_end=2022-08-22T22:42:16
    response = await client.patch(f"/Mailing/{mailing_id}/", data={"datetime_end": "2022-08-22T22:42:16"},
                                  headers=AUTH)
    assert response.status == 200
    assert (await response.json())["datetime_end"] == "2022-08-22T22:42:16Z"

    # curl -X DELETE /Mailing/{id}/ and /Clients/{id}/
    assert (await client.delete(f"/Mailing/{mailing_id}/", headers=AUTH)).status == 204
    assert (await client.get(f"/Mailing/{mailing_id}/", headers=AUTH)).status == 404
    assert (await client.delete(f"/Clients/{client_id}/", headers=AUTH)).status == 204
    assert (await client.get(f"/Clients/{client_id}/", headers=AUTH)).status == 404


async def test_json_bodies_are_accepted_too(client):
    response = await client.post("/Clients/", json={"phone_number": "79774053329", "tag": "тег3",
                                                    "timezone": "Europe/Moscow"}, headers=AUTH)
    assert response.status == 201
    assert (await response.json())["tag"] == "тег3"

from tests.conftest import AUTH


async def test_health_answers_without_a_token(client):
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_client_round_trip(client):
    response = await client.post("/Clients/", data={"phone_number": "79774053329"}, headers=AUTH)
    assert response.status == 201
    created = await response.json()
    response = await client.get(f"/Clients/{created['id']}", headers=AUTH)
    assert await response.json() == created

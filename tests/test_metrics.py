"""/metrics: request counts by route and status, and the mailing messages by status."""

import asyncio

from tests.conftest import AUTH


async def test_metrics_count_requests_and_messages(client):
    await client.post("/Clients/", data={"phone_number": "79000000001"}, headers=AUTH)
    await client.get("/Clients/999/", headers=AUTH)
    await client.post("/Mailing/", data={"datetime_start": "2020-01-01T00:00", "datetime_end": "2099-01-01T00:00",
                                         "message_text": "hi"}, headers=AUTH)
    for _ in range(100):
        text = await (await client.get("/metrics")).text()
        if 'herald_mailing_messages{status="sent"} 1.0' in text:
            break
        await asyncio.sleep(0.05)
    assert 'herald_mailing_messages{status="sent"} 1.0' in text
    assert 'herald_mailing_messages{status="failed"} 0.0' in text
    assert 'herald_http_requests_total{method="POST",route="/Clients/",status="201"} 1.0' in text
    assert 'herald_http_requests_total{method="GET",route="/Clients/{id}/",status="404"} 1.0' in text

"""The admin UI's mailing pages over HTTP (handlers/admin_mailings.py): a form makes, edits and
deletes the same mailings the /Mailing/ API shows, refusing what the API refuses with the API's
messages; the list filters and pages; a mailing's page shows its messages by status and tries its
failed ones again."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from server.app import create_app
from server.keys import DB
from storage import admins
from server import passwords
from tests.conftest import AUTH
from tests.test_admin_access import NAME, PASSWORD, log_in, token_in
from tests.test_dispatch import (FAST_RETRIES, PROVIDER_TOKEN, add_clients, add_mailing, counts, provider,  # noqa: F401
                                 stats, wait_for)


def local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")  # what a datetime-local input sends


def form(text: str = "Sale today", start: datetime | None = None, hours: float = 1, **more: str) -> dict:
    start = start or datetime.now(timezone.utc) - timedelta(minutes=1)
    return {"message_text": text, "datetime_start": local(start), "datetime_end": local(start + timedelta(hours=hours)),
            "filter_tag": "", "filter_op_codes": "", "window_start": "", "window_end": "", **more}


@pytest.fixture
def operator(aiohttp_client, make_settings):
    """operator(**sections) -> a client of the app logged in as an operator; `.csrf` is its token."""

    async def start(**sections):
        api = await aiohttp_client(create_app(make_settings(**sections)))
        await admins.create_admin(api.app[DB], NAME, passwords.hash_password(PASSWORD))
        assert (await log_in(api)).status == 303
        api.csrf = token_in(await (await api.get("/admin/")).text())
        return api

    return start


async def post_form(api, path: str, data: dict):
    return await api.post(path, data={"csrf_token": api.csrf, **data}, allow_redirects=False)


def created_id(answer) -> int:
    assert answer.status == 303, answer.status
    return int(re.fullmatch(r"/admin/mailings/(\d+)\?notice=created", answer.headers["Location"]).group(1))


async def test_a_mailing_made_with_the_form_is_the_apis_and_gets_sent(operator):
    api = await operator()
    await add_clients(api, 3, tag="vip")
    await add_clients(api, 2, code="921")
    answer = await post_form(api, "/admin/mailings", form("Hello VIPs", filter_tag="vip", window_start="00:00",
                                                          window_end="23:59"))
    mailing_id = created_id(answer)
    stored = await (await api.get(f"/Mailing/{mailing_id}/", headers=AUTH)).json()
    assert (stored["message_text"], stored["filter_tag"], stored["window_start"]) == ("Hello VIPs", "vip", "00:00")
    await wait_for(api, mailing_id, {"sent": 3})  # the engine was told: the sandbox sent them
    page = await (await api.get(f"/admin/mailings/{mailing_id}?notice=created")).text()
    assert "Mailing created." in page and 'aria-valuenow="100"' in page
    assert page.count('<tr data-message=') == 3


@pytest.mark.parametrize("fields", [
    {"datetime_end": "2020-01-01T00:00"},  # before the start
    {"window_start": "09:00"},  # without its end
    {"message_text": "   "},
    {"filter_op_codes": "97"},
    {"datetime_start": "tomorrow"},
])
async def test_the_form_refuses_what_the_api_refuses_with_its_messages(operator, fields):
    api = await operator()
    data = form(**fields)
    answer = await post_form(api, "/admin/mailings", data)
    assert answer.status == 400
    page = await answer.text()
    api_answer = await api.post("/Mailing/", data=data, headers=AUTH)
    assert api_answer.status == 400
    for field, messages in (await api_answer.json()).items():
        for message in messages:
            escaped = message.replace("'", "&#39;")
            assert f'<span class="field-error" id="{field}-error">{escaped}</span>' in page, (field, message)
    if "message_text" not in fields:
        assert "Sale today</textarea>" in page  # what was typed is kept
    assert (await (await api.get("/Mailing/", headers=AUTH)).json())["results"] == []


async def test_editing_and_deleting_with_the_forms(operator):
    api = await operator()
    start = datetime.now(timezone.utc) + timedelta(days=1)
    mailing_id = created_id(await post_form(api, "/admin/mailings", form("First text", start=start)))
    edit = await (await api.get(f"/admin/mailings/{mailing_id}/edit")).text()
    assert f'value="{local(start)}"' in edit and "First text</textarea>" in edit
    saved = await post_form(api, f"/admin/mailings/{mailing_id}", form("Second text", start=start, hours=2))
    assert saved.status == 303 and saved.headers["Location"] == f"/admin/mailings/{mailing_id}?notice=saved"
    stored = await (await api.get(f"/Mailing/{mailing_id}/", headers=AUTH)).json()
    assert stored["message_text"] == "Second text"
    assert stored["datetime_end"].startswith(local(start + timedelta(hours=2)))
    deleted = await post_form(api, f"/admin/mailings/{mailing_id}/delete", {})
    assert deleted.status == 303 and deleted.headers["Location"] == "/admin/mailings?notice=deleted"
    assert (await api.get(f"/Mailing/{mailing_id}/", headers=AUTH)).status == 404
    assert (await api.get(f"/admin/mailings/{mailing_id}")).status == 404


async def test_the_list_filters_by_state_and_text_and_pages_without_an_offset(operator):
    api = await operator()
    now = datetime.now(timezone.utc)
    for n in range(52):
        await add_mailing(api, f"bulk {n}", start=now + timedelta(days=1))
    running = await add_mailing(api, "Running now", start=now - timedelta(minutes=5), end=now + timedelta(hours=1))
    ended = await add_mailing(api, "Long over", start=now - timedelta(days=2), end=now - timedelta(days=1))
    first = await (await api.get("/admin/mailings")).text()
    assert first.count("<tr data-mailing=") == 50
    older = re.search(r'href="(/admin/mailings\?[^"]*before=\d+)"', first).group(1).replace("&amp;", "&")
    second = await (await api.get(older)).text()
    assert second.count("<tr data-mailing=") == 4  # 54 in all, newest first
    assert 'data-mailing="1"' in second
    only_running = await (await api.get("/admin/mailings", params={"state": "running"})).text()
    assert re.findall(r'<tr data-mailing="(\d+)"', only_running) == [str(running["id"])]
    by_text = await (await api.get("/admin/mailings", params={"q": "LONG"})).text()
    assert re.findall(r'<tr data-mailing="(\d+)"', by_text) == [str(ended["id"])]
    assert (await api.get("/admin/mailings", params={"state": "someday"})).status == 400


async def test_failed_messages_are_shown_by_status_and_tried_again(operator, provider):
    provider.mode = "reject"
    api = await operator(notifications={"transport": "http", "provider_url": provider.url,
                                        "provider_token": PROVIDER_TOKEN, **FAST_RETRIES})
    await add_clients(api, 3)
    mailing = await add_mailing(api, "refused at first")
    await wait_for(api, mailing["id"], {"failed": 3})
    page = await (await api.get(f"/admin/mailings/{mailing['id']}", params={"status": "failed"})).text()
    assert page.count("<tr data-message=") == 3 and "422" in page
    assert "Retry 3 failed" in page
    provider.mode = "ok"
    retried = await post_form(api, f"/admin/mailings/{mailing['id']}/retry-failed", {})
    assert retried.headers["Location"] == f"/admin/mailings/{mailing['id']}?notice=retried"
    final = await wait_for(api, mailing["id"], {"sent": 3})
    assert counts(final) == {"sent": 3}
    none_failed = await (await api.get(f"/admin/mailings/{mailing['id']}", params={"status": "failed"})).text()
    assert "<tr data-message=" not in none_failed and "Retry" not in none_failed

"""The admin UI's system pages over HTTP (handlers/admin_system.py): API tokens made (shown once,
working at once) and revoked (refused at once), the operators listed and removed, the settings
with every secret masked, and the health panel."""

from __future__ import annotations

import re

from server import passwords
from server.keys import DB
from storage import admins
from tests.test_admin_access import log_in
from tests.test_admin_mailings import operator, post_form  # noqa: F401 (fixture)

SECRETS = {"provider_token": "provider-secret-123", "api_key": "mango-key-456", "api_salt": "mango-salt-789"}


async def test_a_token_made_on_the_page_works_until_it_is_revoked(operator):
    api = await operator()
    made = await post_form(api, "/admin/tokens", {"name": "crm-sync"})
    assert made.status == 201
    page = await made.text()
    token = re.search(r'<code id="made-token">([0-9a-f]{40})</code>', page).group(1)
    assert (await api.get("/Clients/", headers={"Authorization": f"Token {token}"})).status == 200
    listed = await (await api.get("/admin/tokens")).text()
    assert 'data-token="crm-sync"' in listed and token not in listed  # shown once
    taken = await post_form(api, "/admin/tokens", {"name": "crm-sync"})
    assert taken.status == 400 and "exists already" in await taken.text()
    revoked = await post_form(api, "/admin/tokens/revoke", {"name": "crm-sync"})
    assert revoked.status == 303 and revoked.headers["Location"] == "/admin/tokens?notice=revoked"
    assert (await api.get("/Clients/", headers={"Authorization": f"Token {token}"})).status == 401
    assert 'data-token="crm-sync"' not in await (await api.get("/admin/tokens")).text()
    assert (await post_form(api, "/admin/tokens/revoke", {"name": "crm-sync"})).status == 400


async def test_the_settings_page_masks_every_secret_and_shows_health(operator):
    api = await operator(notifications={"provider_token": SECRETS["provider_token"]},
                         telephony={"api_key": SECRETS["api_key"], "api_salt": SECRETS["api_salt"]},
                         smtp={"password": "smtp-pass-000"}, auth={"api_tokens": ["static-token-1234567890"]})
    answer = await api.get("/admin/settings")
    page = await answer.text()
    assert answer.status == 200
    for secret in [*SECRETS.values(), "smtp-pass-000", "static-token-1234567890"]:
        assert secret not in page
    assert '<td data-setting="telephony.api_key">(set, hidden)</td>' in page
    assert '<td data-setting="notifications.provider_token">(set, hidden)</td>' in page
    assert '<td data-setting="subscriptions.price_index_token">(not set)</td>' in page
    assert '<td data-setting="server.port">8080</td>' in page
    assert 'id="health-database">ok<' in page and "telephony" in page and "configured" in page
    for job in ("update_subscriptions", "preheat_subscriptions", "send_emails"):  # the scheduler's next runs
        assert re.search(rf"<code>{job}</code></td><td>\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d<", page), job


async def test_operators_are_listed_and_one_can_remove_another_but_not_himself(operator, aiohttp_client):
    api = await operator()
    await admins.create_admin(api.app[DB], "boris", passwords.hash_password("boris's password"))
    boris = await aiohttp_client(api.server)  # a second browser, on the same server
    assert (await log_in(boris, "boris", "boris's password")).status == 303
    page = await (await api.get("/admin/operators")).text()
    assert re.search(r'<tr data-operator="boris">.*?<td>1</td>', page, re.S)  # his live session
    anna_id = next(row["id"] for row in await admins.list_admins(api.app[DB]) if row["name"] == "anna")
    boris_id = next(row["id"] for row in await admins.list_admins(api.app[DB]) if row["name"] == "boris")
    myself = await post_form(api, f"/admin/operators/{anna_id}/remove", {})
    assert myself.status == 409 and "cannot remove yourself" in await myself.text()
    removed = await post_form(api, f"/admin/operators/{boris_id}/remove", {})
    assert removed.status == 303 and removed.headers["Location"] == "/admin/operators?notice=removed"
    assert (await boris.get("/admin/", allow_redirects=False)).status == 303  # his session ended
    assert (await log_in(boris, "boris", "boris's password")).status == 401
    assert 'data-operator="boris"' not in await (await api.get("/admin/operators")).text()
    assert (await post_form(api, f"/admin/operators/{boris_id}/remove", {})).status == 404

"""The operators' UI in a real browser (tests/browser.py): logging in through the form, a wrong
password told, a forged CSRF token refused, the dashboard's progress bars following a mailing
live, logging out, a mailing made with the form and followed to 100 %, the form's errors next to
their fields, a contact's tags edited and a reply sent, a token made and revoked. Every page
opened must log no console error."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from server.keys import DB
from storage.tokens import list_tokens
from tests.browser import browser  # noqa: F401 (fixture)
from tests.test_admin_access import NAME, PASSWORD, admin_app  # noqa: F401 (fixture)
from tests.test_admin_mailings import local, operator  # noqa: F401 (fixture)
from tests.test_dispatch import (FAST_RETRIES, PROVIDER_TOKEN, add_client, add_clients, add_mailing,  # noqa: F401
                                 provider, stats)


async def log_in_with_the_form(page, base: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    await page.get_by_label("Name").fill(NAME)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state()


async def test_an_operator_logs_in_through_the_form_and_out_again(admin_app, browser):
    api = await admin_app()
    base = str(api.make_url("")).rstrip("/")
    page = browser.page
    browser.expect_error("status of 401")  # the wrong password's page
    await log_in_with_the_form(page, base, password="not the password")
    assert await page.get_by_role("alert").inner_text() == "Wrong name or password."
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}/admin/")
    assert await page.locator("header .who").inner_text() == NAME
    assert await page.get_by_role("heading", name="Dashboard").is_visible()
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(f"{base}/admin/login")
    await page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url


async def test_the_dashboard_follows_a_mailing_to_100_percent(admin_app, browser):
    api = await admin_app()  # the sandbox transport: every message is sent at once
    base = str(api.make_url("")).rstrip("/")
    await add_clients(api, 30)
    start = datetime.now(timezone.utc) + timedelta(seconds=4)  # long enough for a slow log-in to come first
    mailing = await add_mailing(api, "Live progress", start=start, end=start + timedelta(hours=1))
    page = browser.page
    await log_in_with_the_form(page, base)
    bar = page.locator(f'tr[data-mailing="{mailing["id"]}"] [role="progressbar"]')
    assert await bar.get_attribute("aria-valuenow") == "0"  # due, not started: loaded before it ran
    await page.wait_for_function(
        f"""() => document.querySelector('tr[data-mailing="{mailing["id"]}"] [role="progressbar"]')
                  ?.getAttribute('aria-valuenow') === '100'""", timeout=15_000)
    label = page.locator(f'tr[data-mailing="{mailing["id"]}"] .progress-label')
    assert await label.inner_text() == "100 % · 30 of 30 sent"


async def test_a_mailing_made_with_the_form_shows_its_progress_reach_100_percent(operator, provider, browser):
    provider.answer_delay = 0.1  # one at a time, 40 clients: about 4 s of sending to watch
    api = await operator(notifications={"transport": "http", "provider_url": provider.url,
                                        "provider_token": PROVIDER_TOKEN, "concurrency": 1, **FAST_RETRIES})
    base = str(api.make_url("")).rstrip("/")
    await add_clients(api, 40)
    page = browser.page
    await log_in_with_the_form(page, base)
    await page.get_by_role("link", name="Mailings").click()
    await page.get_by_role("link", name="New mailing").click()
    await page.get_by_label("Text").fill("Made in the browser")
    now = datetime.now(timezone.utc)
    await page.get_by_label("Start (UTC)").fill(local(now - timedelta(minutes=1)))
    await page.get_by_label("End (UTC)").fill(local(now + timedelta(hours=1)))
    await page.get_by_role("button", name="Create mailing").click()
    await page.wait_for_url(re.compile(r".*/admin/mailings/\d+\?notice=created"))
    assert await page.get_by_role("status").inner_text() == "Mailing created."
    bar = page.locator("#mailing-counts [role=progressbar]")
    assert int(await bar.get_attribute("aria-valuenow")) < 100  # still sending when the page came
    await page.wait_for_function(
        "() => document.querySelector('#mailing-counts [role=progressbar]').getAttribute('aria-valuenow') === '100'",
        timeout=15_000)
    assert await page.locator('#mailing-counts dd[data-status="sent"]').inner_text() == "40"
    assert provider.accepted_ids().keys() == {message["id"] for message in
                                              (await stats(api, int(page.url.split("/")[-1].split("?")[0])))
                                              ["messages"]["results"]}


async def test_the_form_shows_the_apis_message_next_to_the_field(operator, browser):
    api = await operator()
    base = str(api.make_url("")).rstrip("/")
    page = browser.page
    browser.expect_error("status of 400")  # the refused form's page
    await log_in_with_the_form(page, base)
    await page.goto(f"{base}/admin/mailings/new")
    await page.get_by_label("Text").fill("Backwards")
    now = datetime.now(timezone.utc)
    await page.get_by_label("Start (UTC)").fill(local(now + timedelta(hours=2)))
    await page.get_by_label("End (UTC)").fill(local(now + timedelta(hours=1)))
    await page.get_by_role("button", name="Create mailing").click()
    await page.wait_for_load_state()
    assert await page.locator("#datetime_end-error").inner_text() == "Must be after datetime_start."
    assert await page.get_by_label("Text").input_value() == "Backwards"


async def test_an_operator_edits_a_contacts_tags_and_replies_to_him(operator, browser):
    api = await operator()
    base = str(api.make_url("")).rstrip("/")
    client = await add_client(api, "79001112233", tag="vip")
    page = browser.page
    await log_in_with_the_form(page, base)
    await page.get_by_role("link", name="Contacts").click()
    await page.get_by_label("Phone, email or name").fill("1112233")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=str(client["id"]), exact=True).click()
    await page.get_by_label("Tags (comma-separated)").fill("vip, gold")
    await page.get_by_role("button", name="Save tags").click()
    assert await page.get_by_role("status").inner_text() == "Tags saved."
    assert await page.get_by_label("Tags (comma-separated)").input_value() == "gold, vip"
    assert await page.locator("ol.timeline .text", has_text="Tag added: gold").count() == 1
    await page.get_by_label("SMS to 79001112233").fill("Your order is ready")
    await page.get_by_role("button", name="Send SMS").click()
    assert await page.get_by_role("status").inner_text() == "Reply queued: it is sent as an SMS in a moment."
    newest = page.locator("ol.timeline li").first
    assert await newest.locator(".text").inner_text() == "Your order is ready"
    assert "your message" in await newest.locator(".meta").inner_text()


async def test_a_token_is_made_shown_once_and_revoked_after_a_confirmation(operator, browser):
    api = await operator()
    base = str(api.make_url("")).rstrip("/")
    page = browser.page
    await log_in_with_the_form(page, base)
    await page.get_by_role("link", name="API tokens").click()
    await page.get_by_label("Name").fill("crm-sync")
    await page.get_by_role("button", name="Make token").click()
    token = await page.locator("#made-token").inner_text()
    assert (await api.get("/Clients/", headers={"Authorization": f"Token {token}"})).status == 200
    questions = []

    async def answer(dialog):
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    await page.locator('tr[data-token="crm-sync"]').get_by_role("button", name="Revoke").click()
    await page.wait_for_url(f"{base}/admin/tokens?notice=revoked")
    assert questions == ["Revoke token crm-sync? Whoever uses it is refused from then on."]
    assert await page.locator('tr[data-token="crm-sync"]').count() == 0
    assert (await api.get("/Clients/", headers={"Authorization": f"Token {token}"})).status == 401


async def test_every_page_opens_without_a_console_error(operator, browser):
    api = await operator()
    base = str(api.make_url("")).rstrip("/")
    client = await add_client(api, "79001112233", tag="vip")
    mailing = await add_mailing(api, "Every page")
    page = browser.page
    await log_in_with_the_form(page, base)
    for path in ["/admin/", "/admin/mailings", "/admin/mailings/new", f"/admin/mailings/{mailing['id']}",
                 f"/admin/mailings/{mailing['id']}/edit", "/admin/contacts", f"/admin/contacts/{client['id']}",
                 "/admin/tokens", "/admin/operators", "/admin/settings", "/admin/subscriptions", "/admin/subscriptions/directions",
                 "/admin/subscriptions/emails", "/admin/subscriptions/runs", "/admin/chatbot", "/admin/telephony",
                 "/admin/telephony/commands", "/admin/telephony/webhooks"]:
        answer = await page.goto(base + path)
        assert answer.status == 200, path
        await page.wait_for_load_state("networkidle")
        assert await page.locator("h1").count() == 1, path
    # browser.errors is checked by the fixture: no console error on any of them


async def test_a_form_with_a_forged_csrf_token_is_refused(operator, browser):
    api = await operator()
    base = str(api.make_url("")).rstrip("/")
    page = browser.page
    browser.expect_error("status of 403")  # the refusal's page
    await log_in_with_the_form(page, base)
    await page.goto(f"{base}/admin/tokens")
    await page.get_by_label("Name").fill("forged")
    await page.locator('form[action="/admin/tokens"] input[name="csrf_token"]').evaluate("input => input.value = 'forged'")
    await page.get_by_role("button", name="Make token").click()
    await page.wait_for_load_state()
    assert "CSRF" in await page.get_by_role("alert").inner_text()
    assert [token.name for token in await list_tokens(api.app[DB])] == []

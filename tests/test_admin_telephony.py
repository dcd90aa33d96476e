"""The admin UI's telephony pages (handlers/admin_telephony.py), fed by the Mango emulator: calls
built by its signed webhooks, listed newest first, filtered by number and extension, paged below
an id; a call's events in seq order; the commands forwarded through /callback, /send_sms and the
others with their result codes' meanings, filtered by endpoint, each with its request, answer,
outcome and webhooks; the webhooks as received, by kind; unknown ids 404; the not-configured
notice over what is stored; and the pages in a real browser, clicking from the calls into a call."""

from __future__ import annotations

import re

import pytest

from handlers import admin_telephony
from server.app import create_app
from server.gateways.mango_protocol import describe
from tests.browser import browser  # noqa: F401 (fixture)
from tests.conftest import AUTH
from tests.mango_emulator import call_event, summary_event
from tests.test_admin_access import log_in
from tests.test_admin_browser import log_in_with_the_form
from tests.test_admin_mailings import operator  # noqa: F401 (fixture)
from tests.test_telephony import mango, telephony_settings  # noqa: F401 (fixtures)

CALLER, OTHER = "79001234567", "79007654321"
NOT_CONFIGURED = "Telephony is not configured."


@pytest.fixture
async def api(operator, mango):  # noqa: F811
    """An operator's client of an app whose PBX is the emulator, which sends its webhooks to it."""
    client = await operator(telephony=telephony_settings(mango))
    mango.webhook_base = str(client.make_url("/mango/"))
    return client


async def page(api, path: str, **params) -> str:
    answer = await api.get(path, params=params)
    assert answer.status == 200, (path, answer.status, await answer.text())
    return await answer.text()


def rows(html: str, what: str) -> list[str]:
    return re.findall(rf'<tr data-{what}="([^"]+)"', html)


def row(html: str, what: str, key) -> str:
    return re.search(rf'<tr data-{what}="{re.escape(str(key))}">(.*?)</tr>', html, re.S).group(1)


def older(html: str) -> str:
    return re.search(r'<p class="pager"><a href="([^"]+)"', html).group(1).replace("&amp;", "&")


async def api_calls(api) -> dict[str, dict]:
    found = await (await api.get("/telephony/calls/", params={"limit": "500"}, headers=AUTH)).json()
    return {call["entry_id"]: call for call in found["results"]}


async def send(mango, kind: str, payload: dict) -> None:  # noqa: F811
    assert await mango.send_webhook(kind, payload) == 200


async def test_the_calls_newest_first_with_their_parties_outcome_and_contact(api, mango):  # noqa: F811
    await send(mango, "events/call", call_event("A", "CA", 1, "Connected", from_number=CALLER, to_extension="101"))
    await send(mango, "events/summary", summary_event("A", from_number=CALLER, to_extension="101", talk_time=134,
                                                      end_time=1767225900))
    await send(mango, "events/summary", summary_event("M", from_number=OTHER, to_extension="102"))
    await send(mango, "events/call", call_event("O", "CO", 1, "Appeared", from_number=CALLER, to_number="74950000000",
                                                to_extension="103"))
    calls = await api_calls(api)
    html = await page(api, "/admin/telephony")
    assert rows(html, "call") == [str(calls[entry]["id"]) for entry in ("O", "M", "A")]
    answered = row(html, "call", calls["A"]["id"])
    assert "incoming" in answered and CALLER in answered and "ext. 101" in answered and "134 s" in answered
    assert '<span class="status answered">answered</span>' in answered and "by 101" in answered
    assert "2026-01-01T00:05:00Z" in answered  # ended, as the API writes times
    assert f'<a href="/admin/contacts/{calls["A"]["contact_id"]}">' in answered
    missed = row(html, "call", calls["M"]["id"])
    assert '<span class="status missed">missed</span>' in missed and "0 s" in missed
    assert f'<a href="/admin/contacts/{calls["M"]["contact_id"]}">' in missed
    ongoing = row(html, "call", calls["O"]["id"])
    assert '<span class="status ongoing">ongoing</span>' in ongoing and "Appeared" in ongoing
    assert "74950000000" in ongoing and "/admin/contacts/" not in ongoing  # no summary: no contact yet
    assert NOT_CONFIGURED not in html and "/mango/" in html  # configured: the webhooks' base is shown


async def pages(api, path: str, what: str, **params) -> list[list[str]]:
    """The rows of each page of a list, following its "Older" links to the last."""
    found = [await page(api, path, **params)]
    while '<p class="pager">' in found[-1]:
        found.append(await (await api.get(older(found[-1]))).text())
    return [rows(html, what) for html in found]


def newest_first(calls: dict[str, dict], keep) -> list[str]:
    return [str(call["id"]) for call in sorted(calls.values(), key=lambda call: -call["id"]) if keep(call)]


async def test_calls_are_filtered_by_number_and_extension_and_paged_below_an_id(api, mango, monkeypatch):  # noqa: F811
    for n in range(52):
        if n % 2 == 0:  # from the caller to 101 (from 102 now and then)
            event = call_event(f"E{n}", f"C{n}", 1, "Appeared", from_number=CALLER, to_extension="101",
                               from_extension="102" if n % 6 == 0 else None)
        else:  # from another to 102 (on the caller's number now and then)
            event = call_event(f"E{n}", f"C{n}", 1, "Appeared", from_number=OTHER, to_extension="102",
                               to_number=CALLER if n % 3 == 0 else None)
        await send(mango, "events/call", event)
    # Answered by 103, then passed on to 104: the extension that answered finds it too.
    await send(mango, "events/call", call_event("T", "CT", 1, "Connected", from_number=OTHER, to_extension="103"))
    await send(mango, "events/call", call_event("T", "CT", 2, "Connected", from_number=OTHER, to_extension="104"))
    calls = await api_calls(api)
    everything = newest_first(calls, lambda call: True)
    assert await pages(api, "/admin/telephony", "call") == [everything[:50], everything[50:]]  # 53: 50 and 3

    webhooks = await pages(api, "/admin/telephony/webhooks", "webhook")
    assert [len(rows_) for rows_ in webhooks] == [50, 4]  # 54 received
    assert len({id_ for rows_ in webhooks for id_ in rows_}) == 54

    monkeypatch.setattr(admin_telephony, "PAGE", 10)  # filtered lists over several pages too
    of_caller = newest_first(calls, lambda call: CALLER in (call["from_number"], call["to_number"]))
    assert len(of_caller) == 35
    typed = await pages(api, "/admin/telephony", "call", number="+7 (900) 123-45-67")  # as an operator types it
    assert typed == [of_caller[i:i + 10] for i in range(0, 35, 10)]
    of_102 = newest_first(calls, lambda call: "102" in (call["from_extension"], call["to_extension"]))
    assert len(of_102) == 35
    assert await pages(api, "/admin/telephony", "call", extension="102") == [of_102[i:i + 10] for i in range(0, 35, 10)]
    both = newest_first(calls, lambda call: CALLER in (call["from_number"], call["to_number"]) and
                        "102" in (call["from_extension"], call["to_extension"]))
    assert len(both) == 18
    assert await pages(api, "/admin/telephony", "call", number=CALLER, extension="102") == [both[:10], both[10:]]
    assert await pages(api, "/admin/telephony", "call", extension="103") == [[str(calls["T"]["id"])]]
    assert await pages(api, "/admin/telephony", "call", extension="104") == [[str(calls["T"]["id"])]]
    assert await pages(api, "/admin/telephony", "call", number=OTHER, extension="103") == [[str(calls["T"]["id"])]]
    nobody = await page(api, "/admin/telephony", number="70000000000")
    assert "No call matches." in nobody and 'value="70000000000"' in nobody
    assert (await api.get("/admin/telephony", params={"before": "soon"})).status == 400
    assert (await api.get("/admin/telephony", params={"extension": "1" * 101})).status == 400


async def test_a_calls_page_shows_its_events_in_seq_order(api, mango):  # noqa: F811
    for seq, state in [(3, "Disconnected"), (1, "Appeared"), (2, "Connected")]:
        await send(mango, "events/call", call_event("S", "CS", seq, state, from_number=CALLER, to_extension="101",
                                                    timestamp=1767225600 + seq))
    await send(mango, "events/summary", summary_event("S", from_number=CALLER, to_extension="101", talk_time=35))
    call = (await api_calls(api))["S"]
    html = await page(api, f"/admin/telephony/calls/{call['id']}")
    assert f"<h1>Call {call['id']} " in html and "answered" in html
    events = re.findall(r'<tr data-event="\d+">\s*<td>(\d*)</td>\s*<td>([^<]+)</td>\s*<td>([^<]*)</td>', html)
    assert events == [("1", "events/call", "Appeared"), ("2", "events/call", "Connected"),
                      ("3", "events/call", "Disconnected"), ("", "events/summary", "")]
    assert "1110: The call ended normally.</dd>" in html  # why it ended, in words
    assert "&#34;talk_time&#34;: 35" in html or "&quot;talk_time&quot;: 35" in html  # the summary's JSON
    assert f'<a href="/admin/contacts/{call["contact_id"]}">' in html
    assert (await api.get("/admin/telephony/calls/999999")).status == 404
    assert "There is no call 999999." in await (await api.get("/admin/telephony/calls/999999")).text()


async def test_commands_with_their_results_meanings_filtered_by_endpoint(api, mango):  # noqa: F811
    answer = await api.post("/callback", json={"from_ext": "101", "to_num": CALLER, "command_id": "cb-1"}, headers=AUTH)
    assert answer.status == 200
    mango.result_for = lambda request: 4301 if request.path.endswith("sms") else 1000
    answer = await api.post("/send_sms", json={"to_number": CALLER, "text": "Your order is ready",
                                               "from_extension": "101", "command_id": "sms 1/2"}, headers=AUTH)
    assert answer.status == 200
    await mango.drain_webhooks()
    html = await page(api, "/admin/telephony/commands")
    assert rows(html, "command") == ["sms 1/2", "cb-1"]
    callback = row(html, "command", "cb-1")
    assert "/callback" in callback and "commands/callback" in callback and "HTTP 200" in callback
    assert '<span class="status ok">1000</span>' in callback and describe(1000) in callback
    sms = row(html, "command", "sms 1/2")
    assert '<span class="status error">4301</span>' in sms and describe(4301) in sms
    link = re.search(r'href="(/admin/telephony/commands/sms[^"]+)"', sms).group(1)
    assert link == "/admin/telephony/commands/sms%201%2F2"
    only_sms = await page(api, "/admin/telephony/commands", endpoint="/send_sms")
    assert rows(only_sms, "command") == ["sms 1/2"]
    assert "No command to /end_call." in await page(api, "/admin/telephony/commands", endpoint="/end_call")
    assert (await api.get("/admin/telephony/commands", params={"endpoint": "/balance"})).status == 400

    detail = await (await api.get(link)).text()
    assert "<h1>Command <code>sms 1/2</code></h1>" in detail
    assert "&#34;to_number&#34;: &#34;79001234567&#34;" in detail  # the request as sent
    assert "HTTP 200" in detail and f"1000: {describe(1000)}" in detail  # Mango took it at once
    assert re.search(r'id="command-result"><span class="status error">4301</span> ' + re.escape(describe(4301)), detail)
    kinds = re.findall(r'<tr data-webhook="\d+">\s*<td>\d+</td><td>([^<]+)</td>', detail)
    assert sorted(kinds) == ["events/sms", "result/sms"]
    stored = await (await api.get("/telephony/commands/sms%201%2F2", headers=AUTH)).json()
    assert f'<a href="/admin/contacts/{stored["message"]["contact_id"]}">' in detail
    assert '<span class="status failed">failed</span>' in detail and "4301" in stored["message"]["last_error"]
    unknown = await api.get("/admin/telephony/commands/nobody")
    assert unknown.status == 404 and "There is no command &#39;nobody&#39;." in await unknown.text()


async def test_webhooks_as_received_by_kind_linked_to_their_call_and_command(api, mango):  # noqa: F811
    mango.auto_results = False
    assert (await api.post("/end_call", json={"call_id": "CW", "command_id": "hang-1"}, headers=AUTH)).status == 200
    await send(mango, "ping", {})
    await send(mango, "events/call", call_event("W", "CW", 1, "Appeared", from_number=CALLER, to_extension="101",
                                                note="<b>bold</b>"))
    await send(mango, "vpbx/result/call/hangup", {"command_id": "hang-1", "result": 1000})
    await send(mango, "result/sms", {"command_id": "herald-sms-9-1", "result": 1000})  # the engine's: no command
    html = await page(api, "/admin/telephony/webhooks")
    kinds = re.findall(r'<tr data-webhook="\d+">\s*<td>\d+</td>\s*<td><a [^>]+>([^<]+)</a>', html)
    assert kinds == ["result/sms", "result/call/hangup", "events/call", "ping"]
    assert "<code>/mango/vpbx/result/call/hangup</code>" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html  # the JSON, escaped
    call = (await api_calls(api))["W"]
    assert f'<a href="/admin/telephony/calls/{call["id"]}">call {call["id"]}</a>' in html
    assert '<a href="/admin/telephony/commands/hang-1">command hang-1</a>' in html
    assert '<span class="hint">command herald-sms-9-1</span>' in html  # no page to link to
    only_calls = await page(api, "/admin/telephony/webhooks", kind="events/call")
    assert len(rows(only_calls, "webhook")) == 1 and "/mango/events/call" in only_calls
    assert "No webhook of kind events/dtmf." in await page(api, "/admin/telephony/webhooks", kind="events/dtmf")
    hangup = await page(api, "/admin/telephony/commands/hang-1")
    assert "/end_call" in hangup and f"1000: {describe(1000)}" in hangup


async def test_without_telephony_settings_the_pages_say_what_to_set_and_show_what_is_stored(
        api, mango, aiohttp_client, make_settings):  # noqa: F811
    await send(mango, "events/summary", summary_event("N", from_number=CALLER, to_extension="101", talk_time=5))
    assert (await api.post("/callback", json={"from_ext": "101", "to_num": CALLER, "command_id": "cb-n"},
                           headers=AUTH)).status == 200
    await mango.drain_webhooks()
    call = (await api_calls(api))["N"]
    await api.close()
    unconfigured = await aiohttp_client(create_app(make_settings()))  # the same database, no key or salt
    assert (await log_in(unconfigured)).status == 303
    for path in ("/admin/telephony", "/admin/telephony/commands", "/admin/telephony/webhooks",
                 f"/admin/telephony/calls/{call['id']}", "/admin/telephony/commands/cb-n"):
        html = await page(unconfigured, path)
        assert NOT_CONFIGURED in html, path
        assert "telephony.api_key" in html and "telephony.api_salt" in html
        assert "HERALD_TELEPHONY__API_KEY" in html and "HERALD_TELEPHONY__API_SALT" in html
    assert rows(await page(unconfigured, "/admin/telephony"), "call") == [str(call["id"])]
    assert rows(await page(unconfigured, "/admin/telephony/commands"), "command") == ["cb-n"]
    assert len(rows(await page(unconfigured, "/admin/telephony/webhooks"), "webhook")) == 2


async def test_in_a_browser_from_the_calls_into_a_call_and_through_the_tabs(api, mango, browser):  # noqa: F811
    await send(mango, "events/call", call_event("B", "CB", 1, "Connected", from_number=CALLER, to_extension="101"))
    await send(mango, "events/summary", summary_event("B", from_number=CALLER, to_extension="101", talk_time=61))
    assert (await api.post("/callback", json={"from_ext": "101", "to_num": CALLER, "command_id": "cb-b"},
                           headers=AUTH)).status == 200
    await mango.drain_webhooks()
    call = (await api_calls(api))["B"]
    base = str(api.make_url("")).rstrip("/")
    page_ = browser.page
    await log_in_with_the_form(page_, base)
    await page_.get_by_role("link", name="Telephony").click()
    await page_.wait_for_url(f"{base}/admin/telephony")
    assert await page_.get_by_role("heading", name="Telephony").is_visible()
    assert await page_.locator('nav.tabs a[aria-current="page"]').inner_text() == "Calls"
    line = page_.locator(f'tr[data-call="{call["id"]}"]')
    assert "61 s" in await line.inner_text()
    await line.get_by_role("link", name=str(call["id"]), exact=True).click()
    await page_.wait_for_url(f"{base}/admin/telephony/calls/{call['id']}")
    assert await page_.get_by_role("heading", name=f"Call {call['id']}").is_visible()
    assert await page_.locator("tr[data-event]").count() == 2
    await page_.locator("tr[data-event] summary").first.click()
    assert '"call_state": "Connected"' in await page_.locator("tr[data-event] pre").first.inner_text()
    await page_.get_by_role("link", name="All calls").click()
    await page_.get_by_role("link", name="Commands").click()
    await page_.get_by_role("link", name="cb-b").click()
    await page_.wait_for_url(f"{base}/admin/telephony/commands/cb-b")
    assert describe(1000) in await page_.locator("#command-result").inner_text()
    await page_.goto(f"{base}/admin/telephony")
    await page_.get_by_role("link", name="Webhooks").click()
    await page_.get_by_label("Kind").fill("events/summary")
    await page_.get_by_role("button", name="Show").click()
    await page_.wait_for_url(re.compile(r".*/admin/telephony/webhooks\?kind=events%2Fsummary"))
    assert await page_.locator("tr[data-webhook]").count() == 1

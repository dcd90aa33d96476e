"""The admin UI's chatbot pages (handlers/admin_chatbot.py), with profiles, templates and mailings
made through the real API (/chatbot/templates/, /chatbot/mailing/, /chatbot/report/): the sender
profiles with their counts, searched and paged by id; a profile's templates with how often each was
given and to how many men, in both orders, paged; templates added with the form through the API's
own path (its 400s, its messages, next to the field); a removed template never given again by the
API, its history kept, and brought back by adding its text again; 404s; and, in a real browser,
adding a template and removing one with the confirmation accepted."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import pytest

from server.keys import DB
from storage import contacts
from storage.db import migration_files
from storage.sql import Q
from tests.browser import browser  # noqa: F401 (fixture)
from tests.test_admin_browser import log_in_with_the_form
from tests.test_admin_mailings import operator, post_form  # noqa: F401 (fixture)
from tests.test_chatbot import INNA, add, mail, man, post, report_of

OLGA = {"id_user": 1671493, "name": "Olga"}


async def profile_id(api, profile: dict = INNA) -> int:
    db = api.app[DB]
    return await contacts.find_id_by_external_id(db, "victoriabrides", str(profile["id_user"]))


async def page(api, path: str, status: int = 200) -> str:
    answer = await api.get(path)
    assert answer.status == status, (path, answer.status)
    return await answer.text()


def rows(html: str, kind: str) -> list[int]:
    """The ids of the table's rows (`<tr data-profile="7">`), in the page's order."""
    return [int(found) for found in re.findall(rf'<tr data-{kind}="(\d+)">', html)]


def row(html: str, kind: str, row_id: int) -> str:
    match = re.search(rf'<tr data-{kind}="{row_id}">(.*?)</tr>', html, re.S)
    assert match, (kind, row_id)
    return match.group(1)


def count(html: str, name: str) -> int:
    """The number in the (first) cell marked data-count="<name>" of `html`."""
    return int(re.search(rf'data-count="{name}">(\d+)', html).group(1))


def field_error(message: str) -> str:
    return f'<span class="field-error" id="templates-error">{message}</span>'


async def test_the_list_shows_each_profile_with_her_templates_and_how_often_they_were_given(operator):
    api = await operator()
    await add(api, ["a", "b", "c"])
    await add(api, ["x", "y"], profile=OLGA)
    await mail(api, [man(1), man(2), man(3)])  # three of Inna's given
    await mail(api, [man(1), man(2)])  # and two more
    await mail(api, [man(1)], female_id=OLGA["id_user"])  # one of Olga's
    inna, olga = await profile_id(api), await profile_id(api, OLGA)
    html = await page(api, "/admin/chatbot")
    assert rows(html, "profile") == [olga, inna]  # newest first
    assert (count(row(html, "profile", inna), "templates"), count(row(html, "profile", inna), "given")) == (3, 5)
    assert (count(row(html, "profile", olga), "templates"), count(row(html, "profile", olga), "given")) == (2, 1)
    assert "<td>1671492</td>" in row(html, "profile", inna) and ">Inna</a>" in row(html, "profile", inna)
    man_contact = await contacts.find_id_by_external_id(api.app[DB], "victoriabrides", "1")
    assert man_contact not in rows(html, "profile")  # the men are no sender profiles
    assert "No sender profile matches." in await page(api, "/admin/chatbot?q=nobody")


async def test_the_list_is_searched_by_name_or_id_on_the_site(operator):
    api = await operator()
    await add(api, ["a"])
    await add(api, ["a"], profile=OLGA)
    await add(api, ["a"], profile={"id_user": 42, "name": "Anna_Maria"})
    inna, olga = await profile_id(api), await profile_id(api, OLGA)
    assert rows(await page(api, "/admin/chatbot?q=inn"), "profile") == [inna]  # a part of the name, any case
    assert rows(await page(api, "/admin/chatbot?q=1671493"), "profile") == [olga]  # her id on the site
    assert rows(await page(api, "/admin/chatbot?q=16714"), "profile") == []  # an id is matched whole
    anna = await profile_id(api, {"id_user": 42})
    assert rows(await page(api, "/admin/chatbot?q=a"), "profile") == [anna, olga, inna]
    assert rows(await page(api, "/admin/chatbot?q=AN"), "profile") == [anna]
    assert rows(await page(api, "/admin/chatbot?q=a_m"), "profile") == [anna]
    assert rows(await page(api, "/admin/chatbot?q=42"), "profile") == [anna]
    assert rows(await page(api, "/admin/chatbot?q=%25"), "profile") == []  # a LIKE wildcard is a character


async def test_the_list_pages_by_id_without_an_offset(operator):
    api = await operator()
    for n in range(53):
        await add(api, [f"hello {n}"], profile={"id_user": 1000 + n, "name": f"Girl {n}"})
    first = await page(api, "/admin/chatbot")
    ids = rows(first, "profile")
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    link = re.search(r'<p class="pager"><a href="([^"]+)">Older profiles</a>', first).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(link).query)["before"] == [str(ids[-1])]
    second = await page(api, link)
    rest = rows(second, "profile")
    assert len(rest) == 3 and max(rest) < min(ids) and 'class="pager"' not in second
    # Searched, the same keyset: one page of matches below the last one shown.
    found = rows(await page(api, "/admin/chatbot?q=Girl&before=" + str(ids[10])), "profile")
    assert found == [i for i in ids + rest if i < ids[10]][:50]
    # Along platform_users' contact_id index, and each profile's templates along hers: nothing sorted.
    db = api.app[DB]
    plan = " | ".join(row["detail"] for row in await db.fetch_all(
        "EXPLAIN QUERY PLAN " + Q.chat_profiles_page,
        {"pattern": None, "id_user": None, "before": 2**63 - 1, "limit": 51}))
    assert "sqlite_autoindex_platform_users" in plan and "TEMP B-TREE" not in plan, plan
    assert "chat_templates_most_handed" in plan, plan  # her sum, from the index alone


async def test_a_profiles_templates_show_how_often_each_was_given_and_to_how_many_men(operator):
    api = await operator()
    await add(api, ["a", "b", "c"])
    await mail(api, [man(1), man(2), man(3), man(4)])  # a, b, c, then a again: the least given first
    await mail(api, [man(1)])  # b
    status, body = await post(api, "report", report_of(2, "b", 7, "error", ["blocked"]))
    assert (status, body["status"]) == (200, "failed")  # b failed for man 2: given twice, one man holds it
    inna = await profile_id(api)
    html = await page(api, f"/admin/chatbot/profiles/{inna}")
    ids = rows(html, "template")
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)  # newest first
    a, b, c = sorted(ids)
    given = {t: (count(row(html, "template", t), "given"), count(row(html, "template", t), "men")) for t in ids}
    assert given == {a: (2, 2), b: (2, 1), c: (1, 1)}
    assert (count(html, "templates"), count(html, "given"), count(html, "held")) == (3, 5, 4)
    assert rows(await page(api, f"/admin/chatbot/profiles/{inna}?sort=given"), "template") == [b, a, c]
    assert (await api.get(f"/admin/chatbot/profiles/{inna}?sort=random")).status == 400


async def test_a_profiles_templates_page_by_keyset_in_both_orders(operator):
    api = await operator()
    await add(api, [f"t{n}" for n in range(60)])
    await mail(api, [man(n) for n in range(1, 11)])  # t0..t9 given once each
    inna = await profile_id(api)
    for sort in ("newest", "given"):
        html = await page(api, f"/admin/chatbot/profiles/{inna}?sort={sort}")
        first = rows(html, "template")
        link = re.search(r'<p class="pager"><a href="([^"]+)">More templates</a>', html).group(1).replace("&amp;", "&")
        rest = rows(await page(api, link), "template")
        assert len(first) == 50 and len(rest) == 10 and not set(first) & set(rest), sort
        if sort == "given":
            assert sorted(first[:10]) == sorted(first + rest)[:10]  # the ten given first, then the newest
            assert first[10:] + rest == sorted(first[10:] + rest, reverse=True)
        else:
            assert first + rest == sorted(first + rest, reverse=True)
    db = api.app[DB]
    for name, index in (("chat_templates_newest", "chat_templates_profile"),
                        ("chat_templates_most_handed", "chat_templates_most_handed")):
        plan = " | ".join(row["detail"] for row in await db.fetch_all(
            "EXPLAIN QUERY PLAN " + Q[name], {"profile": inna, "handed": 5, "before": 100, "limit": 51}))
        assert index in plan and "TEMP B-TREE" not in plan, (name, plan)


async def test_templates_added_with_the_form_are_the_apis(operator):
    api = await operator()
    await add(api, ["first"])
    inna = await profile_id(api)
    answer = await post_form(api, f"/admin/chatbot/profiles/{inna}/templates",
                             {"templates": "Hi {name}!\r\n\r\n  \r\nfirst\r\nsecond line"})
    assert answer.status == 303
    assert answer.headers["Location"] == f"/admin/chatbot/profiles/{inna}?notice=added&received=2"
    html = await page(api, answer.headers["Location"])
    assert "2 templates added" in html and len(rows(html, "template")) == 3  # blank lines skipped, first known
    assert ">Hi {name}!</td>" in html and ">second line</td>" in html
    assert await add(api, ["Hi {name}!", "second line"]) == 0  # the API has them now
    # The API gives them as its own: the least given first (ties: the oldest), filled in.
    body = await mail(api, [man(1), man(2), man(3), man(4)])
    assert body["data"] == {"1": "first", "2": "Hi man2!", "3": "second line", "4": "first"}
    assert (await mail(api, [man(2)]))["data"] == {"2": "second line"}  # given once; first twice
    assert (await mail(api, [man(2)]))["data"] == {"2": "first"}
    assert (await mail(api, [man(2)]))["data"] == {}
    inna_contact = await contacts.get(api.app[DB], inna)
    assert (inna_contact["name"], inna_contact["external_ids"]) == ("Inna", {"victoriabrides": "1671492"})


@pytest.mark.parametrize("text, texts", [
    ("   ", ["   "]),
    ("", [""]),
    ("x" * 4001, ["x" * 4001]),
    ("\n".join(f"t{n}" for n in range(1001)), [f"t{n}" for n in range(1001)]),
    ("fine\n" + "y" * 4001, ["fine", "y" * 4001]),
])
async def test_the_form_refuses_what_the_api_refuses_with_its_messages(operator, text, texts):
    api = await operator()
    await add(api, ["kept"])
    inna = await profile_id(api)
    answer = await post_form(api, f"/admin/chatbot/profiles/{inna}/templates", {"templates": text})
    assert answer.status == 400
    html = await answer.text()
    status, body = await post(api, "templates", {"templates": texts, "profile": INNA})
    assert status == 400 and list(body["errors"]) == ["templates"]
    for message in body["errors"]["templates"]:
        assert field_error(message) in html, message
    assert f">{text}</textarea>" in html  # what was typed is kept
    assert rows(html, "template") and len(rows(html, "template")) == 1  # nothing stored
    assert count(html, "templates") == 1


async def test_a_removed_template_is_never_given_again_and_its_history_stays(operator):
    api = await operator()
    await add(api, ["a", "b", "c"])
    await mail(api, [man(1), man(2)])  # a to man 1, b to man 2
    inna = await profile_id(api)
    a, b, c = sorted(rows(await page(api, f"/admin/chatbot/profiles/{inna}"), "template"))
    answer = await post_form(api, f"/admin/chatbot/profiles/{inna}/templates/{a}/remove", {})
    assert answer.status == 303 and answer.headers["Location"] == f"/admin/chatbot/profiles/{inna}?notice=removed"
    html = await page(api, answer.headers["Location"])
    assert "Template removed" in html
    removed = row(html, "template", a)
    assert "removed</span>" in removed and "Remove</button>" not in removed
    assert (count(removed, "given"), count(removed, "men")) == (1, 1)  # its history stays
    assert "Remove</button>" in row(html, "template", b)
    assert count(html, "templates") == 2 and "and 1 removed" in html
    assert count(row(await page(api, "/admin/chatbot"), "profile", inna), "templates") == 2
    # The API never gives it again: to new men, nor to those who hold the others.
    body = await mail(api, [man(n) for n in range(1, 7)])
    assert len(body["data"]) == 6 and set(body["data"].values()) == {"b", "c"}
    assert (await mail(api, [man(1)]))["data"] == {"1": "b"}  # man 1 holds a and c: b is what is left
    # Man 2 holds b and c: a, which he never had, is removed, so he gets nothing.
    assert await mail(api, [man(2)]) == {"result": True, "received": 1, "data": {}}
    # Who got it stays in the log: man 1's message of "a" is still there.
    db = api.app[DB]
    man1 = await contacts.find_id_by_external_id(db, "victoriabrides", "1")
    assert await db.fetch_value("SELECT count(*) FROM messages WHERE contact_id = ? AND body = 'a'", (man1,)) == 1
    # Removing it again changes nothing; with every template removed the API says she has none.
    assert (await post_form(api, f"/admin/chatbot/profiles/{inna}/templates/{a}/remove", {})).status == 303
    for template in (b, c):
        assert (await post_form(api, f"/admin/chatbot/profiles/{inna}/templates/{template}/remove", {})).status == 303
    status, body = await post(api, "mailing", {"data": {"users": [man(99)], "female_id": INNA["id_user"]}})
    assert status == 400 and body["errors"] == {"data.female_id": [f"Profile {INNA['id_user']} has no templates."]}


async def test_adding_a_removed_text_again_brings_it_back_as_it_was(operator):
    api = await operator()
    await add(api, ["a", "b"])
    await mail(api, [man(1)])  # a to man 1
    inna = await profile_id(api)
    a, b = sorted(rows(await page(api, f"/admin/chatbot/profiles/{inna}"), "template"))
    await post_form(api, f"/admin/chatbot/profiles/{inna}/templates/{a}/remove", {})
    assert (await mail(api, [man(2)]))["data"] == {"2": "b"}
    assert await add(api, ["a", "b"]) == 1  # through the API: a is back (and counted as received), b was hers
    html = await page(api, f"/admin/chatbot/profiles/{inna}")
    assert rows(html, "template") == [b, a]  # the same template, not a new one
    assert "removed</span>" not in html and (count(row(html, "template", a), "given")) == 1
    assert (await mail(api, [man(2)]))["data"] == {"2": "a"}  # given again
    assert (await mail(api, [man(1)]))["data"] == {"1": "b"}  # but never twice to the man who had it
    # Through the form as well.
    await post_form(api, f"/admin/chatbot/profiles/{inna}/templates/{b}/remove", {})
    answer = await post_form(api, f"/admin/chatbot/profiles/{inna}/templates", {"templates": "b"})
    assert answer.headers["Location"].endswith("notice=added&received=1")
    assert "removed</span>" not in await page(api, f"/admin/chatbot/profiles/{inna}")
    assert (await mail(api, [man(3)]))["data"] == {"3": "a"}  # each given twice: the oldest first
    assert (await mail(api, [man(3)]))["data"] == {"3": "b"}  # b is given again too


async def test_unknown_ids_are_404s(operator):
    api = await operator()
    await add(api, ["a"])
    await add(api, ["x"], profile=OLGA)
    await mail(api, [man(1)])
    inna = await profile_id(api)
    [x] = rows(await page(api, f"/admin/chatbot/profiles/{await profile_id(api, OLGA)}"), "template")
    man1 = await contacts.find_id_by_external_id(api.app[DB], "victoriabrides", "1")
    for path in (f"/admin/chatbot/profiles/{inna + 1000}", f"/admin/chatbot/profiles/{man1}"):  # a man's
        assert "There is no sender profile" in await page(api, path, 404)
    await page(api, f"/admin/chatbot/profiles/{2**64}", 404)  # more than SQLite holds
    for path, data in ((f"/admin/chatbot/profiles/{man1}/templates", {"templates": "hi"}),
                       (f"/admin/chatbot/profiles/{inna}/templates/{x}/remove", {}),  # Olga's
                       (f"/admin/chatbot/profiles/{inna}/templates/{x + 100}/remove", {}),
                       (f"/admin/chatbot/profiles/{inna}/templates/{2**64}/remove", {})):
        assert (await post_form(api, path, data)).status == 404, path
    assert (await mail(api, [man(2)], female_id=OLGA["id_user"]))["data"] == {"2": "x"}  # Olga's still hers
    assert (await mail(api, [man(2)]))["data"] == {"2": "a"}  # nothing was removed


async def test_the_migration_counts_the_failed_sends_of_the_templates_already_given(tmp_path):
    path = tmp_path / "herald.db"
    with closing(sqlite3.connect(path)) as conn:
        for version, _, script in migration_files():
            if version < 19:
                conn.executescript(script.read_text())
        conn.executescript("""
            INSERT INTO contacts (id, name, created_at, updated_at) VALUES (1, 'Inna', 'now', 'now');
            INSERT INTO chat_templates (id, profile_contact_id, text, given, created_at)
            VALUES (10, 1, 'a', 2, 'now'), (11, 1, 'b', 0, 'now'), (12, 1, 'c', 1, 'now');
            INSERT INTO messages (contact_id, channel, status, payload, created_at, updated_at) VALUES
                (1, 'chat', 'failed', '{"template_id": 10, "id_user": "5"}', 'now', 'now'),
                (1, 'chat', 'failed', '{"template_id": 11, "id_user": "5"}', 'now', 'now'),
                (1, 'chat', 'failed', '{"template_id": 11, "id_user": "6"}', 'now', 'now'),
                (1, 'chat', 'sent', '{"template_id": 12, "id_user": "6"}', 'now', 'now'),
                (1, 'sms', 'failed', NULL, 'now', 'now');
        """)
        [(_, _, script)] = [found for found in migration_files() if found[0] == 19]
        conn.executescript(script.read_text())
        handed = conn.execute("SELECT id, given, handed, removed_at FROM chat_templates ORDER BY id").fetchall()
    assert handed == [(10, 2, 3, None), (11, 0, 2, None), (12, 1, 1, None)]


async def test_in_a_browser_a_template_is_added_with_the_form_and_removed_after_a_confirmation(operator, browser):
    api = await operator()
    await add(api, ["Hello {name}", "Old one"])
    await mail(api, [man(1)])
    inna = await profile_id(api)
    base = str(api.make_url("")).rstrip("/")
    page_ = browser.page
    await log_in_with_the_form(page_, base)
    await page_.get_by_role("link", name="Chatbot").click()
    await page_.get_by_label("Name or id on the site").fill("Inna")
    await page_.get_by_role("button", name="Search").click()
    await page_.get_by_role("link", name="Inna").click()
    await page_.wait_for_url(f"{base}/admin/chatbot/profiles/{inna}")
    await page_.get_by_label("Templates, one a line").fill("Made in the browser\nAnd {city} too")
    await page_.get_by_role("button", name="Add templates").click()
    await page_.wait_for_url(f"{base}/admin/chatbot/profiles/{inna}?notice=added&received=2")
    assert await page_.get_by_role("status").inner_text() == \
        "2 templates added (one she already has is left as it is)."
    assert await page_.locator("tr[data-template] td.message-text").all_inner_texts() == \
        ["And {city} too", "Made in the browser", "Old one", "Hello {name}"]
    old = page_.locator("tr[data-template]", has_text="Old one")
    old_id = int(await old.get_attribute("data-template"))
    questions = []

    async def answer(dialog):
        questions.append(dialog.message)
        await dialog.accept()

    page_.on("dialog", answer)
    await old.get_by_role("button", name="Remove").click()
    await page_.wait_for_url(f"{base}/admin/chatbot/profiles/{inna}?notice=removed")
    assert questions == [f"Remove template {old_id}? It is never given again; who got it stays in the history."]
    assert await page_.locator(f'tr[data-template="{old_id}"] .status').inner_text() == "removed"
    assert await page_.locator(f'tr[data-template="{old_id}"] button').count() == 0
    given = set()
    for n in range(2, 6):
        given |= set((await mail(api, [man(n)]))["data"].values())
    assert "Old one" not in given and "Made in the browser" in given

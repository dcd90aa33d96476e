"""Who may open the operators' UI at /admin/ (server/admin_auth.py, handlers/admin.py), over HTTP:
operators made by `create_admin`, the login form with its token, the session cookie and its
expiry, the CSRF token on every change, the slowing of password guessing, and nothing opened by
the APIs' tokens."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from server import passwords
from server.app import create_app
from server.keys import DB
from storage import admins
from tests.conftest import AUTH

ROOT = Path(__file__).resolve().parent.parent
NAME, PASSWORD = "anna", "correct horse battery"


def token_in(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def open_login(api, next_page: str = "/admin/") -> str:
    """GET the login form (setting its cookie); its token."""
    answer = await api.get("/admin/login", params={"next": next_page})
    assert answer.status == 200
    return token_in(await answer.text())


async def log_in(api, name: str = NAME, password: str = PASSWORD, next_page: str = "/admin/"):
    token = await open_login(api, next_page)
    return await api.post("/admin/login", data={"name": name, "password": password, "csrf_token": token,
                                                "next": next_page}, allow_redirects=False)


@pytest.fixture
def admin_app(aiohttp_client, make_settings):
    """admin_app(**sections) -> a client of the app with operator anna."""

    async def start(**sections):
        client = await aiohttp_client(create_app(make_settings(**sections)))
        await admins.create_admin(client.app[DB], NAME, passwords.hash_password(PASSWORD))
        return client

    return start


@pytest.mark.parametrize("path", ["/admin/", "/admin", "/admin/fragments/active-mailings"])
async def test_every_page_but_the_login_sends_a_visitor_to_the_login(admin_app, path):
    api = await admin_app()
    answer = await api.get(path, allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/admin/login?next=/admin")
    fragment = await api.get(path, headers={"HX-Request": "true"}, allow_redirects=False)
    assert fragment.status == 204 and fragment.headers["HX-Redirect"].startswith("/admin/login")


async def test_the_apis_tokens_do_not_open_the_ui(admin_app):
    api = await admin_app()
    answer = await api.get("/admin/", headers=AUTH, allow_redirects=False)
    assert answer.status == 303


async def test_an_operator_logs_in_and_out(admin_app):
    api = await admin_app()
    answer = await log_in(api, next_page="/admin/fragments/active-mailings")
    assert answer.status == 303 and answer.headers["Location"] == "/admin/fragments/active-mailings"
    cookie = answer.cookies["herald_admin"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/admin/"
    assert not cookie["secure"]  # server.public_url is http
    dashboard = await api.get("/admin/")
    page = await dashboard.text()
    assert dashboard.status == 200 and ">anna<" in page
    assert "frame-ancestors 'none'" in dashboard.headers["Content-Security-Policy"]
    logged_out = await api.post("/admin/logout", data={"csrf_token": token_in(page)}, allow_redirects=False)
    assert logged_out.status == 303 and logged_out.headers["Location"] == "/admin/login"
    api.session.cookie_jar.update_cookies({"herald_admin": cookie.value})  # the old cookie, kept by a thief
    assert (await api.get("/admin/", allow_redirects=False)).status == 303


async def test_the_cookie_is_secure_behind_https(admin_app):
    api = await admin_app(server={"public_url": "https://herald.example.com"})
    form = await api.get("/admin/login")
    login_cookie = form.cookies["herald_admin_csrf"]
    assert login_cookie["secure"]  # so the test client, on http, will not send it back: it is sent by hand
    answer = await api.post("/admin/login", data={"name": NAME, "password": PASSWORD,
                                                  "csrf_token": token_in(await form.text())},
                            headers={"Cookie": f"herald_admin_csrf={login_cookie.value}"}, allow_redirects=False)
    assert answer.status == 303 and answer.cookies["herald_admin"]["secure"]


@pytest.mark.parametrize("name,password", [(NAME, "wrong password"), ("nobody", PASSWORD)])
async def test_a_wrong_name_or_password_is_one_answer(admin_app, name, password):
    api = await admin_app()
    answer = await log_in(api, name, password)
    assert answer.status == 401
    assert "Wrong name or password." in await answer.text()
    assert "herald_admin" not in answer.cookies


async def test_a_login_form_not_from_herald_is_refused(admin_app):
    api = await admin_app()
    await open_login(api)
    answer = await api.post("/admin/login", data={"name": NAME, "password": PASSWORD, "csrf_token": "forged"},
                            allow_redirects=False)
    assert answer.status == 403 and "herald_admin" not in answer.cookies


async def test_after_five_wrong_passwords_a_name_must_wait(admin_app):
    api = await admin_app()
    for _ in range(5):
        assert (await log_in(api, password="guess")).status == 401
    refused = await log_in(api)  # the right password, but too soon
    assert refused.status == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Too many wrong passwords" in await refused.text()
    assert (await log_in(api, "someone-else", "guess")).status == 401  # other names are not held up


async def test_a_change_without_the_sessions_csrf_token_is_refused(admin_app):
    api = await admin_app()
    await log_in(api)
    for data, headers in [({}, {}), ({"csrf_token": "forged"}, {}), ({}, {"X-CSRF-Token": "forged"})]:
        answer = await api.post("/admin/logout", data=data, headers=headers, allow_redirects=False)
        assert answer.status == 403, (data, headers)
        assert "CSRF" in await answer.text()
    assert (await api.get("/admin/", allow_redirects=False)).status == 200  # still logged in


async def test_a_login_never_sends_the_operator_to_another_site(admin_app):
    api = await admin_app()
    for target in ["//evil.example/admin/", "https://evil.example/", "/admin/\\evil", "/elsewhere"]:
        answer = await log_in(api, next_page=target)
        assert answer.status == 303 and answer.headers["Location"] == "/admin/", target


async def test_a_session_ends_when_it_expires(admin_app, make_settings):
    api = await admin_app()
    await log_in(api)
    with closing(sqlite3.connect(make_settings().storage.path)) as conn, conn:
        conn.execute("UPDATE admin_sessions SET expires_at = '2020-01-01T00:00:00.000Z'")
    assert (await api.get("/admin/", allow_redirects=False)).status == 303


async def test_a_password_reset_ends_the_sessions(admin_app):
    api = await admin_app()
    await log_in(api)
    await admins.reset_password(api.app[DB], NAME, passwords.hash_password("a whole new password"))
    assert (await api.get("/admin/", allow_redirects=False)).status == 303
    assert (await log_in(api)).status == 401
    assert (await log_in(api, password="a whole new password")).status == 303


def run_create_admin(tmp_path: Path, *args: str, password: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HERALD_STORAGE__PATH": str(tmp_path / "cli.db")}
    env.pop("HERALD_ADMIN_PASSWORD", None)
    if password is not None:
        env["HERALD_ADMIN_PASSWORD"] = password
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "create_admin", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_create_admin_stores_only_a_hash_and_says_what_went_wrong(tmp_path):
    made = run_create_admin(tmp_path, "boris", password="first password")
    assert made.returncode == 0, made.stderr
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM admin_users WHERE name = 'boris'")
    assert stored.startswith("$argon2id$") and "first password" not in stored
    assert passwords.verify(stored, "first password")
    again = run_create_admin(tmp_path, "boris", password="first password")
    assert again.returncode == 1 and "--reset" in again.stderr
    short = run_create_admin(tmp_path, "boris", "--reset", password="short")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    unknown = run_create_admin(tmp_path, "nobody", "--reset", password="long enough")
    assert unknown.returncode == 1 and "no operator is named 'nobody'" in unknown.stderr
    no_terminal = run_create_admin(tmp_path, "carl", password=None)
    assert no_terminal.returncode == 2 and "HERALD_ADMIN_PASSWORD" in no_terminal.stderr
    reset = run_create_admin(tmp_path, "boris", "--reset", password="second password")
    assert reset.returncode == 0
    with closing(sqlite3.connect(tmp_path / "cli.db")) as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM admin_users WHERE name = 'boris'")
    assert passwords.verify(stored, "second password") and not passwords.verify(stored, "first password")

"""API tokens through main.py's commands (create_token, list_tokens, revoke_token) on a real SQLite
file, and a revoked token refused by the running app."""

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import main
from server.app import create_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(make_settings):
    return make_settings()


def run(settings, capsys, *argv: str) -> tuple[int, str, str]:
    """One command as `python main.py ...` runs it, after its settings are loaded."""
    code = main.run_command(main.parse_args(list(argv)), settings)
    out, err = capsys.readouterr()
    return code, out, err


def stored(settings) -> list[tuple]:
    with sqlite3.connect(settings.storage.path) as conn:
        return conn.execute("SELECT name, token_sha256, prefix FROM api_tokens ORDER BY id").fetchall()


def test_create_token_keeps_the_digest_and_a_short_prefix(settings, capsys):
    code, out, _ = run(settings, capsys, "create_token", "crm-sync")
    token = out.strip()
    assert code == 0 and len(token) == 40
    assert stored(settings) == [("crm-sync", hashlib.sha256(token.encode()).hexdigest(), token[:8])]


@pytest.mark.parametrize("name", ["", "   ", "\t", " me", "a\x00b"])
def test_create_token_refuses_a_name_that_cannot_identify_a_token(settings, capsys, name):
    code, out, err = run(settings, capsys, "create_token", name)
    assert code == 2
    assert out == "" and "token not created" in err
    assert stored(settings) == []


def test_create_token_refuses_a_name_that_is_taken(settings, capsys):
    first = run(settings, capsys, "create_token", "me")[1].strip()
    code, out, err = run(settings, capsys, "create_token", "me")
    assert code == 2 and out == ""
    assert "'me' exists already" in err
    assert [row[1] for row in stored(settings)] == [hashlib.sha256(first.encode()).hexdigest()]


def test_create_token_with_an_empty_name_exits_2_from_the_command_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_STORAGE__PATH"] = str(tmp_path / "h.db")
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(tmp_path / "none.toml"),
                             "create_token", ""], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "a token needs a name" in result.stderr and "Traceback" not in result.stderr


def test_list_tokens_shows_names_prefixes_and_dates_but_never_a_token(settings, capsys):
    tokens = [run(settings, capsys, "create_token", name)[1].strip() for name in ("crm-sync", "ci")]
    with sqlite3.connect(settings.storage.path) as conn:  # one made before prefixes were kept
        conn.execute("INSERT INTO api_tokens (name, token_sha256, created_at) "
                     "VALUES ('legacy', 'ab', '2020-01-01T00:00:00.000Z')")

    code, out, _ = run(settings, capsys, "list_tokens")

    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["NAME", "PREFIX", "CREATED_AT"]
    assert [line[:2] for line in lines[1:4]] == [["legacy", "-"], ["crm-sync", tokens[0][:8]], ["ci", tokens[1][:8]]]
    assert lines[1][2] == "2020-01-01T00:00:00.000Z"
    assert "(and 1 static token(s) from auth.api_tokens)" in out  # the seed token of conftest
    for token in tokens:
        assert token not in out


def test_list_tokens_on_an_empty_database_says_how_to_make_one(make_settings, capsys):
    code, out, _ = run(make_settings(auth={"api_tokens": []}), capsys, "list_tokens")
    assert code == 0
    assert out == "no tokens yet: make one with python main.py create_token NAME\n"


@pytest.mark.parametrize("by", ["name", "prefix", "token"])
def test_revoke_token_by_name_prefix_or_the_token_itself(settings, capsys, by):
    token = run(settings, capsys, "create_token", "crm-sync")[1].strip()
    run(settings, capsys, "create_token", "ci")
    wanted = {"name": "crm-sync", "prefix": token[:8], "token": token}[by]

    code, out, _ = run(settings, capsys, "revoke_token", wanted)

    assert code == 0
    assert out.startswith("revoked token 'crm-sync'")
    assert [row[0] for row in stored(settings)] == ["ci"]


def test_revoke_token_that_matches_nothing_exits_1_and_revokes_nothing(settings, capsys):
    run(settings, capsys, "create_token", "ci")
    code, out, err = run(settings, capsys, "revoke_token", "cj")
    assert code == 1 and out == ""
    assert "nothing revoked: no token is named 'cj' or has that prefix" in err
    assert [row[0] for row in stored(settings)] == ["ci"]


def test_an_ambiguous_revoke_token_lists_the_candidates_and_revokes_nothing(settings, capsys):
    token = run(settings, capsys, "create_token", "first")[1].strip()
    run(settings, capsys, "create_token", token[:8])  # a name equal to the other's prefix

    code, out, err = run(settings, capsys, "revoke_token", token[:8])

    assert code == 2 and out == ""
    assert "2 tokens match" in err
    assert "'first' (prefix " in err and f"'{token[:8]}' (prefix " in err
    assert len(stored(settings)) == 2


async def test_a_revoked_token_is_refused_by_the_running_app_at_once(aiohttp_client, settings, capsys):
    """The README says a revoked token stops working with the next request: no remembered tokens."""
    client = await aiohttp_client(create_app(settings))
    # The commands run beside the server, on their own connections, as another process would.
    command = lambda *argv: asyncio.to_thread(run, settings, capsys, *argv)  # noqa: E731
    token = (await command("create_token", "ci"))[1].strip()
    auth = {"Authorization": f"Token {token}"}
    assert (await client.get("/Clients/", headers=auth)).status == 200
    assert (await client.get("/Clients/", headers=auth)).status == 200

    assert (await command("revoke_token", "ci"))[0] == 0

    response = await client.get("/Clients/", headers=auth)
    assert response.status == 401
    assert await response.json() == {"detail": "Invalid token."}

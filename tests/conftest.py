"""Shared fixtures: settings on a temporary SQLite file, and the app built by the real factory.

Tests never read the developer's config.toml or HERALD_* variables: `make_settings` starts from
the defaults and applies only what a test asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.app import create_app
from server.settings import Settings, load_settings
from storage.db import Database
from tests.smtp_server import smtp_server  # noqa: F401  (a real SMTP server, for every test module)

# The token shown in seed 003's curl examples, so its requests replay verbatim.
SEED_TOKEN = "f3a527cd037b3a1e4d41f9e1afd7db26b6ba9cda"
AUTH = {"Authorization": f"Token {SEED_TOKEN}"}


@pytest.fixture(autouse=True)
def _no_herald_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HERALD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_settings(tmp_path: Path):
    """make_settings(notifications={...}, ...) -> Settings on tmp_path/herald.db."""

    def build(**sections: dict) -> Settings:
        defaults = {
            "storage": {"path": str(tmp_path / "herald.db")},
            "auth": {"api_tokens": [SEED_TOKEN]},
            "smtp": {"outbox_dir": str(tmp_path / "outbox")},
        }
        for name, values in sections.items():
            defaults[name] = {**defaults.get(name, {}), **values}
        return load_settings(tmp_path / "absent.toml", **defaults)

    return build


@pytest.fixture
async def db(tmp_path: Path):
    """A real database file with every migration applied."""
    database = Database(tmp_path / "h.db")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def client(aiohttp_client, make_settings):
    """A test client of the app with default (sandbox) settings."""
    return await aiohttp_client(create_app(make_settings()))

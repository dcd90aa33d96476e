"""The SQLite file: WAL, versioned migrations applied once, named SQL, readable UTC times."""

import sqlite3

import pytest

from storage.db import Database, migration_files
from storage.sql import load_queries


async def test_open_creates_the_folder_the_file_and_applies_migrations_once(tmp_path):
    path = tmp_path / "deep" / "folder" / "herald.db"
    db = Database(path)
    await db.open()
    await db.close()
    db = Database(path)
    await db.open()
    versions = [row[0] for row in await db.fetch_all("SELECT version FROM schema_migrations")]
    await db.close()
    assert versions == [version for version, _, _ in migration_files()]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"contacts", "contact_tags", "mailings", "messages", "api_tokens"} <= tables


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    db = Database(tmp_path / "h.db")
    await db.open()
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO api_tokens (name, token_sha256, created_at) VALUES ('a', 'b', 'c')")
            raise RuntimeError("boom")
    assert await db.fetch_value("SELECT count(*) FROM api_tokens") == 0
    await db.close()


def test_a_query_name_defined_twice_is_refused(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: same\nSELECT 2;\n")
    with pytest.raises(ValueError, match="same"):
        load_queries(tmp_path)


async def test_times_are_stored_as_readable_utc(client):
    from server.keys import DB
    from tests.conftest import AUTH

    await client.post("/Mailing/", json={"datetime_start": "2030-01-01T12:00:00+03:00",
                                         "datetime_end": "2030-01-02T00:00:00", "message_text": "x"}, headers=AUTH)
    row = await client.app[DB].fetch_one("SELECT datetime_start, created_at FROM mailings")
    assert row["datetime_start"] == "2030-01-01T09:00:00.000Z"
    assert row["created_at"].endswith("Z") and len(row["created_at"]) == 24

"""The SQLite file: WAL, versioned migrations applied once, named SQL, readable UTC times."""

import asyncio
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


async def test_the_message_log_rebuilt_by_migration_15_keeps_every_row_and_its_unique_keys(tmp_path):
    path = tmp_path / "h.db"
    older = sqlite3.connect(path, isolation_level=None)  # a file that has seen migrations 1-14
    older.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " applied_at TEXT NOT NULL)")
    for version, name, script in migration_files():
        if version < 15:
            older.executescript(f"BEGIN; {script.read_text()}; INSERT INTO schema_migrations "
                                f"VALUES ({version}, '{name}', 'then'); COMMIT;")
    now = "2026-01-01T00:00:00.000Z"
    older.execute("INSERT INTO contacts (id, created_at, updated_at) VALUES (1, ?, ?), (2, ?, ?)", (now,) * 4)
    older.execute("INSERT INTO mailings (id, datetime_start, datetime_end, message_text, created_at, updated_at)"
                  " VALUES (7, ?, ?, 'hi', ?, ?)", (now,) * 4)
    older.execute("INSERT INTO messages (id, contact_id, mailing_id, channel, status, created_at, updated_at,"
                  " dedupe_key, read_at) VALUES (10, 1, 7, 'sms', 'sent', ?, ?, NULL, NULL),"
                  " (11, 1, NULL, 'chat', 'pending', ?, ?, 'chat:3:1', NULL), (12, 1, NULL, 'chat', 'sent', ?, ?,"
                  " 'chat:4:1', ?)", (now,) * 7)
    older.close()

    db = Database(path)
    await db.open()
    try:
        rows = await db.fetch_all("SELECT id, contact_id, mailing_id, dedupe_key, read_at FROM messages ORDER BY id")
        assert [tuple(row) for row in rows] == [(10, 1, 7, None, None), (11, 1, None, "chat:3:1", None),
                                                 (12, 1, None, "chat:4:1", now)]
        for duplicate in ("(1, 7, 'sms', NULL)", "(2, NULL, 'chat', 'chat:3:1')"):  # a mailing's; a key's
            with pytest.raises(sqlite3.IntegrityError):
                await db.write(lambda tx, values=duplicate: tx.execute(
                    "INSERT INTO messages (contact_id, mailing_id, channel, dedupe_key, status, created_at,"
                    f" updated_at) VALUES {values[:-1]}, 'pending', 'now', 'now')"))
        # The CRM's view over the log is back, over the rows as they were and as they come.
        await db.write(lambda tx: tx.execute(
            "INSERT INTO messages (contact_id, channel, status, created_at, updated_at)"
            " VALUES (1, 'system', 'sent', 'now', 'now'), (1, 'system', 'sent', 'now', 'now')"))
        assert await db.fetch_value("SELECT count(*) FROM crm_history_items WHERE contact_id = 1") == 5
    finally:
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


async def test_a_large_write_is_checkpointed_before_the_next_so_the_wal_starts_over(tmp_path, monkeypatch):
    """Writes that follow each other without a pause never let a background checkpoint finish, so
    the WAL would hold them all; after a group that changed CATCH_UP_ROWS rows, the next group
    waits for its checkpoint and then writes the WAL from its start again."""
    monkeypatch.setattr(Database, "CHECKPOINT_SECONDS", 3600)  # no background rounds: only the catch-up
    database = Database(tmp_path / "wal.db")
    await database.open()
    try:
        await database.write(lambda tx: tx.execute("CREATE TABLE blobs (body BLOB)"))
        wal = tmp_path / "wal.db-wal"

        def insert(rows: int):
            return lambda tx: tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO blobs SELECT randomblob(2000) FROM n", (rows,))

        for _ in range(10):  # each about 1.2 MB: 12 MB in a WAL that never started over
            await database.write(insert(Database.CATCH_UP_ROWS + 100))
        assert wal.stat().st_size < 4 * 2_000 * (Database.CATCH_UP_ROWS + 100), wal.stat().st_size
        assert await database.fetch_value("SELECT count(*) FROM blobs") == 10 * (Database.CATCH_UP_ROWS + 100)

        small = Database.CATCH_UP_ROWS // 10  # small groups are left to the background rounds
        size = wal.stat().st_size
        for _ in range(60):  # 6 MB
            await database.write(insert(small))
        assert wal.stat().st_size > size + 2 * 2_000 * (Database.CATCH_UP_ROWS + 100), (size, wal.stat().st_size)
    finally:
        await database.close()


async def test_the_wal_is_checkpointed_in_the_background_and_stays_small(tmp_path, monkeypatch):
    """The writer never checkpoints (wal_autocheckpoint = 0): without the checkpointer the WAL
    would hold every page ever written (3.2 MB here, written without a pause); with it, it is
    started over whenever it reaches WAL_RESTART_PAGES."""
    monkeypatch.setattr(Database, "CHECKPOINT_SECONDS", 0.02)
    monkeypatch.setattr(Database, "WAL_RESTART_PAGES", 50)
    database = Database(tmp_path / "wal.db")
    await database.open()
    try:
        await database.write(lambda tx: tx.execute("CREATE TABLE blobs (body BLOB)"))
        wal = tmp_path / "wal.db-wal"
        before = wal.stat().st_size  # the migrations' pages
        for _ in range(200):
            await database.write(lambda tx: tx.execute("INSERT INTO blobs VALUES (randomblob(16000))"))
            await asyncio.sleep(0.002)
        written = 200 * 16_000
        assert wal.stat().st_size - before < written / 4, wal.stat().st_size - before
        assert await database.fetch_value("SELECT count(*) FROM blobs") == 200
    finally:
        await database.close()

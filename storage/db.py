"""The SQLite file: one write connection, one read connection, WAL, versioned migrations.

Writes go through `Database.write(fn)`: `fn(tx)` runs synchronously in aiosqlite's thread, grouped
with the writes that arrive meanwhile into one `BEGIN IMMEDIATE` transaction (storage/group_commit.py).
`Database.transaction()` is the older form, one hand-over to that thread per statement. Reads use a separate read-only connection (WAL: they never wait behind
a writer) and run inline on the event loop: every read is a short indexed query, and a thread
round-trip per query would cost more than the query itself.
This module knows nothing of any table but `schema_migrations`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from server.timeutil import to_db, utc_now
from storage.group_commit import GroupCommit, Params, T, Write, WriteTransaction  # noqa: F401

log = logging.getLogger("herald.storage")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -16000",
)



class ReadConnection:
    """The read-only connection: same helpers as a transaction, run inline."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, params).fetchone()

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


class Connection:
    """Query helpers of an open write transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return rows[0] if rows else None

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)


class Database(ReadConnection):
    """The store. Reads on `self` use the read connection; writes go through `write()` (or the
    older `transaction()`, whose statements each cost a hand-over to the writer thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._group: GroupCommit | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(str(self.path), isolation_level=None)
        self._writer.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            await self._writer.execute(pragma)
        await migrate(self._writer)
        self._group = GroupCommit(self._writer, self._write_lock, self._written)
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        reader.row_factory = sqlite3.Row
        for pragma in PRAGMAS[1:]:
            reader.execute(pragma)
        super().__init__(reader)

    async def close(self) -> None:
        if self._group is not None:
            await self._group.close()
        if self._writer is not None:
            await self._writer.close()
            self._conn.close()
        self._writer = None

    async def write(self, write: Write[T]) -> T:
        """Run `write(tx)` in the writer thread, in a transaction shared with the writes that arrive
        meanwhile (group commit); returns what it returns, raises what it raises (its own changes
        are then rolled back, the others' are not)."""
        assert self._group is not None, "database is not open"
        return await self._group.write(write)

    def _written(self, failure: BaseException | None) -> None:
        """Told after each group: None when it committed, else the error that undid it."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One write transaction; commits on success, rolls back on any exception."""
        assert self._writer is not None, "database is not open"
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Connection(self._writer)
            except BaseException:
                await self._writer.rollback()
                raise
            await self._writer.commit()


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append((int(match[1]), match[2], path))
    return found


async def migrate(conn: aiosqlite.Connection) -> list[int]:
    """Apply the migrations the file has not seen yet, each in its own transaction."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in await conn.execute_fetchall("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, path in migration_files():
        if version in done:
            continue
        script = path.read_text(encoding="utf-8")
        record = (
            "INSERT INTO schema_migrations (version, name, applied_at) "
            f"VALUES ({version}, '{name}', '{to_db(utc_now())}');"
        )
        try:
            await conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n{record}\nCOMMIT;")
        except sqlite3.Error:
            await conn.rollback()
            raise
        log.info("applied migration %04d_%s", version, name)
        applied.append(version)
    return applied

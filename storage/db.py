"""The SQLite file: one write connection, two read connections, WAL, versioned migrations.

Writes go through `Database.write(fn)`: `fn(tx)` runs synchronously in aiosqlite's thread, grouped
with the writes that arrive meanwhile into one `BEGIN IMMEDIATE` transaction (storage/group_commit.py).
Storage modules declare their write functions with `@writes`, so that one function serves both as
a write of its own (`await contacts.create(db, ...)`) and as a part of a larger one
(`contacts.create(tx, ...)` inside another write function). `Database.transaction()` is the older
form, one hand-over to that thread per statement; no storage module uses it any more.
Reads use separate read-only connections (WAL: they never wait behind a writer). Cheap indexed
reads run inline on the event loop (`db.fetch_one(...)`, or `@reads` functions), since a thread
round-trip would cost more than the query; a read that may take more than a few milliseconds
(a history, a report, a scan) goes to `db.slow`, a connection with a thread of its own, so that it
never stalls the event loop.
Checkpoints (copying the WAL back into the file, with its fsync) run on a connection and thread
of their own every CHECKPOINT_SECONDS, never in the writer: SQLite's automatic checkpoint runs
in the commit that crosses 1,000 pages of WAL, and that commit, with every write grouped into it,
waited for the copy (tens of milliseconds on a busy host: bench/chatbot.py's p99). A PASSIVE
checkpoint waits for nobody, and the writer starts the WAL over at its next write after one that
completed; writes that never pause long enough for that get a RESTART checkpoint, which holds them
while it runs, once the WAL reaches WAL_RESTART_PAGES.
A write that fails because of the file's state (disk full, read-only, locked, I/O error) is
remembered for a while, so that `health()` can say the database cannot be written even when its
own small test write gets through.
This module knows nothing of any table but `schema_migrations`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from server.timeutil import to_db, utc_now
from storage.group_commit import GroupCommit, Params, Reads, T, Write, WriteTransaction  # noqa: F401

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
    # Pages read from the kernel's cache by a memory map, not by a pread each: a chatbot mailing
    # reads some 4,000 random pages of the indexes, far more than cache_size holds.
    "PRAGMA mmap_size = 1073741824",
)

# SQLite's primary result codes that mean "the file cannot be used now", not "this statement is wrong".
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL: "the database or its disk is full",
    sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_BUSY: "the database is locked by another process",
    sqlite3.SQLITE_LOCKED: "the database is locked by another process",
    sqlite3.SQLITE_IOERR: "the database's disk could not be read or written",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
}
# A full or failing disk may still take a small write, so a write that succeeds later does not
# prove these over; only time does. (Any write that succeeds proves a lock or read-only over.)
_LASTING = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return None if code is None else code & 0xFF


def unavailable(exc: BaseException) -> str | None:
    """Why the database cannot be used now, in words, if `exc` says so; else None."""
    return _UNAVAILABLE.get(_code(exc))


@dataclass(frozen=True)
class WriteFailure:
    reason: str
    at: datetime
    lasting: bool  # see _LASTING


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


class ThreadReader:
    """A read-only connection with a thread of its own (aiosqlite's): the same read helpers, run
    off the event loop, for reads that may take more than a few milliseconds. Rows come as dicts,
    built in that thread too, so even a long page costs the loop nothing but its hand-over."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        conn.row_factory = _dict_row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else next(iter(row.values()))


def _dict_row(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row)}


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
    """The store. Reads on `self` use the inline read connection (`inline` is the same connection
    with synchronous helpers), slow reads `slow`; writes go through `write()` (or the older
    `transaction()`, whose statements each cost a hand-over to the writer thread)."""

    inline: Reads
    slow: ThreadReader

    # How long a failed write counts against health() (a lock or read-only file: until a write succeeds).
    FAILURE_MEMORY = timedelta(seconds=60)
    CHECKPOINT_SECONDS = 0.25  # how often the checkpointer copies the WAL back into the file
    WAL_RESTART_PAGES = 20000  # a WAL this long (80 MB) is started over even if the writer must wait
    # A group that changed this many rows is checkpointed as soon as it is answered, and the next
    # group waits for that: it then finds the WAL copied back and starts it over (see _caught_up).
    CATCH_UP_ROWS = 500

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._slow: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._group: GroupCommit | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: asyncio.Task | None = None
        self._catching_up: asyncio.Task | None = None
        self.write_failure: WriteFailure | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(str(self.path), isolation_level=None)
        try:
            writer.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                await writer.execute(pragma)
            await migrate(writer)
            await writer.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job, not a commit's
        except BaseException:
            await writer.close()  # its thread would keep the process alive
            raise
        self._writer = writer
        self._group = GroupCommit(self._writer, self._write_lock, self._written, self._caught_up)
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        reader.row_factory = sqlite3.Row
        for pragma in PRAGMAS[1:]:
            reader.execute(pragma)
        super().__init__(reader)
        self.inline = Reads(reader)
        self._slow = await aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        for pragma in PRAGMAS[1:]:
            await self._slow.execute(pragma)
        self.slow = ThreadReader(self._slow)
        self._checkpointer = await aiosqlite.connect(str(self.path), isolation_level=None)
        self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoints")

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.CHECKPOINT_SECONDS)
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Copy the WAL back into the file, as far as no reader holds it (PASSIVE: never waits)."""
        try:
            # Read to its end: a statement left open would hold a read lock, and the WAL could never start over.
            [(_, pages, _)] = await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
            if pages >= self.WAL_RESTART_PAGES:
                # Writes never paused long enough for the WAL to start over: hold them this once.
                await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.Error as exc:  # the next round tries again; the WAL only grows meanwhile
            log.warning("could not checkpoint the WAL: %s", exc)

    async def _caught_up(self) -> None:
        """Before each group of writes: wait for the checkpoint of a large group before it.

        The WAL starts over only when a write begins after every page in it was copied back; a
        checkpoint that a write overlaps never gets there, and a WAL that is never started over
        grows until WAL_RESTART_PAGES stops the writer for a RESTART (100-200 ms with 1,000 men's
        chat messages in it), while every read of a page looks it up in a longer WAL index. So a
        large group's checkpoint runs while its callers are answered, and only then the next write."""
        if self._catching_up is not None:
            await asyncio.shield(self._catching_up)

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        if self._catching_up is not None:
            await self._catching_up
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        if self._group is not None:
            await self._group.close()
        if self._slow is not None:
            await self._slow.close()
            self._slow = None
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

    def _written(self, errors: list[BaseException], changed: int) -> None:
        """Told after each group of writes: the errors its writes raised ([] when all committed)
        and how many rows it changed."""
        if changed >= self.CATCH_UP_ROWS and self._checkpointer is not None:  # None: closing
            # The one before is done: this group waited for it (_caught_up).
            self._catching_up = asyncio.create_task(self._checkpoint(), name="sqlite-catch-up")
        for error in errors:
            if (reason := unavailable(error)) is not None:
                self.write_failure = WriteFailure(reason, utc_now(), _code(error) in _LASTING)
                return
        if self.write_failure is not None and not self.write_failure.lasting:
            self.write_failure = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One write transaction; commits on success, rolls back on any exception."""
        assert self._writer is not None, "database is not open"
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield Connection(self._writer)
                    await self._writer.commit()
                except BaseException:
                    # Also after a failed COMMIT (a full disk): else the transaction stays open.
                    with suppress(sqlite3.Error):
                        await self._writer.rollback()
                    raise
            except sqlite3.Error as exc:
                if (reason := unavailable(exc)) is not None:
                    self.write_failure = WriteFailure(reason, utc_now(), _code(exc) in _LASTING)
                raise
            if self.write_failure is not None and not self.write_failure.lasting:
                self.write_failure = None

    async def health(self) -> str | None:
        """None when the database can be read and written now; else what is wrong, in words.

        Reads a table, then commits a real write (the header's user_version, set to what it is).
        A write that failed within FAILURE_MEMORY counts too: this small write may get through a
        nearly full disk that refuses most others."""
        try:
            await self.fetch_value("SELECT count(*) FROM schema_migrations")
            async with self.transaction() as tx:
                version = await tx.fetch_value("PRAGMA user_version")
                await tx.execute(f"PRAGMA user_version = {int(version)}")
        except sqlite3.Error as exc:
            return unavailable(exc) or f"{exc.__class__.__name__}: {exc}"
        failure = self.write_failure
        if failure is not None and utc_now() - failure.at < self.FAILURE_MEMORY:
            return f"a write failed at {to_db(failure.at)}: {failure.reason}"
        return None


def writes(fn: Callable[..., T]) -> Callable[..., Any]:
    """Declare `fn(tx, ...)` a write function. Called with a WriteTransaction it runs there, as part
    of the caller's write; called with the Database it is a write of its own, to be awaited
    (`await fn(db, ...)`: group commit, its errors raised to the caller as they are)."""

    @functools.wraps(fn)
    def run(target: WriteTransaction | Database, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(target, WriteTransaction):
            return fn(target, *args, **kwargs)
        return target.write(lambda tx: fn(tx, *args, **kwargs))

    return run


def reads(fn: Callable[..., T]) -> Callable[..., Any]:
    """Declare `fn(conn, ...)` a cheap read. Called with a WriteTransaction it runs there (and sees
    that write's changes); called with the Database it runs inline on the read connection and is
    awaited (`await fn(db, ...)`)."""

    @functools.wraps(fn)
    def run(target: Reads | Database, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(target, Reads):
            return fn(target, *args, **kwargs)
        return _inline(fn, target.inline, args, kwargs)

    return run


async def _inline(fn: Callable[..., T], conn: Reads, args: tuple, kwargs: dict) -> T:
    return fn(conn, *args, **kwargs)


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

"""Group commit: the writes that arrive together are applied in one transaction on the writer
thread, and each is still answered with its own result or its own error.

A write is a plain function of a `WriteTransaction`, run synchronously in the writer's thread, so a
write costs the event loop one hand-over per batch instead of one per statement. Each write runs
under its own SAVEPOINT: an error in one (a duplicate phone, say) rolls back that write alone and
is raised to its caller, while the others of the batch commit. What must not be run twice belongs
in the write function, never around it: a batch is applied once.

This module knows no table; it is the mechanism `Database.write()` uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiosqlite

T = TypeVar("T")
Params = dict[str, Any] | Sequence[Any]


class Reads:
    """Synchronous query helpers over one connection: a write's transaction, or the read connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, params).fetchone()

    def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


class WriteTransaction(Reads):
    """Query helpers of one write inside a group's transaction (synchronous: writer thread only)."""

    __slots__ = ()

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return self._conn.execute(sql, params).rowcount

    def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.executemany(sql, rows)


Write = Callable[[WriteTransaction], T]


@dataclass(slots=True)
class _Pending(Generic[T]):
    write: Write[T]
    future: asyncio.Future[T]
    ok: bool = False
    value: Any = field(default=None)


class GroupCommit:
    """Collects writes while the writer is busy and applies each collection in one transaction."""

    MAX_GROUP = 256  # writes in one transaction at most: a long group delays the next one's answers

    def __init__(self, writer: aiosqlite.Connection, lock: asyncio.Lock,
                 on_outcome: Callable[[list[BaseException], int], None],
                 before_group: Callable[[], Awaitable[None]] | None = None) -> None:
        self._writer = writer
        self._lock = lock  # shared with Database.transaction(): one writer at a time
        # Told of each group's errors ([] when every write committed) and of the rows it changed.
        self._on_outcome = on_outcome
        self._before_group = before_group  # awaited before each group begins
        self._waiting: list[_Pending] = []
        self._draining: asyncio.Task | None = None
        self.groups = 0  # transactions committed or tried so far
        self.writes = 0  # writes applied in them

    async def write(self, write: Write[T]) -> T:
        pending = _Pending(write, asyncio.get_running_loop().create_future())
        self._waiting.append(pending)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="group-commit")
        return await asyncio.shield(pending.future)

    async def close(self) -> None:
        if self._draining is not None:
            await asyncio.shield(self._draining)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[: self.MAX_GROUP]
                del self._waiting[: self.MAX_GROUP]
                if self._before_group is not None:
                    await self._before_group()
                changed = 0
                async with self._lock:
                    self.groups += 1
                    self.writes += len(group)
                    try:
                        changed = await self._writer._execute(self._apply, self._writer._conn, group)
                    except BaseException as exc:  # the group's transaction as a whole failed
                        for pending in group:
                            pending.ok, pending.value = False, exc
                self._on_outcome([pending.value for pending in group if not pending.ok], changed)
                for pending in group:
                    if pending.future.done():
                        continue
                    if pending.ok:
                        pending.future.set_result(pending.value)
                    else:
                        pending.future.set_exception(pending.value)
        finally:
            self._draining = None

    @staticmethod
    def _apply(conn: sqlite3.Connection, group: list[_Pending]) -> int:
        """In the writer thread: one transaction, one savepoint per write; returns the rows it
        changed (by triggers too)."""
        changes_before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = WriteTransaction(conn)
            for pending in group:
                conn.execute("SAVEPOINT herald_write")
                try:
                    pending.value = pending.write(tx)
                    pending.ok = True
                except Exception as exc:
                    pending.ok, pending.value = False, exc
                    if not conn.in_transaction:
                        raise  # SQLite rolled the whole transaction back (a full disk, say)
                    conn.execute("ROLLBACK TO herald_write")
                conn.execute("RELEASE herald_write")
            conn.execute("COMMIT")
            return conn.total_changes - changes_before
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

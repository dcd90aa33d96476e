"""One server per database: an exclusive lock on `<storage.path>.lock`, held while serving.

The engine's first act on start is to put back what the previous instance left in flight, so a
second server on the same file would re-send the first one's messages. The lock is an `flock` on
a file beside the database: the kernel drops it when its holder exits, also after `kill -9`, so a
stale lock cannot exist. The holder writes who it is (pid, host, address, start time) into the
file so that a second instance can name it. The file stays when the server stops; deleting it
would let two servers lock two different files of the same name.
Management commands do not take the lock: they run beside a server by design.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from server.timeutil import to_db, utc_now


class AlreadyServing(Exception):
    """Another live process holds the lock; the message names it."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class InstanceLock:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self, url: str) -> None:
        """Take the lock at once or raise `AlreadyServing`; then record who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyServing(f"another Herald is serving {self.database} ({self.holder()}); "
                                 f"stop it first, or give this one another storage.path") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "url": url, "since": to_db(utc_now())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode() + b"\n", 0)
        self._fd = fd

    def holder(self) -> str:
        """Who the lock file says holds it, e.g. 'pid 42 on web1, http://127.0.0.1:8080 since ...'."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']}, {info['url']} since {info['since']}"
        except (OSError, ValueError, TypeError, KeyError):
            return "its pid is not recorded yet"

    def is_held(self) -> bool:
        """Whether another process holds the lock now (this one does not)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

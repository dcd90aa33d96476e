"""`serve(settings)`: bind the listening sockets, take the database's instance lock, start the app,
serve until SIGINT or SIGTERM, stop.

The order is the point. The sockets come first: a port in use stops the process before it has
touched anything. The lock (server/instance.py) comes next: a second server on the same database
stops before its engine would put the first one's in-flight messages back. Only then do the
app's cleanup contexts run (the database, the engine, ...). A server that cannot start says why
in one line on stderr and exits 1, without a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sqlite3
import sys

import uvloop
from aiohttp import web

from server import __version__
from server.app import create_app
from server.instance import AlreadyServing, InstanceLock
from server.protocol import Runner
from server.settings import Settings

log = logging.getLogger("herald.server")

BACKLOG = 128


def serve(settings: Settings) -> int:
    """Serve until told to stop; the process's exit status."""
    host, port = settings.server.host, settings.server.port
    url = f"http://{f'[{host}]' if ':' in host else host or '0.0.0.0'}:{port}"
    lock = InstanceLock(settings.storage.path)
    try:
        sockets = bind(host, port)
    except OSError as exc:
        also = ""
        if exc.errno == errno.EADDRINUSE and lock.is_held():
            also = f"; another Herald is serving {lock.database} ({lock.holder()})"
        return _fail(f"cannot listen on {host}:{port}: {_reason(exc)}{also}")
    try:
        lock.acquire(url)
    except (AlreadyServing, OSError) as exc:
        for sock in sockets:
            sock.close()
        return _fail(str(exc) if isinstance(exc, AlreadyServing) else f"cannot lock {lock.path}: {_reason(exc)}")
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
            return loop.run(_serve(settings, sockets, url))
    finally:
        lock.release()


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` names (as aiohttp's own sites would bind)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def _serve(settings: Settings, sockets: list[socket.socket], url: str) -> int:
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    runner = Runner(create_app(settings), access_log=None, keepalive_timeout=75)  # as web.run_app had it
    try:
        try:
            await runner.setup()  # the cleanup contexts: database, scheduler, ..., the engine
        except sqlite3.Error as exc:
            return _fail(f"cannot open the database {settings.storage.path}: {_reason(exc)}")
        except OSError as exc:
            return _fail(f"cannot start: {_reason(exc)}" + (f": {exc.filename}" if exc.filename else ""))
        for sock in sockets:
            await web.SockSite(runner, sock, backlog=BACKLOG).start()
        log.info("serving on %s", url, extra={"version": __version__, "database": str(settings.storage.path)})
        await stop.wait()
    finally:
        await runner.cleanup()
    log.info("stopped", extra={"version": __version__})
    return 0


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    return text[:1].lower() + text[1:]


def _fail(message: str) -> int:
    print(f"herald: {message}", file=sys.stderr)
    return 1

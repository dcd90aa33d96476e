"""`python main.py` as a real process: one server per database, bind errors in one line, a log
line when it starts serving and one when it stops.

The first server sends one message to a provider that holds it (mode "slow"), so the message is
`sending` in the database while a second server on the same database is started: the second one
must exit at once naming the first, and the message must stay `sending`, not be sent again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import AUTH, SEED_TOKEN
from tests.provider import Provider

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_TOKEN = "instance-test-provider"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def provider():
    provider = Provider(PROVIDER_TOKEN, slow_seconds=60)
    provider.mode = "slow"
    await provider.start()
    yield provider
    await provider.stop()


@pytest.fixture
def config(tmp_path: Path, provider: Provider) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[server]
port = {free_port()}
[storage]
path = "{tmp_path / 'data' / 'herald.db'}"
[auth]
api_tokens = ["{SEED_TOKEN}"]
[notifications]
transport = "http"
provider_url = "{provider.url}"
provider_token = "{PROVIDER_TOKEN}"
timeout_seconds = 50
[smtp]
outbox_dir = "{tmp_path / 'outbox'}"
""")
    return path


class Server:
    """`python main.py --config FILE` with HERALD_* overrides; stderr goes to a file."""

    def __init__(self, config: Path, name: str, **env: str) -> None:
        self.config, self.env = config, env
        self.log = config.with_name(f"{name}.log")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Server:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")} | self.env
        with open(self.log, "w") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "main.py"), "--config", str(self.config),
                stdout=log, stderr=log, env=env, cwd=self.config.parent)
        return self

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    async def until_logged(self, text: str, seconds: float = 30) -> str:
        for _ in range(int(seconds / 0.05)):
            if found := [line for line in self.lines() if text in line]:
                return found[0]
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"{text!r} not logged: {self.lines()}")

    async def exit_code(self, seconds: float = 30) -> int:
        return await asyncio.wait_for(self.process.wait(), seconds)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.exit_code(60)


@pytest.fixture
async def launch(config: Path):
    """launch(name, **env) -> a started Server; whatever still runs at the end is killed."""
    started: list[Server] = []

    async def start(name: str, **env: str) -> Server:
        started.append(await Server(config, name, **env).start())
        return started[-1]

    yield start
    for server in started:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()


def settings_of(config: Path) -> tuple[int, Path]:
    import tomllib

    values = tomllib.loads(config.read_text())
    return values["server"]["port"], Path(values["storage"]["path"])


def statuses(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT status FROM messages ORDER BY id")]


async def one_message_in_flight(base: str, provider: Provider) -> None:
    now = datetime.now(timezone.utc)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        assert (await http.post(f"{base}/Clients/", data={"phone_number": "79000000001"})).status == 201
        mailing = {"datetime_start": now.isoformat(), "datetime_end": (now + timedelta(hours=1)).isoformat(),
                   "message_text": "hello"}
        assert (await http.post(f"{base}/Mailing/", json=mailing)).status == 201
    for _ in range(600):
        if provider.requests:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the provider got no request")


async def test_a_second_server_on_the_same_database_exits_naming_the_first_and_changes_nothing(
        launch, config, provider):
    port, db_path = settings_of(config)
    first = await launch("first")
    line = await first.until_logged("serving on")
    assert f"herald.server serving on http://127.0.0.1:{port} version=0.3.0 database={db_path}" in line
    await one_message_in_flight(f"http://127.0.0.1:{port}", provider)
    assert statuses(db_path) == ["sending"]
    lock = json.loads(db_path.with_name("herald.db.lock").read_text())
    assert lock["pid"] == first.process.pid and lock["url"] == f"http://127.0.0.1:{port}"

    elsewhere = await launch("second", HERALD_SERVER__PORT=str(free_port()))
    assert await elsewhere.exit_code() == 1
    [line] = elsewhere.lines()
    assert line.startswith(f"herald: another Herald is serving {db_path} (pid {first.process.pid} on ")
    assert f"http://127.0.0.1:{port} since " in line

    same_port = await launch("third")
    assert await same_port.exit_code() == 1
    [line] = same_port.lines()
    assert line.startswith(f"herald: cannot listen on 127.0.0.1:{port}: address already in use; "
                           f"another Herald is serving {db_path} (pid {first.process.pid} on ")

    assert statuses(db_path) == ["sending"]
    assert len(provider.requests) == 1
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/health")).status == 200

    # kill -9 leaves no lock behind: the next server starts, and it is the one that resends.
    first.process.kill()
    await first.process.wait()
    after = await launch("after")
    await after.until_logged("serving on")
    for _ in range(600):
        if len(provider.requests) == 2:
            break
        await asyncio.sleep(0.05)
    assert [request.id for request in provider.requests] == [1, 1]
    await after.stop()
    assert after.process.returncode == 0
    assert "herald.server stopped" in after.lines()[-1]


@pytest.mark.parametrize(("host", "why"), [("127.0.0.1", "address already in use"),
                                           ("203.0.113.7", "cannot assign requested address")])
async def test_a_bind_error_is_one_line_and_nothing_is_touched(launch, config, host, why):
    port, db_path = settings_of(config)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        server = await launch("bind", HERALD_SERVER__HOST=host)
        assert await server.exit_code() == 1
    assert server.lines() == [f"herald: cannot listen on {host}:{port}: {why}"]
    assert not db_path.exists()


async def test_a_database_that_cannot_be_opened_is_one_line_and_the_process_ends(launch, config):
    _, db_path = settings_of(config)
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not an SQLite database, only some text " * 10)
    server = await launch("garbage")
    assert await server.exit_code() == 1
    assert server.lines() == [f"herald: cannot open the database {db_path}: file is not a database"]

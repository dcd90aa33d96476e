"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, in its own thread, on a free port.

It keeps every message it accepts (parsed with the modern email policy, with its envelope), counts
the connections that greeted it, can refuse the next N transactions with a reply of the test's
choosing (451 by default, for retry tests) and can drop every open connection. It only receives:
it relays nothing and must never be used outside tests.

Use the `smtp_server` fixture (registered in tests/conftest.py), or
`with SmtpTestServer(...) as server:` for a server with options (e.g. required login).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, try again later"


@dataclass(frozen=True)
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes  # as it came over the wire, CRLF line ends

    def body(self, subtype: str = "plain") -> str:
        """The text of the message's text/<subtype> part ('plain' or 'html')."""
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_subtype() != subtype:
            raise AssertionError(f"no text/{subtype} part in {self.message['Subject']!r}")
        return part.get_content()


class _Handler:
    """aiosmtpd's hooks; runs in the server's thread, so shared state is behind a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedEmail] = []
        self.sessions: list[Session] = []
        self.servers: list[SMTP] = []
        self.failures_left = 0
        self.failure_reply = TEMPORARY_FAILURE

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list:
        session.host_name = hostname
        self._greeted(server, session)
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        session.host_name = hostname
        self._greeted(server, session)
        return f"250 {server.hostname}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                return self.failure_reply
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            # As a mail client would show it: SMTP's CRLF line ends become Python's "\n".
            message = email.message_from_bytes(
                raw.replace(b"\r\n", b"\n"), policy=email.policy.default
            )
            assert isinstance(message, EmailMessage)
            self.received.append(
                ReceivedEmail(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                    raw=raw,
                )
            )
        return "250 2.0.0 OK"

    def _greeted(self, server: SMTP, session: Session) -> None:
        with self.lock:
            # A session is one connection; STARTTLS greets twice on the same one.
            if not any(known is session for known in self.sessions):
                self.sessions.append(session)
                self.servers.append(server)


class _Authenticator:
    def __init__(self, credentials: dict[str, str]) -> None:
        self.credentials = credentials

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        return AuthResult(success=self.credentials.get(login) == password, handled=False)


class SmtpTestServer:
    """One aiosmtpd server; `start()`/`stop()` or use it as a context manager."""

    host = "127.0.0.1"

    def __init__(self, credentials: dict[str, str] | None = None) -> None:
        self._handler = _Handler()
        self._credentials = credentials
        self._controller: Controller | None = None
        self.port = 0

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> SmtpTestServer:
        for _ in range(5):
            self.port = free_port(self.host)
            self._controller = Controller(self._handler, **self._controller_options())
            try:
                self._controller.start()
                return self
            except OSError:  # another process took the port between probe and bind
                continue
        raise RuntimeError("could not start the test SMTP server on a free port")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _controller_options(self) -> dict:
        options: dict = {"hostname": self.host, "port": self.port, "server_hostname": "localhost"}
        if self._credentials is not None:
            options.update(
                authenticator=_Authenticator(self._credentials),
                auth_required=True,
                auth_require_tls=False,
            )
        return options

    # -- what arrived -----------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedEmail]:
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def connection_count(self) -> int:
        """Connections that said EHLO/HELO (aiosmtpd's own start-up probe does not)."""
        with self._handler.lock:
            return len(self._handler.sessions)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedEmail]:
        """All messages once at least `count` have arrived; AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while len(received := self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(received)} of {count} emails arrived in {timeout} s")
            await asyncio.sleep(0.01)
        return received

    # -- misbehaving on purpose -------------------------------------------------------------

    def fail_next(self, transactions: int, reply: str = TEMPORARY_FAILURE) -> None:
        """Answer the DATA of the next `transactions` mail transactions with `reply`."""
        with self._handler.lock:
            self._handler.failures_left = transactions
            self._handler.failure_reply = reply

    def drop_connections(self) -> None:
        """Close every client connection from the server's side, as an idle timeout would."""
        assert self._controller is not None, "server is not running"
        with self._handler.lock:
            transports = [srv.transport for srv in self._handler.servers if srv.transport]
        done = threading.Event()

        def close_all() -> None:
            for transport in transports:
                transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """A running SmtpTestServer on 127.0.0.1, stopped after the test."""
    with SmtpTestServer() as server:
        yield server

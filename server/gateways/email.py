"""The email gateway: build messages (pure) and hand them to SMTP or to an outbox folder (I/O).

`build_email` only assembles an `EmailMessage`; it opens no connection and reads no settings.
It is the one builder of every email Herald sends (subscription emails, the daily report): its
headers are folded here and its parts are base64, a sixth of the CPU of the email package's own
set_content path, which is what lets the outbox reach 500 emails/s.
`EmailSender` only delivers finished messages: it does not render templates, pick recipients or
retry; it says whether a failure is worth retrying (`EmailError.temporary`) and leaves the retry
to its caller. Nothing here may put the SMTP password into an error or a log line.

The `file` transport (development) logs each email's file, subject and the links of its text, so
that a confirm link is one grep away; those links are capabilities, but the file holds them too.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import logging
import random
import re
import socket
import time
import uuid
from datetime import datetime
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, MIMEPart
from email.policy import Policy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path

import aiosmtplib

from server.settings import SmtpSettings
from server.timeutil import UTC, utc_now

log = logging.getLogger("herald.email")

# A pooled connection idle for longer than this is probed with NOOP before it carries a message:
# servers drop idle clients (often after 60-300 s) without the client noticing at once.
IDLE_PROBE_SECONDS = 30.0
QUIT_SECONDS = 2.0


class EmailError(Exception):
    """An email could not be handed over; `temporary` says a later attempt may succeed."""

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


# ---------------------------------------------------------------------------------------------
# Pure: building messages


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib registry makes a new class for every header it sets; this makes each once.

    The policy asks it on every header set (to count how many of a kind a message may have):
    without this, that class-making is over half of build_email's time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]


POLICY = email.policy.default.clone(header_factory=_CachedHeaderRegistry())

# SMTP's limit for one line, header name included (RFC 5322 2.1.1), and the folding target.
MAX_LINE = 998
FOLD_AT = 78
# UTF-8 bytes per RFC 2047 encoded word, so that "Subject: " and one word fit in FOLD_AT.
WORD_BYTES = 39
ONE_CLICK = "List-Unsubscribe=One-Click"


class FoldedHeader(str):
    """A header value that is already folded for the wire: written as given, never re-parsed.

    The email package parses every header it is given and refolds it when the message is sent;
    that is four fifths of the CPU of an email (bench/subscription_emails.py). It would also turn
    a long List-Unsubscribe URL into RFC 2047 encoded words, which mail clients do not undo there
    (RFC 2369 wants the bare <URL>). The policy stores a value that has a `name` as it is and
    calls its `fold()` when writing. As a str it is the unfolded value; `lines` are the folded
    lines (continuations start with a space); what else the email package's header would have
    (`.datetime`, `.addresses`) is parsed when it is asked for.
    """

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, *lines: str) -> FoldedHeader:
        value = "".join(lines)
        if not value.isascii() or "\r" in value or "\n" in value:
            raise ValueError(f"{name} must be ASCII without line breaks")
        if len(name) + 2 + max(map(len, lines)) > MAX_LINE:
            raise ValueError(f"{name} is longer than an SMTP line may be")
        header = super().__new__(cls, value)
        header.name, header.lines = name, lines
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {policy.linesep.join(self.lines)}{policy.linesep}"

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(POLICY.header_factory(self.name, str(self)), attribute)


def build_email(
    *,
    sender: str,
    to: list[str] | str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    unsubscribe_link: str | None = None,
    message_id: int | None = None,
) -> EmailMessage:
    """A ready-to-send message: text/plain, or multipart/alternative (text, then HTML) when `html`
    is given; bodies in base64, headers folded here (an address that is not plain ASCII is left to
    the email package, which encodes it). `unsubscribe_link` adds RFC 8058's one-click headers.
    `message_id`, the message's id in the log, makes the Message-ID `<herald-message-{id}@domain>`:
    a resend after a crash carries the same one, so mail clients can drop the duplicate.

    Raises ValueError for a header value with a line break (no header injection) or no recipient.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    for name, value in (("From", sender), ("To", "".join(recipients)), ("Subject", subject)):
        if "\r" in value or "\n" in value:
            raise ValueError(f"{name} must not contain line breaks")
    domain = _domain_of(sender)
    message = EmailMessage(policy=POLICY)
    message["From"] = _from_header(sender)
    if all(map(_plain_address, recipients)):
        message["To"] = FoldedHeader("To", *(f"{' ' if i else ''}{address}{',' if i < len(recipients) - 1 else ''}"
                                             for i, address in enumerate(recipients)))
    else:
        message["To"] = ", ".join(recipients)
    for header in (
        FoldedHeader("Subject", *_encoded_words(subject)),
        FoldedHeader("Date", format_datetime(utc_now())),
        FoldedHeader("Message-ID", f"<herald-message-{message_id}@{domain}>" if message_id is not None
                     else make_msgid(domain=domain)),
        *(FoldedHeader(name, value) for name, value in (headers or {}).items()),
        *((FoldedHeader("List-Unsubscribe", f"<{unsubscribe_link}>"), FoldedHeader("List-Unsubscribe-Post", ONE_CLICK))
          if unsubscribe_link is not None else ()),
        FoldedHeader("MIME-Version", "1.0"),
    ):
        message[header.name] = header
    if html is None:
        _set_text(message, "plain", text)
    else:
        boundary = f"==herald-{random.getrandbits(64):016x}"  # '-' is not base64: no part has it
        message["Content-Type"] = FoldedHeader("Content-Type", "multipart/alternative;", f' boundary="{boundary}"')
        message.set_payload([_text_part("plain", text), _text_part("html", html)])
    return message


def _plain_address(address: str) -> bool:
    return address.isascii() and address.count("@") == 1 and not any(c in address for c in ' \r\n<>,;"')


def _text_part(subtype: str, body: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    _set_text(part, subtype, body)
    return part


def _set_text(part: MIMEPart, subtype: str, body: str) -> None:
    """The body as the email package's set_content leaves it (ending in a line break), in base64."""
    part["Content-Type"] = FoldedHeader("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = FoldedHeader("Content-Transfer-Encoding", "base64")
    encoded = base64.b64encode(body.encode() if body.endswith("\n") else f"{body}\n".encode()).decode("ascii")
    part.set_payload("".join(f"{encoded[i:i + 76]}\n" for i in range(0, len(encoded), 76)))


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 base64 words of whole UTF-8 characters, one per folded line; ASCII as it is."""
    if text.isascii() and len(text) + len("Subject: ") <= FOLD_AT:
        return [text]
    data = text.encode()
    words, start = [], 0
    while start < len(data):
        end = min(start + WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        word = base64.b64encode(data[start:end]).decode("ascii")
        words.append(f"{' ' if words else ''}=?utf-8?b?{word}?=")
        start = end
    return words


@lru_cache(maxsize=8)
def _from_header(sender: str) -> FoldedHeader:
    # The sender is a setting: folded once by the email package itself, whatever it contains.
    folded = POLICY.header_factory("From", sender).fold(policy=email.policy.SMTP)
    return FoldedHeader("From", *folded.removeprefix("From: ").split("\r\n")[:-1])


@lru_cache(maxsize=8)
def _domain_of(address: str) -> str:
    # make_msgid() would otherwise ask the resolver for this host's name on every call.
    _, at, domain = parseaddr(address)[1].rpartition("@")
    return domain if at and domain else "localhost"


_LINK = re.compile(r"""https?://[^\s<>"']+""")


def links_in(message: EmailMessage) -> list[str]:
    """The http(s) URLs of the message's text part, each once, in order."""
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return list(dict.fromkeys(link.rstrip(".,;:!?)]") for link in _LINK.findall(text)))


def outbox_file_name(moment: datetime) -> str:
    """`<utc timestamp>-<uuid>.eml`: names sort by time and never collide."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{uuid.uuid4().hex}.eml"


def is_temporary_reply(code: int) -> bool:
    return 400 <= code < 500


def describe_smtp_failure(exc: Exception) -> tuple[str, bool]:
    """(what went wrong, whether it is temporary) for an exception raised while talking SMTP."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        replies = [(refused.recipient, refused.code, refused.message) for refused in exc.recipients]
        text = "; ".join(f"{rcpt}: {code} {reply}" for rcpt, code, reply in replies)
        return f"all recipients refused ({text})", all(is_temporary_reply(r[1]) for r in replies)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"server replied {exc.code} {exc.message}", is_temporary_reply(exc.code)
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return f"timed out ({exc})", True
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError)):
        return f"connection failed ({exc})", True
    return f"{type(exc).__name__}: {exc}", False


# ---------------------------------------------------------------------------------------------
# I/O: delivering messages


class EmailSender:
    """Delivers messages over SMTP (through a small pool of reused connections) or to files."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._pool: _SmtpPool | None = None

    @property
    def from_address(self) -> str:
        return self.settings.from_address

    async def start(self) -> None:
        if self.settings.transport == "file":
            outbox = self.settings.outbox_dir
            try:
                await asyncio.to_thread(outbox.mkdir, parents=True, exist_ok=True)
            except OSError as exc:
                raise EmailError(f"cannot create outbox {outbox}: {exc.strerror or exc}") from None
        else:
            local_hostname = await asyncio.to_thread(socket.getfqdn)
            self._pool = _SmtpPool(self.settings, local_hostname)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def send(self, message: EmailMessage) -> None:
        """Hand `message` over to its recipients (From/To/Cc/Bcc headers). Raises EmailError."""
        if self.settings.transport == "file":
            await self._write_to_outbox(message)
            return
        if self._pool is None:
            raise EmailError("the email sender is not started")
        await self._pool.send(message)

    async def _write_to_outbox(self, message: EmailMessage) -> None:
        path = self.settings.outbox_dir / outbox_file_name(utc_now())
        try:
            await asyncio.to_thread(_write_atomically, path, bytes(message))
        except OSError as exc:
            raise EmailError(f"cannot write email to {path}: {exc.strerror or exc}") from None
        links = " ".join(links_in(message)) or "none"
        subject = str(make_header(decode_header(message["Subject"] or "")))
        log.info('email written to %s, subject "%s", links: %s', path, subject, links)


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader of the outbox never sees half a message: write aside, then rename into place.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".eml.partial")
    partial.write_bytes(data)
    partial.replace(path)


class _PooledConnection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.idle_since = time.monotonic()

    @property
    def usable(self) -> bool:
        return self.client.is_connected


class _SmtpPool:
    """Up to `pool_size` SMTP connections, each carrying one message at a time, reused."""

    def __init__(self, settings: SmtpSettings, local_hostname: str) -> None:
        self._settings = settings
        self._local_hostname = local_hostname
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._idle: list[_PooledConnection] = []
        self._closed = False

    async def send(self, message: EmailMessage) -> None:
        async with self._slots:
            while True:
                connection, reused = await self._take()
                try:
                    await self._transmit(connection, message)
                except _DROPPED as exc:
                    if reused:
                        # The server closed it while it sat in the pool; its siblings most
                        # likely went the same way. Retry on a fresh connection.
                        self._discard_idle()
                        continue
                    raise self._error(message, exc) from None
                except Exception as exc:  # noqa: BLE001 - every failure becomes an EmailError
                    self._give_back(connection)
                    raise self._error(message, exc) from None
                self._give_back(connection)
                return

    async def close(self) -> None:
        """Quit the idle connections; those still carrying a message close when it is done."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit_quietly(connection.client) for connection in idle))

    def _discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.client.close()

    async def _take(self) -> tuple[_PooledConnection, bool]:
        """(a connection, whether it was reused from the pool)."""
        while self._idle:
            connection = self._idle.pop()
            try:
                alive = await self._still_alive(connection)
            except BaseException:
                connection.client.close()
                raise
            if alive:
                return connection, True
            connection.client.close()
        return await self._connect(), False

    async def _still_alive(self, connection: _PooledConnection) -> bool:
        if not connection.usable:
            return False
        if time.monotonic() - connection.idle_since < IDLE_PROBE_SECONDS:
            return True
        try:
            await connection.client.noop()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            return False
        return True

    def _give_back(self, connection: _PooledConnection) -> None:
        if self._closed:
            connection.client.close()
        elif connection.usable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)

    async def _connect(self) -> _PooledConnection:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password or None,
            local_hostname=self._local_hostname,
            timeout=settings.timeout_seconds,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
        )
        try:
            await client.connect()
        except Exception as exc:  # noqa: BLE001 - every failure becomes an EmailError
            what, temporary = describe_smtp_failure(exc)
            text = f"SMTP connect to {settings.host}:{settings.port}: {what}"
            raise EmailError(self._redact(text), temporary=temporary) from None
        return _PooledConnection(client)

    async def _transmit(self, connection: _PooledConnection, message: EmailMessage) -> None:
        """One mail transaction; raises aiosmtplib's errors as they are."""
        try:
            refused, _ = await connection.client.send_message(message)
        except _SERVER_SAID_NO:
            raise  # the client already reset the envelope: the connection stays usable
        except BaseException:
            connection.client.close()  # its state is unknown (timeout, drop, cancellation)
            raise
        if refused:
            # Accepted for the others: failing now would make a retry send them a duplicate.
            replies = "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in refused.items())
            log.warning("email %s refused for some recipients: %s", message["Message-ID"], replies)

    def _error(self, message: EmailMessage, exc: Exception) -> EmailError:
        what, temporary = describe_smtp_failure(exc)
        where = f"{self._settings.host}:{self._settings.port}"
        text = f"SMTP send of {message['Message-ID']} to {where}: {what}"
        return EmailError(self._redact(text), temporary=temporary)

    def _redact(self, text: str) -> str:
        password = self._settings.password
        return text.replace(password, "***") if password else text


_DROPPED = (aiosmtplib.SMTPServerDisconnected, ConnectionError)
_SERVER_SAID_NO = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)


async def _quit_quietly(client: aiosmtplib.SMTP) -> None:
    """QUIT politely, but never hold a shutdown up for long on a server that stopped answering."""
    try:
        if client.is_connected:
            await client.quit(timeout=QUIT_SECONDS)
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        pass
    finally:
        client.close()

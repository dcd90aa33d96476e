"""server/gateways/email.py: message shapes, and delivery to a real aiosmtpd server or to files."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest

from server.gateways.email import EmailError, EmailSender, build_email
from server.settings import SmtpSettings
from tests.smtp_server import SmtpTestServer, free_port

SENDER = "Herald <herald@example.org>"
# aiosmtpd warns about login over plain TCP; these tests do that on purpose, on 127.0.0.1.
plain_login = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def smtp_settings(server: SmtpTestServer | None = None, **overrides) -> SmtpSettings:
    values = {"transport": "smtp", "host": "127.0.0.1", "timeout_seconds": 5, "pool_size": 2}
    if server is not None:
        values["port"] = server.port
    return SmtpSettings(**{**values, **overrides})


@asynccontextmanager
async def running(settings: SmtpSettings) -> AsyncIterator[EmailSender]:
    sender = EmailSender(settings)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


def letter(subject: str = "Hello", text: str = "Body") -> EmailMessage:
    return build_email(sender=SENDER, to="anna@example.com", subject=subject, text=text)


# -- build_email -----------------------------------------------------------------------------------


def test_text_only_email_is_a_single_plain_part_with_date_and_message_id():
    message = build_email(sender=SENDER, to="anna@example.com", subject="Hi", text="Just text")

    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Just text\n"
    assert message["From"] == SENDER
    assert message["To"] == "anna@example.com"
    assert message["Date"].datetime is not None
    assert re.fullmatch(r"<[^@<>]+@example\.org>", message["Message-ID"])


def test_html_email_is_multipart_alternative_with_text_first_and_extra_headers():
    message = build_email(
        sender=SENDER,
        to=["anna@example.com", "boris@example.com"],
        subject="Prices",
        text="plain version",
        html="<p>html version</p>",
        headers={"List-Unsubscribe": "<https://herald.example/unsubscribe/abc>"},
    )

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "plain version\n"
    assert parts[1].get_content() == "<p>html version</p>\n"
    assert [a.addr_spec for a in message["To"].addresses] == [
        "anna@example.com",
        "boris@example.com",
    ]
    assert message["List-Unsubscribe"] == "<https://herald.example/unsubscribe/abc>"


def test_utf8_subject_and_bodies_survive_serialisation():
    message = build_email(
        sender=SENDER,
        to="anna@example.com",
        subject="Ежедневный отчёт: рассылки",
        text="Привет, Анна! Цена снизилась.",
        html="<p>Привет, <b>Анна</b>!</p>",
    )

    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)

    assert parsed["Subject"] == "Ежедневный отчёт: рассылки"
    assert parsed.get_body(("plain",)).get_content() == "Привет, Анна! Цена снизилась.\n"
    assert parsed.get_body(("html",)).get_content() == "<p>Привет, <b>Анна</b>!</p>\n"


def test_header_values_with_line_breaks_are_refused():
    with pytest.raises(ValueError):
        build_email(sender=SENDER, to="a@example.com", subject="Hi\r\nBcc: x@evil.test", text="t")


def test_an_email_needs_a_recipient():
    with pytest.raises(ValueError):
        build_email(sender=SENDER, to=[], subject="Hi", text="t")


# -- EmailSender over SMTP -------------------------------------------------------------------------


async def test_smtp_delivers_the_message_with_its_envelope_and_body(smtp_server):
    message = build_email(
        sender=SENDER,
        to=["anna@example.com", "boris@example.com"],
        subject="Снижение цены",
        text="Цена: 100 ₽",
        html="<p>Цена: <b>100 ₽</b></p>",
    )
    async with running(smtp_settings(smtp_server)) as sender:
        await sender.send(message)

    [received] = await smtp_server.wait_for(1)
    assert received.mail_from == "herald@example.org"
    assert sorted(received.rcpt_tos) == ["anna@example.com", "boris@example.com"]
    assert received.message["Subject"] == "Снижение цены"
    assert received.message["Message-ID"] == message["Message-ID"]
    assert received.body("plain") == "Цена: 100 ₽\n"
    assert received.body("html") == "<p>Цена: <b>100 ₽</b></p>\n"


async def test_sequential_sends_reuse_one_connection(smtp_server):
    async with running(smtp_settings(smtp_server)) as sender:
        for number in range(10):
            await sender.send(letter(subject=f"n{number}"))

    received = await smtp_server.wait_for(10)
    assert [r.message["Subject"] for r in received] == [f"n{number}" for number in range(10)]
    assert smtp_server.connection_count == 1


async def test_concurrent_sends_share_at_most_pool_size_connections(smtp_server):
    async with running(smtp_settings(smtp_server, pool_size=3)) as sender:
        await asyncio.gather(*(sender.send(letter(subject=f"c{n}")) for n in range(60)))

    received = await smtp_server.wait_for(60)
    assert sorted(r.message["Subject"] for r in received) == sorted(f"c{n}" for n in range(60))
    assert 1 <= smtp_server.connection_count <= 3


# No pause: the client learns of the drop only when its next command fails (the retry path).
# A pause: the client has seen the connection close before it takes it from the pool.
@pytest.mark.parametrize("pause", [0, 0.2])
async def test_a_pooled_connection_dropped_by_the_server_is_replaced(smtp_server, pause):
    async with running(smtp_settings(smtp_server)) as sender:
        await sender.send(letter(subject="before"))
        smtp_server.drop_connections()
        await asyncio.sleep(pause)
        await sender.send(letter(subject="after"))

    received = await smtp_server.wait_for(2)
    assert [r.message["Subject"] for r in received] == ["before", "after"]
    assert smtp_server.connection_count == 2


async def test_a_451_reply_is_a_temporary_error_and_the_connection_stays_usable(smtp_server):
    smtp_server.fail_next(1)
    async with running(smtp_settings(smtp_server)) as sender:
        with pytest.raises(EmailError) as failure:
            await sender.send(letter(subject="refused"))
        await sender.send(letter(subject="accepted"))

    assert failure.value.temporary is True
    assert "451" in str(failure.value)
    received = await smtp_server.wait_for(1)
    assert [r.message["Subject"] for r in received] == ["accepted"]
    assert smtp_server.connection_count == 1


async def test_a_5xx_reply_is_a_permanent_error(smtp_server):
    smtp_server.fail_next(1, reply="554 5.7.1 Message rejected")
    async with running(smtp_settings(smtp_server)) as sender:
        with pytest.raises(EmailError) as failure:
            await sender.send(letter())

    assert failure.value.temporary is False
    assert "554" in str(failure.value)
    assert smtp_server.received == []


async def test_an_unreachable_server_is_a_temporary_error_naming_the_address():
    port = free_port()  # nothing listens there
    async with running(smtp_settings(port=port)) as sender:
        with pytest.raises(EmailError) as failure:
            await sender.send(letter())

    assert failure.value.temporary is True
    assert f"127.0.0.1:{port}" in str(failure.value)


async def test_a_server_that_never_answers_times_out_as_a_temporary_error():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running(smtp_settings(port=port, timeout_seconds=0.3)) as sender:
            with pytest.raises(EmailError) as failure:
                await asyncio.wait_for(sender.send(letter()), timeout=5)
    finally:
        server.close()

    assert failure.value.temporary is True
    assert "timed out" in str(failure.value)


@plain_login
async def test_login_with_the_configured_credentials():
    with SmtpTestServer(credentials={"herald": "s3cret-pass"}) as server:
        settings = smtp_settings(server, username="herald", password="s3cret-pass")
        async with running(settings) as sender:
            await sender.send(letter(subject="authenticated"))
        received = await server.wait_for(1)

    assert received[0].message["Subject"] == "authenticated"


@plain_login
async def test_a_wrong_password_is_a_permanent_error_that_does_not_show_the_password():
    with SmtpTestServer(credentials={"herald": "right-pass"}) as server:
        settings = smtp_settings(server, username="herald", password="wrong-pass-123")
        async with running(settings) as sender:
            with pytest.raises(EmailError) as failure:
                await sender.send(letter())
        assert server.received == []

    assert failure.value.temporary is False
    assert "535" in str(failure.value)
    assert "wrong-pass-123" not in str(failure.value)


async def test_sending_before_start_is_an_error(smtp_server):
    sender = EmailSender(smtp_settings(smtp_server))
    with pytest.raises(EmailError):
        await sender.send(letter())


# -- EmailSender to files --------------------------------------------------------------------------


async def test_file_transport_writes_each_message_as_a_parseable_eml(tmp_path: Path):
    outbox = tmp_path / "not" / "yet" / "there"
    settings = SmtpSettings(transport="file", outbox_dir=outbox)
    async with running(settings) as sender:
        await sender.send(letter(subject="Первое письмо", text="Текст"))
        await sender.send(letter(subject="second"))

    files = sorted(outbox.iterdir())
    assert len(files) == 2
    for path in files:
        assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{32}\.eml", path.name)
    subjects = set()
    for path in files:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects.add(parsed["Subject"])
        if parsed["Subject"] == "Первое письмо":
            assert parsed.get_content() == "Текст\n"
    assert subjects == {"Первое письмо", "second"}


@pytest.mark.parametrize("one_click", [False, True], ids=["plain", "one_click"])
async def test_file_transport_logs_the_file_the_subject_and_the_links_of_the_text(tmp_path: Path, caplog, one_click):
    """So that the confirm link of a base64 .eml is one grep away (README, "First requests")."""
    confirm = "http://127.0.0.1:8080/email_subscription/v1.0/confirm/page?id=5a57&s=ba78"
    text = (f"Подтвердите подписку:\n\n{confirm}\n\nОтписаться (<https://example.org/unsubscribe?id=5a57>).\n"
            f"Ещё раз: {confirm}.\n")
    parts = {"sender": SENDER, "to": "anna@example.com", "subject": "Подтвердите подписку на изменения цен",
             "text": text, "html": '<a href="http://only.in/html">x</a>'}
    if one_click:  # subscription emails: with the RFC 8058 headers
        parts["unsubscribe_link"] = "https://example.org/unsubscribe?id=5a57"
    message = build_email(**parts)
    with caplog.at_level("INFO", logger="herald.email"):
        async with running(SmtpSettings(transport="file", outbox_dir=tmp_path)) as sender:
            await sender.send(message)

    [path] = tmp_path.iterdir()
    [line] = [r.getMessage() for r in caplog.records if r.name == "herald.email"]
    assert line == (f'email written to {path}, subject "Подтвердите подписку на изменения цен", '
                    f"links: {confirm} https://example.org/unsubscribe?id=5a57")
    assert re.findall(r'http[^ "]*/confirm/page\?[^ "]*', line) == [confirm]  # the README's grep


def test_the_message_id_from_the_log_gives_every_attempt_one_message_id():
    """A resend after a crash carries the first attempt's Message-ID, so mail clients drop the duplicate."""
    attempts = [build_email(sender=SENDER, to="anna@example.com", subject="Hi", text="t", html="<p>t</p>",
                            unsubscribe_link="https://example.org/u?id=1", message_id=42) for _ in range(2)]
    parsed = [email.message_from_bytes(bytes(m), policy=email.policy.default) for m in attempts]
    assert [m["Message-ID"] for m in parsed] == ["<herald-message-42@example.org>"] * 2
    without = [build_email(sender=SENDER, to="anna@example.com", subject="Hi", text="t") for _ in range(2)]
    assert without[0]["Message-ID"] != without[1]["Message-ID"]

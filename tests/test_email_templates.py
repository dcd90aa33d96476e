"""jobs/email_templates.py: both subscription emails rendered from their payloads, sent to a real
aiosmtpd server and read back as a mail client would (headers decoded, parts parsed, HTML links).
"""

from __future__ import annotations

import copy
from html.parser import HTMLParser

import pytest

from jobs.email_templates import EmailRenderError, money, render, render_email
from server.gateways.email import EmailSender
from server.settings import SmtpSettings
from tests.smtp_server import ReceivedEmail, SmtpTestServer

SENDER = "Herald <herald@example.com>"
NBSP = "\u00a0"
BASE = "https://herald.example.com/email_subscription/v1.0"
ID = "54f62277-efdb-4839-a3e2-bcfad309c7e5"
TRIP = "c213_c2_2018-05-12_2018-05-15_economy_1_0_0_ru"
# The links a reader clicks open pages; List-Unsubscribe names the API route (RFC 8058 POSTs to it).
UNSUBSCRIBE_DIRECTION = f"{BASE}/unsubscribe/by_direction/page?id={ID}&qkey={TRIP}"
ONE_CLICK_DIRECTION = f"{BASE}/unsubscribe/by_direction?id={ID}&qkey={TRIP}"
CONFIRMATION = {
    "kind": "confirmation", "to": "anna@example.com", "subscriber_id": ID,
    "confirm_link": f"{BASE}/confirm/page?id={ID}&s=5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "unsubscribe_link": f"{BASE}/unsubscribe/page?id={ID}",
    "list_unsubscribe": f"{BASE}/unsubscribe?id={ID}",
}
LEG = {"departure_time": "12:00", "arrival_time": "13:10", "departure_date": "15.02", "arrival_date": "15.02",
       "airlines": "Уральские Авиалинии, Победа", "airlines_count": 2,
       "airline_avatar": "https://avatars.example.com/u6/orig", "connections": "2 пересадки"}
BACK = {**LEG, "departure_time": "21:05", "arrival_time": "23:50", "departure_date": "18.02",
        "arrival_date": "18.02", "airlines": "Аэрофлот", "airlines_count": 1, "airline_avatar": None,
        "connections": "прямой"}
CONTENT = {  # the seed's example, with every link and section filled in
    "diff": -123.5, "point_from": "Сансара", "point_to": "Нирвана",
    "date_forward": "12 мая", "date_backward": "15 мая",
    "price": 200.12, "currency": "EUR", "old_price": 323.62, "old_currency": "EUR",
    "unsubscribe_by_direction_link": UNSUBSCRIBE_DIRECTION,
    "avia_search_link": "https://avia.example.com/search/?from=c213&to=c2",
    "calendar_link": "https://avia.example.com/calendar/?from=c213&to=c2",
    "min_price_variant_data": {"forward": LEG, "backward": BACK, "price": 200.12, "currency": "EUR",
                               "order_link": "https://avia.example.com/order/?v=1&t=2"},
    "popular_section_variants_data": {"variants": [
        {"title": "Москва — Казань", "price": 3100, "currency": "RUR", "forward": LEG,
         "order_link": "https://avia.example.com/order/?v=kzn"}]},
    "other_data": {"min_price_variant_data": {"price": 180, "currency": "EUR", "forward": LEG,
                                              "order_link": "https://avia.example.com/order/?v=nofilter"}},
}
PRICE_CHANGE = {"kind": "price_change", "to": "anna@example.com", "subscriber_id": ID,
                "subscription_id": 7, "price": 200.12, "currency": "EUR",
                "list_unsubscribe": ONE_CLICK_DIRECTION, "content": CONTENT}


def price_change(**content) -> dict:
    payload = copy.deepcopy(PRICE_CHANGE)
    payload["content"].update(content)
    return payload


class Page(HTMLParser):
    """The links of an HTML part (class -> hrefs) and its visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: dict[str, list[str]] = {}
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            self.links.setdefault(attributes.get("class") or "", []).append(attributes["href"])

    def handle_data(self, data: str) -> None:
        self.text += data


async def deliver(server: SmtpTestServer, payload: dict, from_address: str = SENDER) -> ReceivedEmail:
    sender = EmailSender(SmtpSettings(transport="smtp", host=server.host, port=server.port, timeout_seconds=5))
    await sender.start()
    try:
        await sender.send(render_email(payload, sender=from_address))
    finally:
        await sender.close()
    [received] = await server.wait_for(1)
    return received


def raw_header_lines(received: ReceivedEmail, name: str) -> list[bytes]:
    """The header as it crossed the wire: its first line and any continuation lines."""
    head = received.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(head) if line.lower().startswith(name.lower().encode() + b":"))
    lines = [head[start]]
    for line in head[start + 1:]:
        if not line.startswith((b" ", b"\t")):
            break
        lines.append(line)
    return lines


# -- the confirmation ----------------------------------------------------------------------------


async def test_confirmation_has_html_and_text_with_the_confirm_and_unsubscribe_links(smtp_server):
    received = await deliver(smtp_server, CONFIRMATION)

    assert received.rcpt_tos == ["anna@example.com"]
    assert received.message["Subject"] == "Подтвердите подписку на изменения цен"
    assert received.message.get_content_type() == "multipart/alternative"
    page = Page(received.body("html"))
    assert page.links["confirm"] == [CONFIRMATION["confirm_link"]]
    assert page.links["unsubscribe"] == [CONFIRMATION["unsubscribe_link"]]
    text = received.body("plain")
    assert CONFIRMATION["confirm_link"] in text and CONFIRMATION["unsubscribe_link"] in text


async def test_every_email_has_one_click_unsubscribe_headers_on_the_wire(smtp_server):
    received = await deliver(smtp_server, CONFIRMATION)

    assert received.message["List-Unsubscribe"] == f"<{CONFIRMATION['list_unsubscribe']}>"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Not RFC 2047-encoded and not broken up: mail clients read the bare <URL> (RFC 2369).
    assert raw_header_lines(received, "List-Unsubscribe") == [
        f"List-Unsubscribe: <{CONFIRMATION['list_unsubscribe']}>".encode()]


@pytest.mark.parametrize("payload,one_click,body_link", [
    (CONFIRMATION, CONFIRMATION["list_unsubscribe"], CONFIRMATION["unsubscribe_link"]),
    (PRICE_CHANGE, ONE_CLICK_DIRECTION, UNSUBSCRIBE_DIRECTION),
])
def test_list_unsubscribe_names_the_one_click_route_and_the_body_the_page(payload, one_click, body_link):
    rendered = render(payload)
    assert rendered.unsubscribe_link == one_click
    assert Page(rendered.html).links["unsubscribe"] == [body_link] and one_click not in rendered.text
    # An email queued before `list_unsubscribe` existed keeps its one link in both places.
    older = render({key: value for key, value in payload.items() if key != "list_unsubscribe"})
    assert older.unsubscribe_link == body_link


# -- the price change ------------------------------------------------------------------------------


async def test_price_change_shows_the_route_dates_prices_and_change(smtp_server):
    received = await deliver(smtp_server, PRICE_CHANGE)

    assert received.message["Subject"] == f"Сансара — Нирвана: цена снизилась до 200,12{NBSP}€"
    text = received.body("plain")
    assert "Сансара — Нирвана" in text
    assert "Туда 12 мая, обратно 15 мая" in text
    assert f"Цена снизилась на 123,50{NBSP}€." in text
    assert f"Сейчас: 200,12{NBSP}€" in text and f"Было: 323,62{NBSP}€" in text
    page = Page(received.body("html"))
    assert "12 мая – 15 мая" in page.text
    assert f"Цена снизилась на 123,50{NBSP}€" in page.text
    assert f"200,12{NBSP}€" in page.text and f"323,62{NBSP}€" in page.text


async def test_price_change_has_every_link_of_the_content(smtp_server):
    received = await deliver(smtp_server, PRICE_CHANGE)

    links = Page(received.body("html")).links
    assert links["search"] == [CONTENT["avia_search_link"]]
    assert links["calendar"] == [CONTENT["calendar_link"]]
    assert links["unsubscribe"] == [UNSUBSCRIBE_DIRECTION]
    assert links["order"] == ["https://avia.example.com/order/?v=1&t=2",     # the cheapest variant
                              "https://avia.example.com/order/?v=kzn",       # popular
                              "https://avia.example.com/order/?v=nofilter"]  # other data
    text = received.body("plain")
    for link in (CONTENT["avia_search_link"], CONTENT["calendar_link"], UNSUBSCRIBE_DIRECTION,
                 "https://avia.example.com/order/?v=1&t=2", "https://avia.example.com/order/?v=kzn"):
        assert link in text
    assert received.message["List-Unsubscribe"] == f"<{ONE_CLICK_DIRECTION}>"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_price_change_shows_the_min_price_variant_legs_and_sections(smtp_server):
    received = await deliver(smtp_server, PRICE_CHANGE)

    text = received.body("plain")
    assert f"Самый дешёвый вариант — 200,12{NBSP}€" in text
    assert "Туда: 15.02 12:00 → 15.02 13:10, Уральские Авиалинии, Победа, 2 пересадки" in text
    assert "Обратно: 18.02 21:05 → 18.02 23:50, Аэрофлот, прямой" in text
    assert f"Популярные направления\n\nМосква — Казань — 3{NBSP}100{NBSP}₽" in text
    assert f"Без учёта фильтров — 180{NBSP}€" in text
    html = received.body("html")
    page = Page(html)
    assert "Уральские Авиалинии, Победа · 2 пересадки" in page.text and "Аэрофлот · прямой" in page.text
    assert "Популярные направления" in page.text and "Без учёта фильтров" in page.text
    assert 'src="https://avatars.example.com/u6/orig"' in html


def test_one_way_without_sections_or_links_shows_what_there_is():
    payload = price_change(diff=50, price=250.12, date_backward=None, avia_search_link=None, calendar_link=None,
                           min_price_variant_data={"forward": {}, "backward": {}, "price": 250.12,
                                                   "currency": "EUR", "order_link": None},
                           popular_section_variants_data={}, other_data={})
    del payload["content"]["date_backward"]

    rendered = render(payload)

    assert rendered.subject == f"Сансара — Нирвана: цена выросла до 250,12{NBSP}€"
    assert "12 мая, в одну сторону" in rendered.text and "обратно" not in rendered.text.lower()
    assert f"Цена выросла на 50{NBSP}€." in rendered.text
    for absent in ("Найти билеты", "Календарь цен", "Купить", "Популярные", "Без учёта фильтров"):
        assert absent not in rendered.text and absent not in rendered.html
    assert Page(rendered.html).links == {"unsubscribe": [UNSUBSCRIBE_DIRECTION]}


def test_html_escapes_what_comes_from_the_price_index_and_text_keeps_it():
    rendered = render(price_change(point_from='Сан<script>alert("x")</script>', point_to="A & B"))

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html
    assert "A &amp; B" in rendered.html
    assert 'Сан<script>alert("x")</script> — A & B' in rendered.text
    assert 'href="https://avia.example.com/order/?v=1&amp;t=2"' in rendered.html


async def test_a_long_subject_crosses_the_wire_folded_and_reads_back_whole(smtp_server):
    long_names = {"point_from": "Санкт-Петербург (Пулково) ✈ 🛫", "point_to": "Петропавловск-Камчатский (Елизово)"}
    received = await deliver(smtp_server, price_change(**long_names))

    assert received.message["Subject"] == (
        f"Санкт-Петербург (Пулково) ✈ 🛫 — Петропавловск-Камчатский (Елизово): цена снизилась до 200,12{NBSP}€")
    lines = raw_header_lines(received, "Subject")
    assert len(lines) > 1 and all(len(line) <= 78 for line in lines)


async def test_a_sender_name_in_russian_reads_back_whole(smtp_server):
    received = await deliver(smtp_server, CONFIRMATION, from_address='"Херальд, цены" <herald@example.com>')

    assert received.mail_from == "herald@example.com"
    [address] = received.message["From"].addresses
    assert (address.display_name, address.addr_spec) == ("Херальд, цены", "herald@example.com")


def test_line_breaks_in_names_do_not_reach_the_subject():
    rendered = render(price_change(point_from="Сансара\r\nBcc: victim@example.com"))

    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    message = render_email(price_change(point_from="Сансара\r\nBcc: victim@example.com"), sender=SENDER)
    assert message["Bcc"] is None


def test_a_non_ascii_address_still_gets_the_one_click_headers():
    message = render_email({**CONFIRMATION, "to": "анна@пример.рф"}, sender=SENDER)

    assert message["To"] == "анна@пример.рф"
    assert f"List-Unsubscribe: <{CONFIRMATION['list_unsubscribe']}>" in message.as_string()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("payload, problem", [
    ({"kind": "newsletter", "to": "anna@example.com"}, "unknown email kind"),
    ({key: value for key, value in CONFIRMATION.items() if key != "confirm_link"}, "confirm_link"),
    ({key: value for key, value in PRICE_CHANGE.items() if key != "to"}, "'to'"),
    ({**PRICE_CHANGE, "content": "nope"}, "content"),
    (price_change(unsubscribe_by_direction_link=None), "unsubscribe_by_direction_link"),
    ({**CONFIRMATION, "list_unsubscribe": "https://x.example/u?id=1\r\nBcc: a@b.c"}, "line breaks"),
    ({**PRICE_CHANGE, "list_unsubscribe": None}, "list_unsubscribe"),
])
def test_a_payload_that_cannot_make_an_email_is_refused(payload, problem):
    with pytest.raises(EmailRenderError, match=problem):
        render_email(payload, sender=SENDER)


@pytest.mark.parametrize("amount, currency, shown", [
    (12345.5, "RUR", f"12{NBSP}345,50{NBSP}₽"),
    (200, "EUR", f"200{NBSP}€"),
    (1234567, "USD", f"1{NBSP}234{NBSP}567{NBSP}$"),
    (-76.62, "XYZ", f"-76,62{NBSP}XYZ"),
    (0.004, None, "0"),
    (None, "EUR", ""),
])
def test_money(amount, currency, shown):
    assert money(amount, currency) == shown


def test_the_message_id_of_a_subscription_email_is_its_message_in_the_log():
    message = render_email(CONFIRMATION, sender=SENDER, message_id=7)
    assert message["Message-ID"] == "<herald-message-7@example.com>"

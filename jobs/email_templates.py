"""Subscription emails, rendered from a message's payload: the double opt-in confirmation and the
price-change email (seed 001's `content` structure), each as HTML (autoescaped) and text.

Pure: no database, no SMTP, no settings; links arrive ready-made in the payload. Every email
carries `List-Unsubscribe` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058),
with the payload's `list_unsubscribe` (a URL that unsubscribes on POST), else the body's
unsubscribe link (payloads queued before `list_unsubscribe` existed).
A payload that cannot be rendered raises EmailRenderError, which its sender treats as permanent.
The MIME message is composed from pre-folded headers and base64 parts (`compose_email`): the same
wire format as server.gateways.email.build_email at a sixth of its CPU, which is what lets the
outbox reach 500 emails/s; an address that is not plain ASCII still goes through build_email.

Besides the seed's fields, the templates understand two optional shapes of the price index's
sections: `popular_section_variants_data.variants` (a list of variants like
`min_price_variant_data`, each with an optional `title`) and `other_data.min_price_variant_data`
(the cheapest variant without the subscriber's filters). Anything else there is not shown.
"""

from __future__ import annotations

import base64
import email.policy
import random
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from email.policy import Policy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Template, TemplateError, select_autoescape

from server.gateways.email import POLICY, build_email
from server.timeutil import utc_now

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
ONE_CLICK = "List-Unsubscribe=One-Click"
NBSP = "\u00a0"
CURRENCY_SIGNS = {"RUR": "₽", "RUB": "₽", "EUR": "€", "USD": "$", "UAH": "₴", "KZT": "₸", "BYN": "Br"}


class EmailRenderError(ValueError):
    """The payload is not one of the known kinds or lacks what its kind needs."""


@dataclass(frozen=True)
class RenderedEmail:
    to: str
    subject: str
    text: str
    html: str
    unsubscribe_link: str

    def message(self, sender: str) -> EmailMessage:
        """The ready-to-send message, with the RFC 8058 one-click unsubscribe headers."""
        return compose_email(sender=sender, to=self.to, subject=self.subject, text=self.text,
                             html=self.html, unsubscribe_link=self.unsubscribe_link)


def render_email(payload: dict[str, Any], *, sender: str) -> EmailMessage:
    """The email a message's payload describes, from `sender`. Raises EmailRenderError."""
    return render(payload).message(sender)


def render(payload: dict[str, Any]) -> RenderedEmail:
    """Subject, text and HTML of a payload of kind `confirmation` or `price_change`."""
    kind = payload.get("kind") if isinstance(payload, dict) else None
    renderer = _RENDERERS.get(kind)
    if renderer is None:
        raise EmailRenderError(f"unknown email kind {kind!r}")
    try:
        return renderer(payload)
    except (KeyError, TypeError, AttributeError, TemplateError) as exc:
        raise EmailRenderError(f"cannot render a {kind} email: {type(exc).__name__}: {exc}") from None


def _render_confirmation(payload: dict[str, Any]) -> RenderedEmail:
    subject = "Подтвердите подписку на изменения цен"
    context = {"subject": subject, "confirm_link": _required(payload, "confirm_link"),
               "unsubscribe_link": _required(payload, "unsubscribe_link")}
    return RenderedEmail(to=_required(payload, "to"), subject=subject,
                         text=_template("confirmation.txt").render(context),
                         html=_template("confirmation.html").render(context),
                         unsubscribe_link=_one_click(payload, context["unsubscribe_link"]))


def _render_price_change(payload: dict[str, Any]) -> RenderedEmail:
    content = payload["content"]
    if not isinstance(content, dict):
        raise EmailRenderError("a price_change payload needs a `content` object")
    trend = price_trend(content.get("diff"))
    subject = price_subject(content, trend)
    context = {"subject": subject, "c": content, "trend": trend}
    return RenderedEmail(to=_required(payload, "to"), subject=subject,
                         text=_template("price_change.txt").render(context),
                         html=_template("price_change.html").render(context),
                         unsubscribe_link=_one_click(payload, _required(content, "unsubscribe_by_direction_link")))


_RENDERERS = {"confirmation": _render_confirmation, "price_change": _render_price_change}


def _one_click(payload: dict[str, Any], body_link: str) -> str:
    return _required(payload, "list_unsubscribe") if "list_unsubscribe" in payload else body_link


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise EmailRenderError(f"the payload has no {key!r}")
    return value


def price_trend(diff: Any) -> str:
    """'down', 'up' or 'same' (the amount stayed, e.g. only the currency changed)."""
    if not isinstance(diff, (int, float)) or diff == 0:
        return "same"
    return "down" if diff < 0 else "up"


def price_subject(content: dict[str, Any], trend: str) -> str:
    route = f"{content.get('point_from') or '?'} — {content.get('point_to') or '?'}"
    price = money(content.get("price"), content.get("currency"))
    verb = {"down": "снизилась до", "up": "выросла до", "same": "изменилась:"}[trend]
    return " ".join(f"{route}: цена {verb} {price}".splitlines())  # one line, whatever the names hold


def money(amount: Any, currency: Any = None) -> str:
    """12345.5, 'RUR' -> '12 345,50 ₽' (non-breaking spaces); whole amounts without kopecks."""
    if not isinstance(amount, (int, float)) or isinstance(amount, bool):
        return ""
    return _money(amount, currency if isinstance(currency, str) else None)


@lru_cache(maxsize=4096)
def _money(amount: float, currency: str | None) -> str:
    whole, cents = f"{abs(amount):,.2f}".split(".")
    number = whole.replace(",", NBSP) + ("" if cents == "00" else f",{cents}")
    sign = "-" if amount < 0 and number != "0" else ""
    unit = CURRENCY_SIGNS.get(currency, currency) if currency else ""
    return f"{sign}{number}{NBSP}{unit}" if unit else f"{sign}{number}"


def leg_line(leg: dict[str, Any]) -> str:
    """One leg of a variant as a line: '15.02 12:00 → 15.02 13:10, Победа, 2 пересадки'."""
    def field(name: str) -> str:
        value = leg.get(name)
        return str(value) if isinstance(value, (str, int)) and value != "" else ""

    departure = " ".join(filter(None, (field("departure_date"), field("departure_time"))))
    arrival = " ".join(filter(None, (field("arrival_date"), field("arrival_time"))))
    return ", ".join(filter(None, (f"{departure} → {arrival}", field("airlines"), field("connections"))))


# -- composing ----------------------------------------------------------------------------

# SMTP's limit for one line, header name included (RFC 5322 2.1.1), and the folding target.
MAX_LINE = 998
FOLD_AT = 78
# UTF-8 bytes per RFC 2047 encoded word, so that "Subject: " and one word fit in FOLD_AT.
WORD_BYTES = 39


class FoldedHeader(str):
    """A header value that is already folded for the wire: written as given, never re-parsed.

    The email package parses every header it is given and refolds it when the message is sent;
    for these emails that is four fifths of the CPU of an email (bench/subscription_emails.py).
    It would also turn a long List-Unsubscribe URL into RFC 2047 encoded words, which mail
    clients do not undo there (RFC 2369 wants the bare <URL>). The policy stores a value that
    has a `name` as it is and calls its `fold()` when writing. As a str it is the unfolded value;
    `lines` are the folded lines (continuations start with a space).
    """

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, *lines: str) -> FoldedHeader:
        value = "".join(lines)
        if not value.isascii() or "\r" in value or "\n" in value:
            raise EmailRenderError(f"{name} must be ASCII without line breaks")
        if len(name) + 2 + max(map(len, lines)) > MAX_LINE:
            raise EmailRenderError(f"{name} is longer than an SMTP line may be")
        header = super().__new__(cls, value)
        header.name, header.lines = name, lines
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {policy.linesep.join(self.lines)}{policy.linesep}"


def compose_email(
    *, sender: str, to: str, subject: str, text: str, html: str, unsubscribe_link: str
) -> EmailMessage:
    """multipart/alternative (text, then HTML) with the one-click unsubscribe headers.

    The same message as server.gateways.email.build_email makes, built from pre-folded headers
    and base64 parts; an address it cannot write as plain ASCII goes through build_email.
    """
    unsubscribe = FoldedHeader("List-Unsubscribe", f"<{unsubscribe_link}>")
    if not _plain_address(to):
        return build_email(sender=sender, to=to, subject=subject, text=text, html=html,
                           headers={"List-Unsubscribe": unsubscribe, "List-Unsubscribe-Post": ONE_CLICK})
    boundary = f"==herald-{random.getrandbits(64):016x}"  # '-' is not base64: no part has it
    message = EmailMessage(policy=POLICY)
    for header in (
        _from_header(sender),
        FoldedHeader("To", to),
        FoldedHeader("Subject", *_encoded_words(subject)),
        FoldedHeader("Date", format_datetime(utc_now())),
        FoldedHeader("Message-ID", make_msgid(domain=_domain_of(sender))),
        unsubscribe,
        FoldedHeader("List-Unsubscribe-Post", ONE_CLICK),
        FoldedHeader("MIME-Version", "1.0"),
        FoldedHeader("Content-Type", "multipart/alternative;", f' boundary="{boundary}"'),
    ):
        message[header.name] = header
    message.set_payload([_text_part("plain", text), _text_part("html", html)])
    return message


def _plain_address(address: str) -> bool:
    return address.isascii() and address.count("@") == 1 and not any(c in address for c in ' \r\n<>,;"')


def _text_part(subtype: str, body: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part["Content-Type"] = FoldedHeader("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = FoldedHeader("Content-Transfer-Encoding", "base64")
    encoded = base64.b64encode(body.encode()).decode("ascii")
    part.set_payload("".join(f"{encoded[i:i + 76]}\n" for i in range(0, len(encoded), 76)))
    return part


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
def _domain_of(sender: str) -> str:
    # As the gateway does: make_msgid() would otherwise ask the resolver for this host's name.
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return domain if at and domain else "localhost"


# -- templates ------------------------------------------------------------------------------

class _Environment(Environment):
    """`a.b` on a dict looks up the key first (Jinja tries the attribute first, and the failed
    attribute lookup was a third of a price email's rendering time)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENVIRONMENT = _Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    # The price index's sections are read defensively: a missing key shows nothing.
    undefined=ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)
_ENVIRONMENT.filters["money"] = money
_ENVIRONMENT.filters["leg_line"] = leg_line
_TEMPLATES: dict[str, Template] = {}


def _template(name: str) -> Template:
    template = _TEMPLATES.get(name)
    if template is None:
        template = _TEMPLATES[name] = _ENVIRONMENT.get_template(f"email/{name}")
    return template

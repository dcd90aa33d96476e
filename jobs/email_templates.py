"""Subscription emails, rendered from a message's payload: the double opt-in confirmation and the
price-change email (seed 001's `content` structure), each as HTML (autoescaped) and text.

Pure: no database, no SMTP, no settings; links arrive ready-made in the payload. Every email
carries `List-Unsubscribe` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058),
with the payload's `list_unsubscribe` (a URL that unsubscribes on POST), else the body's
unsubscribe link (payloads queued before `list_unsubscribe` existed).
A payload that cannot be rendered raises EmailRenderError, which its sender treats as permanent.
The MIME message is built by server.gateways.email.build_email; the templates come from
server/templating.py (lenient: the price index's sections are read defensively).

Besides the seed's fields, the templates understand two optional shapes of the price index's
sections: `popular_section_variants_data.variants` (a list of variants like
`min_price_variant_data`, each with an optional `title`) and `other_data.min_price_variant_data`
(the cheapest variant without the subscriber's filters). Anything else there is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from jinja2 import Template, TemplateError

from server.gateways.email import build_email
from server.templating import environment, money


class EmailRenderError(ValueError):
    """The payload is not one of the known kinds or lacks what its kind needs."""


@dataclass(frozen=True)
class RenderedEmail:
    to: str
    subject: str
    text: str
    html: str
    unsubscribe_link: str

    def message(self, sender: str, message_id: int | None = None) -> EmailMessage:
        """The ready-to-send message, with the RFC 8058 one-click unsubscribe headers; `message_id`
        (the message's id in the log) gives every attempt at it one Message-ID."""
        try:
            return build_email(sender=sender, to=self.to, subject=self.subject, text=self.text, html=self.html,
                               unsubscribe_link=self.unsubscribe_link, message_id=message_id)
        except ValueError as exc:
            raise EmailRenderError(str(exc)) from None


def render_email(payload: dict[str, Any], *, sender: str, message_id: int | None = None) -> EmailMessage:
    """The email a message's payload describes, from `sender`. Raises EmailRenderError."""
    return render(payload).message(sender, message_id)


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


# -- templates ------------------------------------------------------------------------------

_TEMPLATES: dict[str, Template] = {}


def _template(name: str) -> Template:
    template = _TEMPLATES.get(name)
    if template is None:
        template = _TEMPLATES[name] = environment(lenient=True).get_template(f"email/{name}")
    return template

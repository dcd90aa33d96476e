"""The one Jinja2 set-up of templates/: emails (jobs/), the subscription pages (handlers/) and,
later, the admin UI. Pure: no I/O but reading templates.

`.html` templates are autoescaped, everything else is not; blocks are trimmed, a template's last
line break is kept; templates are read once (no reloading). Every template gets the same
filters (`money`, `leg_line`). `environment()` is strict about an undefined name; the price
emails read the price index's sections defensively and ask for `environment(lenient=True)`,
where a missing key shows nothing. The admin UI gets the same templates and filters with
`aiohttp_jinja2.setup(app, filters=FILTERS, **options())`.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
NBSP = "\u00a0"
CURRENCY_SIGNS = {"RUR": "₽", "RUB": "₽", "EUR": "€", "USD": "$", "UAH": "₴", "KZT": "₸", "BYN": "Br"}


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


def when(value: Any) -> str:
    """A stored or API UTC time as a person reads it: '2026-12-03T14:41:14.082Z' -> '2026-12-03 14:41'
    (the admin UI says once that its times are UTC); anything else as it is, None as ''."""
    if not isinstance(value, str):
        return "" if value is None else str(value)
    if len(value) >= 16 and value[10] == "T" and value.endswith("Z"):
        return f"{value[:10]} {value[11:16]}"
    return value


FILTERS = {"money": money, "leg_line": leg_line, "when": when}


def options(*, lenient: bool = False) -> dict[str, Any]:
    """The keyword arguments of `jinja2.Environment` (and of `aiohttp_jinja2.setup`)."""
    return {
        "loader": FileSystemLoader(TEMPLATE_DIR),
        "autoescape": select_autoescape(enabled_extensions=("html",), default_for_string=False),
        "undefined": ChainableUndefined if lenient else StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "auto_reload": False,
    }


class _Environment(Environment):
    """`a.b` on a dict looks up the key first (Jinja tries the attribute first, and the failed
    attribute lookup was a third of a price email's rendering time)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@cache
def environment(*, lenient: bool = False) -> Environment:
    """The shared environment (one strict, one lenient), made on first use."""
    env = _Environment(**options(lenient=lenient))
    env.filters.update(FILTERS)
    return env

"""What the CRM's accounts, orders and users routes accept (seed 002), validated and normalised.

Pure: no I/O. Bodies come as JSON or form data; field names are the seed's (`botStatus`,
`paymentMethod`, `accountId`, `from`). A phone number follows the notification service's rules
(handlers/notification_schemas.py: a Russian number, stored as 7XXXXXXXXXX), an email the
subscriptions' (handlers/subscription_schemas.py), so that an account is the same contact those
families find. Tags are a list of strings or, in a form, one comma-separated value.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from handlers.notification_schemas import ClientIn, CommaList, normalize_phone
from handlers.subscription_schemas import Email
from server.text import one_line
from storage import orders

MAX_NAME = 200
MAX_PRICE = Decimal(10) ** 12 - 1
_WORD = re.compile(r" *[A-Za-z0-9_-]{1,50} *")
_DECIMAL = re.compile(r" *[0-9]{1,12}(\.[0-9]{1,6})? *")
_LOCALE = re.compile(r" *([A-Za-z]{2,3})(?:_([A-Za-z]{2}))? *")
INCLUDES = ("contactedUsers", "orders")


def _text(value: Any) -> Any:
    """One line of at most MAX_NAME characters, trimmed of spaces, not blank (a non-string is left
    for the type check to refuse)."""
    if not isinstance(value, str):
        return value
    one_line(value)
    if len(value) > MAX_NAME:
        raise ValueError(f"Ensure this field has no more than {MAX_NAME} characters.")
    if not value.strip(" "):
        raise ValueError("This field may not be blank.")
    return value.strip(" ")


def _upper_word(value: Any) -> Any:
    """`FACEBOOK`, ` yandex_money ` -> upper case; 1-50 ASCII letters, digits, `_` and `-`."""
    if not isinstance(value, str):
        return value
    one_line(value)
    if not _WORD.fullmatch(value):
        raise ValueError(f"{value!r} is not 1-50 letters, digits, '_' or '-', e.g. FACEBOOK.")
    return value.strip(" ").upper()


def _price(value: Any) -> str:
    """A JSON number or a decimal string (`199.90`) -> its decimal text (a string as written)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("Must be a number, e.g. 199.90.")
    if isinstance(value, str):
        one_line(value)
        if not _DECIMAL.fullmatch(value):
            raise ValueError(f"{value!r} is not a decimal number such as 199.90 (at most 12 digits, "
                             "6 after the point).")
        return value.strip(" ")
    price = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not price.is_finite() or not 0 <= price <= MAX_PRICE:
        raise ValueError(f"Must be from 0 to {MAX_PRICE}.")
    return format(price, "f")


def _currency(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r" *[A-Za-z]{3} *", value):
        raise ValueError(f"{value!r} is not a currency code such as RUB.")
    return _upper_word(value)


def _timezone(value: Any) -> str:
    return ClientIn._timezone(value)  # the notification service's rule for a client's zone


def _locale(value: Any) -> Any:
    """`en_us` -> `en_US`, `RU` -> `ru`."""
    if not isinstance(value, str):
        return value
    one_line(value)
    found = _LOCALE.fullmatch(value)
    if found is None:
        raise ValueError(f"{value!r} is not a locale such as en_US or ru.")
    language, country = found.groups()
    return language.lower() + (f"_{country.upper()}" if country else "")


Name = Annotated[str, BeforeValidator(_text)]
Word = Annotated[str, BeforeValidator(_upper_word)]
Phone = Annotated[str, BeforeValidator(normalize_phone)]
Locale = Annotated[str | None, BeforeValidator(_locale)]
Gender = Literal["MALE", "FEMALE"] | None
BotStatus = Literal["BOT", "ADMIN"]
Price = Annotated[str, BeforeValidator(_price)]
AccountId = Annotated[str, AfterValidator(lambda value: _account_id(value))]


def _account_id(value: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise ValueError(f"{value!r} is not an account id (the digits of one, e.g. \"12\").")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SubscribeItem(_Body):
    """One item of a subscribeHistory, as the seed shows it."""

    tunnelName: Name  # noqa: N815 (the seed's names)
    leadgentoolName: Name  # noqa: N815
    trafficSource: Name  # noqa: N815


class AccountIn(_Body):
    """POST /api/v1/accounts."""

    name: Name
    tags: CommaList = []
    source: Word = Field("API", alias="from")
    phone: Phone | None = None
    email: Email = None
    gender: Gender = None
    locale: Locale = None
    timezone: Annotated[str, BeforeValidator(_timezone)] = "UTC"
    subscribeHistory: Annotated[list[SubscribeItem], Field(max_length=100)] = []  # noqa: N815

    @property
    def operator_code(self) -> str | None:
        return None if self.phone is None else self.phone[1:4]


class AccountPatch(_Body):
    """PATCH /api/v1/accounts/{id}: the fields given are replaced (`tags`: the whole set)."""

    name: Name | None = None
    botStatus: BotStatus | None = None  # noqa: N815
    gender: Gender = None
    locale: Locale = None
    tags: CommaList | None = None

    @field_validator("name", "botStatus", "tags", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("This field may not be null.")
        return value

    def changes(self) -> dict[str, Any]:
        """The contact fields to replace (storage/contacts.py names)."""
        names = {"name": "name", "botStatus": "bot_status", "gender": "gender", "locale": "locale", "tags": "tags"}
        return {names[field]: getattr(self, field) for field in self.model_fields_set if field in names}


class TagsIn(_Body):
    """add-tag / remove-tag: {"tags": [...]} or {"tag": "x"}."""

    tags: CommaList | None = None
    tag: Name | None = None

    def all(self) -> list[str]:
        return sorted({*(self.tags or []), *([self.tag] if self.tag else [])})

    def cross_field_errors(self) -> dict[str, list[str]]:
        if self.tags is None and self.tag is None:
            return {"tags": ["Give tags (a list of tags) or tag."]}
        if self.tag is not None and "," in self.tag:
            return {"tag": ["One tag: no comma (give several as tags)."]}
        return {}


class OrderIn(_Body):
    """POST /api/v1/orders."""

    accountId: AccountId  # noqa: N815
    price: Price
    currency: Annotated[str, BeforeValidator(_currency)]
    paymentMethod: Word  # noqa: N815
    status: Literal[orders.STATUSES] = "NEW"  # type: ignore[valid-type]


class OrderPatch(_Body):
    """PATCH /api/v1/orders/{id}."""

    status: Literal[orders.STATUSES]  # type: ignore[valid-type]


class UserIn(_Body):
    """POST /api/v1/users: an operator."""

    name: Name
    email: Email = None


def includes(raw: str | None) -> set[str]:
    """`include=contactedUsers,orders` -> the names; an unknown one is a ValueError naming it."""
    names = {name.strip(" ") for name in (raw or "").split(",") if name.strip(" ")}
    unknown = sorted(names - set(INCLUDES))
    if unknown:
        raise ValueError(f"Unknown include {', '.join(unknown)}: give any of {', '.join(INCLUDES)}.")
    return names

"""What the CRM's accounts, orders and users routes accept (seed 002), validated and normalised.

Pure: no I/O. Bodies come as JSON or form data; field names are the seed's (`botStatus`,
`paymentMethod`, `accountId`, `from`). A phone number follows the notification service's rules
(handlers/notification_schemas.py: a Russian number, stored as 7XXXXXXXXXX), an email the
subscriptions' (handlers/subscription_schemas.py), so that an account is the same contact those
families find. Tags are a list of strings or, in a form, one comma-separated value.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from handlers.notification_schemas import ClientIn, CommaList, normalize_phone
from handlers.subscription_schemas import Email
from server.text import one_line
from storage import orders

MAX_NAME = 200
MAX_PRICE = Decimal(10) ** 12
INCLUDES = ("contactedUsers", "orders")


def _text(value: Any) -> Any:
    """One line, trimmed, not blank (a non-string is left for the type check to refuse)."""
    if not isinstance(value, str):
        return value
    one_line(value)
    if not value.strip():
        raise ValueError("This field may not be blank.")
    return value.strip()


def _upper_word(value: Any) -> Any:
    """`FACEBOOK`, `yandex_money` -> upper case; letters, digits, `_` and `-` only."""
    if not isinstance(value, str):
        return value
    one_line(value)
    word = value.strip().upper()
    if not (1 <= len(word) <= 50 and word.replace("_", "").replace("-", "").isalnum() and word.isascii()):
        raise ValueError("Must be 1-50 letters, digits, '_' or '-', e.g. FACEBOOK.")
    return word


def _price(value: Any) -> str:
    """A JSON number or a decimal string (`199.90`) -> its decimal text, as written."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("Must be a number, e.g. 199.90.")
    try:
        price = Decimal(one_line(value).strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number, e.g. 199.90.") from None
    if not price.is_finite() or price < 0 or price >= MAX_PRICE or (isinstance(value, str) and "e" in value.lower()):
        raise ValueError("Must be a decimal number from 0 to 999999999999.999999, e.g. 199.90.")
    if price.as_tuple().exponent < -6:
        raise ValueError("At most 6 digits after the decimal point.")
    return str(price) if isinstance(value, str) else format(price, "f")


def _timezone(value: Any) -> str:
    return ClientIn._timezone(value)  # the notification service's rule for a client's zone


def _locale(value: Any) -> Any:
    if isinstance(value, str):
        one_line(value)
        parts = value.strip().split("_")
        if not (1 <= len(parts) <= 2 and parts[0].isascii() and parts[0].isalpha() and 2 <= len(parts[0]) <= 3
                and (len(parts) == 1 or (parts[1].isascii() and parts[1].isalpha() and len(parts[1]) == 2))):
            raise ValueError(f"{value!r} is not a locale such as en_US or ru.")
        return parts[0].lower() + ("_" + parts[1].upper() if len(parts) == 2 else "")
    return value


Name = Annotated[str, BeforeValidator(_text), Field(max_length=MAX_NAME)]
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
    currency: Annotated[str, BeforeValidator(_upper_word), Field(pattern=r"^[A-Z]{3}$")]
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
    names = {name.strip() for name in (raw or "").split(",") if name.strip()}
    unknown = sorted(names - set(INCLUDES))
    if unknown:
        raise ValueError(f"Unknown include {', '.join(unknown)}: give any of {', '.join(INCLUDES)}.")
    return names

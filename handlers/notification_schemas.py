"""What the notification service accepts: clients and mailings, validated and normalised.

Pure: no I/O. Each validator's message says what is wrong in words a client can act on. Every
field but `message_text` is one line: a tab or line break in it is refused, not trimmed away.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from server.text import one_line
from server.timeutil import OutOfRange, parse_datetime

_PHONE_NOISE = re.compile(r"[\s()\-.]")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_PLUS_AS_SPACE = re.compile(r"[T ]\d\d:\d\d(:\d\d(\.\d+)?)? \d\d(:?\d\d)?$")  # `+03:00` sent unencoded
_NOT_ZONES = {"Factory", "localtime", "posixrules"}  # files in the zone database that are no place's time
_ZONE_EXAMPLE = "give an IANA time zone name, e.g. UTC or Europe/Moscow (or leave the field out)"
_DATETIME_EXAMPLE = "e.g. 2022-08-22T22:42:16 or 2022-08-22T22:42:16+03:00"


def normalize_phone(raw: Any) -> str:
    """`+7 (977) 405-33-29`, `8 977 405 33 29`, `79774053329` -> `79774053329`."""
    digits = _PHONE_NOISE.sub("", str(one_line(raw)))
    if digits.startswith("+7"):
        digits = "7" + digits[2:]
    elif digits.startswith("8") and len(digits) == 11:
        digits = "7" + digits[1:]
    if not re.fullmatch(r"7[0-9]{10}", digits):
        raise ValueError(
            "Enter a Russian number as 7XXXXXXXXXX (also accepted: +7 (XXX) XXX-XX-XX, 8 XXX XXX XX XX)."
        )
    return digits


@cache
def _zones() -> frozenset[str]:
    """IANA zones a client can be in: the zone database without its non-places and its copies."""
    return frozenset(zone for zone in available_timezones()
                     if zone not in _NOT_ZONES and not zone.startswith(("posix/", "right/")))


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return parse_datetime(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Enter an ISO 8601 date and time, {_DATETIME_EXAMPLE}.")
    one_line(value)
    try:
        return parse_datetime(value)
    except OutOfRange as exc:
        raise ValueError(f"{value!r} is out of range: {exc}.") from None
    except ValueError:
        hint = ""
        if _PLUS_AS_SPACE.search(value.strip()):
            hint = " In form data a '+' means a space: send the offset's '+' URL-encoded as %2B."
        raise ValueError(f"{value!r} is not an ISO 8601 date and time, {_DATETIME_EXAMPLE}.{hint}") from None


def _comma_list(value: Any) -> list[str]:
    """A string of comma-separated items, or (in JSON) a list of strings; anything else is refused
    rather than stored as its text (`[null]` must not become the tag "None")."""
    if value is None:
        raise ValueError("This field may not be null.")
    if isinstance(value, str):
        items = one_line(value).split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        if any("," in item for item in value):
            raise ValueError("An item of the list may not contain a comma: give each one as its own item.")
        items = one_line(value)
    else:
        raise ValueError("Must be a string of comma-separated items or a list of strings.")
    return sorted({item.strip() for item in items if item.strip()})


def _blank_to_none(value: Any) -> Any:
    one_line(value)
    return None if isinstance(value, str) and not value.strip() else value


UtcDatetime = Annotated[datetime, BeforeValidator(_datetime)]
CommaList = Annotated[list[str], BeforeValidator(_comma_list)]


class ClientIn(BaseModel):
    """A whole client, as POST and PUT take it (PATCH is merged onto the stored one first)."""

    model_config = ConfigDict(extra="ignore")

    phone_number: Annotated[str, BeforeValidator(normalize_phone)]
    tag: str = ""
    timezone: str = "UTC"

    @field_validator("tag", mode="before")
    @classmethod
    def _tag(cls, value: Any) -> str:
        return ",".join(_comma_list(value))

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> str:
        """Left out it is UTC (or, on PATCH, the stored zone); sent empty or null it is an error."""
        if value is None:
            raise ValueError(f"This field may not be null: {_ZONE_EXAMPLE}.")
        if isinstance(value, str) and not one_line(value).strip():
            raise ValueError(f"This field may not be blank: {_ZONE_EXAMPLE}.")
        if not isinstance(value, str) or value.strip() not in _zones():
            raise ValueError(f"{value!r} is not an IANA time zone name, e.g. Europe/Moscow.")
        return value.strip()

    @property
    def operator_code(self) -> str:
        return self.phone_number[1:4]


class MailingIn(BaseModel):
    """A whole mailing, as POST and PUT take it (PATCH is merged onto the stored one first)."""

    model_config = ConfigDict(extra="ignore")

    datetime_start: UtcDatetime
    datetime_end: UtcDatetime
    message_text: str
    filter_tag: CommaList = []
    filter_op_codes: CommaList = []
    window_start: Annotated[str | None, BeforeValidator(_blank_to_none)] = None
    window_end: Annotated[str | None, BeforeValidator(_blank_to_none)] = None

    @field_validator("message_text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("This field may not be blank.")
        if len(value) > 4000:
            raise ValueError("Ensure this field has no more than 4000 characters.")
        return value

    @field_validator("filter_op_codes")
    @classmethod
    def _op_codes(cls, codes: list[str]) -> list[str]:
        bad = [code for code in codes if not re.fullmatch(r"[0-9]{3}", code)]
        if bad:
            raise ValueError(f"Operator codes are three digits, e.g. 977,921; got {', '.join(bad)}.")
        return codes

    @field_validator("window_start", "window_end")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value.strip()):
            raise ValueError(f"{value!r} is not a time of day as HH:MM, e.g. 09:00.")
        return value.strip() if value else value

    def cross_field_errors(self) -> dict[str, list[str]]:
        errors = {}
        if self.datetime_end <= self.datetime_start:
            errors["datetime_end"] = ["Must be after datetime_start."]
        if (self.window_start is None) != (self.window_end is None):
            missing = "window_end" if self.window_end is None else "window_start"
            errors[missing] = ["Give window_start and window_end together, or neither."]
        elif self.window_start is not None and self.window_start == self.window_end:
            errors["window_end"] = ["Must differ from window_start (the window would be empty)."]
        return errors

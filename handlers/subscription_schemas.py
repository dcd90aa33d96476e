"""What the subscriptions API accepts (seed 001), validated and normalised. Pure: no I/O.

Parameters come as a query string or form data (or JSON); `filter` is a JSON string in a form
field, checked against the seed's filter schema; a bad qkey part or filter field is named.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.directions import Direction, PriceFilter, QkeyError, parse_qkey
from server.text import load_json, one_line

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _qkey(value: str) -> str:
    try:
        return parse_qkey(value.strip()).qkey
    except QkeyError as exc:
        raise ValueError(str(exc)) from None


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise ValueError(f"{value!r} is not an email address.")
    return email


Qkey = Annotated[str, AfterValidator(_qkey)]
Email = Annotated[str | None, AfterValidator(_email)]


class _Params(BaseModel):
    """Blank parameters count as absent (defaults apply, required ones are reported missing);
    numbers sent in JSON for text parameters (a passportuid) are taken as their text; every
    parameter is one line (no tab, line break or other control character)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_blanks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: str(value) if isinstance(value, int) and not isinstance(value, bool) else value
                for key, value in data.items() if not (isinstance(value, str) and not value.strip())}

    @field_validator("*", mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        return one_line(value)


class WhoParams(_Params):
    """A subscriber named by passportuid or by email (list and check)."""

    email: Email = None
    passportuid: str | None = Field(None, max_length=64)

    def cross_field_errors(self) -> dict[str, list[str]]:
        if self.email is None and self.passportuid is None:
            return {"passportuid": ["Give passportuid or email."]}
        return {}


class CheckParams(WhoParams):
    qkey: Qkey

    @property
    def direction(self) -> Direction:
        return parse_qkey(self.qkey)


class SubscribeParams(WhoParams):
    qkey: Qkey
    session: str | None = Field(None, max_length=512)
    email_source: str = Field("", max_length=100)
    date_range: int = Field(0, ge=0, le=30)
    filter: str | None = None

    @field_validator("date_range", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, bool):  # JSON true is not 1 day
            raise ValueError("Input should be a valid integer")
        return value

    @field_validator("filter", mode="before")
    @classmethod
    def _filter(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, (dict, list)):  # a JSON body may carry the filter as an object
            data = value
        else:
            try:
                data = load_json(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Not JSON: {exc}.") from None
        if data is None:
            return None
        if not isinstance(data, dict):
            raise ValueError("Must be a JSON object.")
        try:
            PriceFilter.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(problems) from None
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @property
    def price_filter(self) -> PriceFilter | None:
        return None if self.filter is None else PriceFilter.model_validate_json(self.filter)

    def cross_field_errors(self) -> dict[str, list[str]]:
        if self.passportuid is None:
            if self.email is None:
                return {"passportuid": ["Give passportuid, email and passportuid, or email and session."]}
            if self.session is None:
                return {"session": ["Give session (or passportuid) with email."]}
        return {}


class ConfirmParams(_Params):
    id: str = Field(max_length=64)
    p: str | None = Field(None, max_length=128)
    s: str | None = Field(None, max_length=128)

    def cross_field_errors(self) -> dict[str, list[str]]:
        if (self.p is None) == (self.s is None):
            return {"p": ["Give p (sha256 of passportuid) or s (sha256 of session), one of them."]}
        return {}


class UnsubscribeParams(_Params):
    id: str = Field(max_length=64)


class UnsubscribeDirectionParams(UnsubscribeParams):
    qkey: Qkey

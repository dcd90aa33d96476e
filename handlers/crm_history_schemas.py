"""What the CRM's history routes accept (seed 002 is silent on writes; Herald decides, the OpenAPI
document says so): a message written into an account's history, read marks, a merge. Pure: no I/O.

Ids are the CRM's strings of decimal digits; a JSON body may give them as numbers too. A JSON body
is read strictly (a boolean is `true` or `false`, a list is a list); a form carries text only, so
there `ids` is one field of comma-separated ids and `all` is `true` or `false`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TEXT = 4000
MAX_IDS = 1000
MAX_ID = 2**63 - 1
_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
_IDS = re.compile(r"\s*[0-9]+(\s*,\s*[0-9]+)*\s*")
EVENT_CHANNEL = "system"  # state changes only: nobody writes a message on it


def account_id(value: Any) -> int:
    """A CRM id (decimal digits, or in JSON a whole number) as the contact's id; ValueError if not one."""
    if isinstance(value, float) and value.is_integer():  # JSON's 12.0 is the integer 12
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("An id is a string of decimal digits, e.g. \"12\".")
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise ValueError(f"An id is a string of decimal digits up to {MAX_ID}, e.g. \"12\"; got {text!r}.")
    return int(text)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class MessageIn(_Body):
    """A message into an account's history: what the person sent (FRIEND_MESSAGE), or an operator's
    reply (YOUR_MESSAGE, written by the platform user `userId`)."""

    text: str
    type: Literal["FRIEND_MESSAGE", "YOUR_MESSAGE"]
    userId: Any = None  # noqa: N815 (the CRM's name); checked by account_id
    channel: str | None = None

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("This field may not be blank.")
        if len(value) > MAX_TEXT:
            raise ValueError(f"Ensure this field has no more than {MAX_TEXT} characters.")
        if "\r" in value:
            raise ValueError("Line breaks are \\n: a carriage return (U+000D) is not allowed.")
        return value

    @field_validator("userId")
    @classmethod
    def _user(cls, value: Any) -> int | None:
        return None if value is None else account_id(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL.fullmatch(value):
            raise ValueError("A channel is a lower-case name of up to 32 letters, digits and _, e.g. sms or telegram.")
        return value

    def cross_field_errors(self) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if self.type == "YOUR_MESSAGE" and self.userId is None:
            problems["userId"] = ["Required for a YOUR_MESSAGE: the platform user who writes it."]
        if self.channel == EVENT_CHANNEL:
            problems["channel"] = ["The channel system holds state changes (SYSTEM_MESSAGE); nobody writes on it."]
        return problems


_GIVE_ONE = "Give ids (a list of message ids) or all: true, one of them."


class ReadIn(_Body):
    """JSON: {"ids": ["12", "13"]} or {"all": true}."""

    ids: list[Any] | None = Field(None, max_length=MAX_IDS)
    all: bool | None = None

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: list[Any] | None) -> list[int] | None:
        return None if ids is None else [account_id(value) for value in ids]

    def cross_field_errors(self) -> dict[str, list[str]]:
        if (self.ids is not None) == (self.all is True):
            return {"all" if self.all is True else "ids": [_GIVE_ONE]}
        return {}

    def which(self) -> list[int] | None:
        """The message ids to mark, or None for all of the account's."""
        return None if self.all else self.ids


class ReadForm(ReadIn):
    """A form: ids=12,13 or all=true."""

    ids: str | None = None  # type: ignore[assignment]
    all: Literal["true", "false"] | None = None  # type: ignore[assignment]

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: str | None) -> list[int] | None:  # type: ignore[override]
        if ids is None:
            return None
        if not _IDS.fullmatch(ids):
            raise ValueError("Message ids separated by commas, e.g. 12,13.")
        found = [account_id(part.strip()) for part in ids.split(",")]
        if len(found) > MAX_IDS:
            raise ValueError(f"At most {MAX_IDS} ids.")
        return found

    @field_validator("all")
    @classmethod
    def _all(cls, value: str | None) -> bool | None:
        return None if value is None else value == "true"


class MergeIn(_Body):
    """{"accountId": "12"}: the account that turns out to be the same person as this one."""

    accountId: Any  # noqa: N815 (the CRM's name); checked by account_id

    @field_validator("accountId")
    @classmethod
    def _account(cls, value: Any) -> int:
        return account_id(value)

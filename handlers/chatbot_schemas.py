"""The chatbot's request bodies (seed 000), JSON only, read strictly: a number where the seed
has a number (`id_user`, `female_id`; a whole number written `2.0` is the number 2, as JSON
Schema's `integer` says), a list of strings where it has texts."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from server.timeutil import parse_datetime

MAX_TEMPLATES = 1000
MAX_TEMPLATE_LENGTH = 4000
MAX_MEN = 10_000


def _whole_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = BeforeValidator(_whole_number)
SiteId = Annotated[int, Whole, Field(ge=1, le=2**63 - 1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Profile(_Body):
    """A profile as the site sends it; what Herald keeps of it (the rest is ignored)."""

    id_user: SiteId
    name: str | None = None
    age: Annotated[int, Whole, Field(ge=0, le=999)] | None = None
    gender: str | None = None
    country: str | None = None
    city: str | None = None
    avatar_large: str | None = None
    is_premium: bool | None = None
    last_visit: str | None = None
    mirrorName: str | None = None  # noqa: N815 (the site's name)

    def attributes(self) -> dict[str, Any]:
        """The fields given, but `id_user`; `avatar_large` as `avatar` (read one by one: a
        10,000-man mailing makes 10,000 of these, and model_dump cost five times as much)."""
        kept = {name: value for name in _ATTRIBUTES if (value := getattr(self, name)) is not None}
        if self.avatar_large is not None:
            kept["avatar"] = self.avatar_large
        return kept


_ATTRIBUTES = tuple(name for name in Profile.model_fields if name not in ("id_user", "avatar_large"))


class TemplatesIn(_Body):
    templates: list[str] = Field(max_length=MAX_TEMPLATES)
    profile: Profile

    @field_validator("templates")
    @classmethod
    def texts(cls, templates: list[str]) -> list[str]:
        for text in templates:
            if not text.strip():
                raise ValueError("A template may not be blank.")
            if len(text) > MAX_TEMPLATE_LENGTH:
                raise ValueError(f"A template may be at most {MAX_TEMPLATE_LENGTH} characters.")
        return templates


class MailingData(_Body):
    users: list[Profile] = Field(max_length=MAX_MEN)
    count: Annotated[int, Whole, Field(ge=0, le=2**63 - 1)] | None = None
    female_id: SiteId


class MailingIn(_Body):
    data: MailingData


class ReportedMessage(_Body):
    """The message as the site sent it: `content` is JSON text carrying the text as `message`."""

    id_user_to: SiteId
    id_user_from: SiteId
    content: str
    id: SiteId
    date_created: str

    @field_validator("content")
    @classmethod
    def carries_a_message(cls, content: str) -> str:
        try:
            message = json.loads(content).get("message")
        except (ValueError, AttributeError):
            message = None
        if not isinstance(message, str):
            raise ValueError('Must be JSON text of an object with the text as "message".')
        return content

    @field_validator("date_created")
    @classmethod
    def a_time(cls, value: str) -> str:
        try:
            parse_datetime(value)
        except ValueError as exc:
            raise ValueError(f"Not a date and time (ISO 8601; without an offset, UTC): {exc}") from None
        return value

    def text(self) -> str:
        return json.loads(self.content)["message"]


class ReportDetails(_Body):
    message: ReportedMessage
    profiles: dict[str, Profile] | None = None


class ReportData(_Body):
    type: Literal["success", "error"]
    details: ReportDetails
    errors: list[Any] | None = None


class ReportIn(_Body):
    data: ReportData


def kept_profile_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The mailing's body with each man's profile cut to the fields Herald keeps, before it is
    checked: a full profile has some 30 fields, and checking the text of those Herald ignores cost
    more than the whole choice for 10,000 men. Anything not shaped as the seed's is left as it is,
    for `validate` to name."""
    data = body.get("data")
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, list):
        return body
    kept = [{name: user[name] for name in Profile.model_fields if name in user} if isinstance(user, dict) else user
            for user in users]
    return {**body, "data": {**data, "users": kept}}

"""The chatbot's request bodies (seed 000), JSON only, read strictly: a number where the seed
has a number (`id_user`, `female_id`), a list of strings where it has texts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TEMPLATES = 1000
MAX_TEMPLATE_LENGTH = 4000
MAX_MEN = 10_000
SiteId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Profile(_Body):
    """A profile as the site sends it; what Herald keeps of it (the rest is ignored)."""

    id_user: SiteId
    name: str | None = None
    age: Annotated[int, Field(ge=0, le=999)] | None = None
    gender: str | None = None
    country: str | None = None
    city: str | None = None
    avatar_large: str | None = None
    is_premium: bool | None = None
    last_visit: str | None = None
    mirrorName: str | None = None  # noqa: N815 (the site's name)

    def attributes(self) -> dict[str, Any]:
        kept = self.model_dump(exclude={"id_user", "avatar_large"}, exclude_none=True)
        if self.avatar_large is not None:
            kept["avatar"] = self.avatar_large
        return kept


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
    count: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    female_id: SiteId


class MailingIn(_Body):
    data: MailingData

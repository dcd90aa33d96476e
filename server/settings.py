"""Herald's settings: one validated model built from config.toml and HERALD_* variables.

The key names are a public contract (DESIGN.md, "Settings"); each part of the code is handed only
its own section. This module reads files and the environment and nothing else.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"


class StorageSettings(Section):
    path: Path = Path("data/herald.db")


class AuthSettings(Section):
    api_tokens: list[str] = []


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class NotificationSettings(Section):
    transport: Literal["sandbox", "http"] = "sandbox"
    provider_url: str = ""
    provider_token: str = ""
    concurrency: int = Field(50, ge=1, le=1000)
    rate_limit: float = Field(0, ge=0)
    timeout_seconds: float = Field(10, gt=0)
    max_attempts: int = Field(10, ge=1)
    retry_base_seconds: float = Field(2, gt=0)
    retry_max_seconds: float = Field(300, gt=0)

    @model_validator(mode="after")
    def _http_needs_url(self) -> NotificationSettings:
        if self.transport == "http" and not self.provider_url.startswith(("http://", "https://")):
            raise ValueError("provider_url must be an http(s) URL when transport is 'http'")
        return self


class SmtpSettings(Section):
    transport: Literal["smtp", "file"] = "file"
    outbox_dir: Path = Path("data/outbox")
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    security: Literal["none", "starttls", "tls"] = "none"
    from_address: str = "Herald <herald@localhost>"
    pool_size: int = Field(8, ge=1, le=100)
    timeout_seconds: float = Field(30, gt=0)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _crontab(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"not a crontab line (minute hour day month weekday): {exc}") from None
    return value


Zone = Annotated[str, AfterValidator(_known_zone)]
Crontab = Annotated[str, AfterValidator(_crontab)]


class ReportSettings(Section):
    daily_stats_to: list[str] = []
    daily_stats_at: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: Zone = "UTC"


class SubscriptionSettings(Section):
    double_opt_in: bool = True
    confirmation_cooldown_minutes: float = Field(60, ge=0)
    production: bool = False
    price_index: Literal["sandbox", "http"] = "sandbox"
    price_index_url: str = ""
    price_index_token: str = ""
    price_index_timeout_seconds: float = Field(10, gt=0)
    price_index_batch_size: int = Field(100, ge=1, le=1000)
    price_index_concurrency: int = Field(4, ge=1, le=100)
    update_schedule: Crontab = "0 * * * *"
    preheat_schedule: Crontab = "*/15 * * * *"
    send_schedule: Crontab = "30 * * * *"
    schedule_timezone: Zone = "UTC"
    email_max_attempts: int = Field(5, ge=1)
    email_retry_base_seconds: float = Field(60, gt=0)
    passport_email_url: str = ""
    passport_email_token: str = ""
    passport_email_timeout_seconds: float = Field(5, gt=0)

    @model_validator(mode="after")
    def _http_needs_url(self) -> SubscriptionSettings:
        if self.price_index == "http" and not self.price_index_url.startswith(("http://", "https://")):
            raise ValueError("price_index_url must be an http(s) URL when price_index is 'http'")
        if self.passport_email_url and not self.passport_email_url.startswith(("http://", "https://")):
            raise ValueError("passport_email_url must be an http(s) URL, or empty for no lookup")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HERALD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    auth: AuthSettings = AuthSettings()
    log: LogSettings = LogSettings()
    notifications: NotificationSettings = NotificationSettings()
    smtp: SmtpSettings = SmtpSettings()
    reports: ReportSettings = ReportSettings()
    subscriptions: SubscriptionSettings = SubscriptionSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment wins over them.
        return env_settings, init_settings


class SettingsError(Exception):
    """Start-up cannot go on: the message names the file or the key that is wrong."""


def config_path(cli_path: str | None, environ: os._Environ | dict = os.environ) -> Path:
    return Path(cli_path or environ.get("HERALD_CONFIG") or "config.toml")


def load_settings(path: Path, **overrides: dict) -> Settings:
    """Read `path` (a missing file means all defaults), apply HERALD_* and `overrides` sections."""
    data: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            problems.append(f"{key}: {error['msg']}")
        raise SettingsError(f"invalid settings ({path}): " + "; ".join(problems)) from None

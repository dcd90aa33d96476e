"""Herald's settings: one validated model built from config.toml and HERALD_* variables.

The key names are a public contract (DESIGN.md, "Settings"); each part of the code is handed only
its own section. A renamed key keeps working under its old name (`DEPRECATED`): its value applies
unless the new key is set too, and `warn_deprecated` says so once logging is set up. This module
reads files and the environment and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

log = logging.getLogger("herald.settings")


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
    transport: Literal["sandbox", "http", "mango"] = "sandbox"
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


class EmailSettings(Section):
    """The email delivery engine; its concurrency is smtp.pool_size."""

    max_attempts: int = Field(5, ge=1)
    retry_base_seconds: float = Field(60, gt=0)
    retry_max_seconds: float = Field(6 * 3600, gt=0)
    rate_limit: float = Field(0, ge=0)


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


def _origin(value: str) -> str:
    scheme, _, rest = value.partition("://")
    if scheme not in ("http", "https") or not rest or "/" in rest or value != value.strip():
        raise ValueError(f"{value!r} is not an origin: scheme://host[:port], e.g. 'https://victoriabrides.com', "
                         "with no path or trailing slash")
    return value


Origin = Annotated[str, AfterValidator(_origin)]


class ChatbotSettings(Section):
    """Browser calls of /chatbot/ (server/csrf.py): the pages' origins; none = server calls only."""

    allowed_origins: list[Origin] = []


class TelephonySettings(Section):
    """The MANGO OFFICE PBX (seed 004): where its API is, our key and salt (from the environment:
    HERALD_TELEPHONY__API_KEY, HERALD_TELEPHONY__API_SALT; never logged), the client-side rate
    limits and the time limits, and the extension and sender name of mailings' SMS when
    notifications.transport = "mango"."""

    api_url: str = "https://app.mango-office.ru/vpbx/"
    cc_api_url: str = "https://app.mango-office.ru/cc/"
    api_key: str = ""
    api_salt: str = ""
    timeout_seconds: float = Field(10, gt=0)
    rate_limits: bool = True
    rate_limit_wait_seconds: float = Field(2.5, ge=0)
    lockout_seconds: float = Field(120, gt=0)
    stats_poll_seconds: float = Field(5, gt=0)
    stats_timeout_seconds: float = Field(120, gt=0)
    result_timeout_seconds: float = Field(300, gt=0)
    sms_from_extension: str = Field("", pattern=r"^([0-9]{1,16})?$")
    sms_sender: str = Field("", pattern=r"^[^\x00-\x1f\x7f]*$")

    @model_validator(mode="after")
    def _urls(self) -> TelephonySettings:
        for name in ("api_url", "cc_api_url"):
            if not getattr(self, name).startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.api_key and self.api_salt)


class AdminSettings(Section):
    """The operators' web UI (/admin/): how long a login lasts."""

    session_hours: float = Field(12, gt=0, le=24 * 90)


class Settings(Section):
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    auth: AuthSettings = AuthSettings()
    log: LogSettings = LogSettings()
    notifications: NotificationSettings = NotificationSettings()
    smtp: SmtpSettings = SmtpSettings()
    email: EmailSettings = EmailSettings()
    reports: ReportSettings = ReportSettings()
    subscriptions: SubscriptionSettings = SubscriptionSettings()
    chatbot: ChatbotSettings = ChatbotSettings()
    telephony: TelephonySettings = TelephonySettings()
    admin: AdminSettings = AdminSettings()
    _deprecated: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _mango_transport_needs_the_pbx(self) -> Settings:
        if self.notifications.transport == "mango":
            if not self.telephony.configured:
                raise ValueError("notifications.transport = 'mango' needs telephony.api_key and telephony.api_salt")
            if not self.telephony.sms_from_extension:
                raise ValueError("notifications.transport = 'mango' needs telephony.sms_from_extension")
        return self

    @property
    def deprecated(self) -> tuple[str, ...]:
        """The deprecated keys these settings were given (section.key)."""
        return self._deprecated


# Old key -> new key. The old one is still read, from the file and from the environment.
DEPRECATED = {
    ("subscriptions", "email_max_attempts"): ("email", "max_attempts"),
    ("subscriptions", "email_retry_base_seconds"): ("email", "retry_base_seconds"),
}


class SettingsError(Exception):
    """Start-up cannot go on: the message names the file or the key that is wrong."""


def config_path(cli_path: str | None, environ: os._Environ | dict = os.environ) -> Path:
    return Path(cli_path or environ.get("HERALD_CONFIG") or "config.toml")


ENV_PREFIX = "HERALD_"
ENV_OTHER = {"HERALD_CONFIG", "HERALD_ADMIN_PASSWORD"}  # read by config_path and create_admin, not settings


def environment_settings(environ: Mapping[str, str]) -> tuple[dict[str, dict], dict[tuple[str, str], str]]:
    """The HERALD_<SECTION>__<KEY> variables as sections, and the variable behind each key.

    Any other HERALD_ variable is an error, as an unknown key in the file is: a misspelt name must
    not be silently ignored. Names are matched regardless of case; list values are JSON.
    """
    sections: dict[str, dict] = {}
    sources: dict[tuple[str, str], str] = {}
    problems = []
    for name, value in sorted(environ.items()):
        if not name.upper().startswith(ENV_PREFIX) or name.upper() in ENV_OTHER:
            continue
        section, delimiter, key = name[len(ENV_PREFIX):].lower().partition("__")
        if not delimiter:
            problems.append(f"{name}: unknown variable; settings are HERALD_<SECTION>__<KEY>, "
                            "e.g. HERALD_SERVER__PORT, and the file is HERALD_CONFIG")
            continue
        if section not in Settings.model_fields:
            problems.append(f"{name}: unknown variable; there is no settings section {section!r} "
                            f"(sections: {', '.join(Settings.model_fields)})")
            continue
        section_name, key_name = DEPRECATED.get((section, key), (section, key))
        field = Settings.model_fields[section_name].annotation.model_fields.get(key_name)
        if field is None:
            problems.append(f"{name}: unknown variable; section [{section}] has no key {key!r}")
            continue
        if get_origin(field.annotation) is list:
            try:
                value = json.loads(value)
            except ValueError:
                problems.append(f"{name}: not a JSON list, e.g. '[\"a\", \"b\"]'")
                continue
        sections.setdefault(section, {})[key] = value
        sources[(section, key)] = name
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems))
    return sections, sources


def load_settings(path: Path, environ: Mapping[str, str] = os.environ, **overrides: dict) -> Settings:
    """Read `path` (a missing file means all defaults), then `overrides` sections, then HERALD_*
    variables over both. Raises SettingsError naming each wrong key and where it was set."""
    data: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    env_sections, env_sources = environment_settings(environ)
    for section, values in [*overrides.items(), *env_sections.items()]:
        data[section] = {**data.get(section, {}), **values}
    deprecated, old_names = _move_deprecated(data)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            if not loc:  # a check across sections: its message names the keys
                problems.append(f"{error['msg'].removeprefix('Value error, ')} ({path})")
                continue
            loc = old_names.get(loc[:2], loc[:2]) + loc[2:]
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            variable = env_sources.get(loc[:2])
            if variable is not None:
                problems.append(f"{variable} (environment variable): {message}")
                continue
            from_env = sorted(name for (section, _), name in env_sources.items() if section == loc[0])
            where = ", ".join([str(path), *from_env]) if from_env else str(path)
            problems.append(f"{'.'.join(loc)} ({where}): {message}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
    settings._deprecated = deprecated
    return settings


def _move_deprecated(data: dict) -> tuple[tuple[str, ...], dict[tuple[str, str], tuple[str, str]]]:
    """Move each deprecated key's value to its new key, unless that is set too (it wins).

    Returns the deprecated keys found, and for each moved value its new key -> its old key, so
    that an invalid value is reported under the name it was given (and its variable, if any).
    """
    found, old_names = [], {}
    for (section, key), new in DEPRECATED.items():
        values = data.get(section)
        if not isinstance(values, dict) or key not in values:
            continue
        found.append(f"{section}.{key}")
        value = values.pop(key)
        target = data.setdefault(new[0], {})
        if isinstance(target, dict) and new[1] not in target:
            target[new[1]] = value
            old_names[new] = (section, key)
    return tuple(found), old_names


def warn_deprecated(settings: Settings) -> None:
    """One warning line naming the deprecated keys in use and their new names (call it once
    logging is set up)."""
    if settings.deprecated:
        new = [".".join(DEPRECATED[tuple(old.split("."))]) for old in settings.deprecated]
        log.warning("deprecated settings %s: use %s instead (the new key wins when both are set)",
                    ", ".join(settings.deprecated), ", ".join(new))

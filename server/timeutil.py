"""Time as Herald stores and shows it: UTC, ISO 8601, one fixed text form in SQLite.

Stored form: `YYYY-MM-DDTHH:MM:SS.mmmZ`, fixed width so that SQLite compares times as text.
"""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def utc_now() -> datetime:
    return datetime.now(UTC)


FIRST_YEAR, LAST_YEAR = 1970, 9998  # four-digit years keep the stored form fixed-width


def parse_datetime(value: str | datetime) -> datetime:
    """ISO 8601 with or without an offset; a naive time is UTC. Raises ValueError."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


def to_db(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_db(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def to_api(text: str | None) -> str | None:
    """Stored form -> API form: ISO 8601 with an explicit UTC offset (`Z`), milliseconds if any."""
    if text is None:
        return None
    return text.replace(".000Z", "Z")

"""Time as Herald stores and shows it: UTC, ISO 8601, one fixed text form in SQLite.

Stored form: `YYYY-MM-DDTHH:MM:SS.mmmZ`, fixed width so that SQLite compares times as text.
"""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def utc_now() -> datetime:
    return datetime.now(UTC)


FIRST_YEAR, LAST_YEAR = 1970, 9998  # four-digit years keep the stored form fixed-width


class OutOfRange(ValueError):
    """A well-formed time that Herald cannot store: its year (in UTC) is outside the range."""


def parse_datetime(value: str | datetime) -> datetime:
    """ISO 8601 with or without an offset; a naive time is UTC. Raises ValueError (OutOfRange
    for a time whose UTC year is not FIRST_YEAR..LAST_YEAR)."""
    out_of_range = OutOfRange(f"the year must be between {FIRST_YEAR} and {LAST_YEAR} (in UTC)")
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            if str(exc).startswith("year "):  # "year 0 is out of range"
                raise out_of_range from None
            raise
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00, 0001-01-01T00:00+03:00
        raise out_of_range from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise out_of_range
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

"""Sending windows: a daily span of local time (`HH:MM`-`HH:MM`, may cross midnight) in each
recipient's IANA zone. Pure functions of a UTC instant; no I/O.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from server.timeutil import UTC


def parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def contains(start: time, end: time, local: time) -> bool:
    """Is `local` inside [start, end)? A window whose end is before its start crosses midnight."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def is_open(start: time, end: time, zone_name: str, moment: datetime) -> bool:
    return contains(start, end, moment.astimezone(zone(zone_name)).time())


def next_opening(start: time, zone_name: str, moment: datetime) -> datetime:
    """The first instant after `moment` at which the local clock in `zone_name` reads `start`."""
    tz = zone(zone_name)
    local_day: date = moment.astimezone(tz).date()
    for offset in range(3):
        candidate = datetime.combine(local_day + timedelta(days=offset), start, tzinfo=tz).astimezone(UTC)
        if candidate > moment:
            return candidate
    raise AssertionError("a daily window opens within three days")

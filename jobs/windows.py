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
    """The first instant after `moment` from which the local clock in `zone_name` has reached
    `start`: when the clock reads it, or, on a day it skips it (a DST gap), the jump over it."""
    tz = zone(zone_name)
    local_day: date = moment.astimezone(tz).date()
    for offset in range(3):
        for candidate in _instants_reading(local_day + timedelta(days=offset), start, tz):
            if candidate > moment:
                return candidate
    raise AssertionError("a daily window opens within three days")


def _instants_reading(day: date, clock: time, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which `tz` reads `clock` on `day`: one on most days, two when the clock
    is set back over it, none when it is set forward over it (then: the instant of the jump)."""
    local = datetime.combine(day, clock)
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first < second:
        return [first, second]
    return [_transition(second, first, tz)]


def _transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The first whole second in (before, after] whose UTC offset is already `after`'s."""
    low, high = int(before.timestamp()), int(after.timestamp())
    offset_after = after.astimezone(tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)

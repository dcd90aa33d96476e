"""jobs/windows.py: sending windows in each recipient's local time, as pure functions of an instant."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from jobs.windows import contains, is_open, next_opening, parse_hhmm

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_parse_hhmm():
    assert parse_hhmm("09:05") == time(9, 5)
    assert parse_hhmm("23:59") == time(23, 59)


@pytest.mark.parametrize(("local", "inside"), [
    ("08:59", False), ("09:00", True), ("12:00", True), ("20:59", True), ("21:00", False), ("00:00", False),
])
def test_a_window_includes_its_start_and_excludes_its_end(local, inside):
    assert contains(time(9), time(21), parse_hhmm(local)) is inside


@pytest.mark.parametrize(("local", "inside"), [
    ("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True), ("01:59", True), ("02:00", False),
    ("12:00", False),
])
def test_a_window_whose_end_is_before_its_start_crosses_midnight(local, inside):
    assert contains(time(22), time(2), parse_hhmm(local)) is inside


@pytest.mark.parametrize(("zone", "inside"), [
    ("Europe/Moscow", True),        # 09:00
    ("Asia/Vladivostok", True),     # 16:00
    ("Asia/Kolkata", True),         # 11:30
    ("UTC", False),                 # 06:00
    ("America/New_York", False),    # 02:00
])
def test_the_same_instant_is_inside_the_window_in_some_zones_only(zone, inside):
    assert is_open(time(9), time(21), zone, at("2024-06-01T06:00:00")) is inside


@pytest.mark.parametrize(("zone", "inside"), [
    ("Europe/Moscow", True),          # 23:00, before midnight
    ("Asia/Tokyo", True),             # 05:00 the next day, after midnight
    ("UTC", False),                   # 20:00
    ("America/Los_Angeles", False),   # 13:00
])
def test_a_window_across_midnight_in_several_zones(zone, inside):
    assert is_open(time(22), time(6), zone, at("2024-06-01T20:00:00")) is inside


def test_next_opening_later_the_same_day_and_on_the_next_day():
    start = time(9)
    assert next_opening(start, "Europe/Moscow", at("2024-06-01T03:00:00")) == at("2024-06-01T06:00:00")
    assert next_opening(start, "Europe/Moscow", at("2024-06-01T07:00:00")) == at("2024-06-02T06:00:00")
    # At the very instant of opening, the next opening is a day later.
    assert next_opening(start, "Europe/Moscow", at("2024-06-01T06:00:00")) == at("2024-06-02T06:00:00")


def test_next_opening_counts_days_in_the_zone_not_in_utc():
    # 2024-06-01T13:00Z is already 01:00 on June 2 in Auckland (UTC+12).
    assert next_opening(time(9), "Pacific/Auckland", at("2024-06-01T13:00:00")) == at("2024-06-01T21:00:00")


def test_next_opening_follows_a_dst_change():
    # Berlin moves from UTC+1 to UTC+2 on 2024-03-31: 09:00 is 08:00Z on Saturday, 07:00Z on Sunday.
    assert next_opening(time(9), "Europe/Berlin", at("2024-03-30T06:00:00")) == at("2024-03-30T08:00:00")
    assert next_opening(time(9), "Europe/Berlin", at("2024-03-30T12:00:00")) == at("2024-03-31T07:00:00")
    # And back on 2024-10-27: 07:00Z on Saturday, 08:00Z on Sunday.
    assert next_opening(time(9), "Europe/Berlin", at("2024-10-26T12:00:00")) == at("2024-10-27T08:00:00")


def test_a_start_the_clock_skips_opens_when_the_clock_jumps_over_it():
    # On 2024-03-31 Berlin's clock goes from 02:00 straight to 03:00 (at 01:00Z); 02:30 never shows.
    opening = next_opening(time(2, 30), "Europe/Berlin", at("2024-03-30T23:00:00"))
    assert opening == at("2024-03-31T01:00:00")
    assert is_open(time(2, 30), time(5), "Europe/Berlin", opening)
    assert not is_open(time(2, 30), time(5), "Europe/Berlin", opening - timedelta(seconds=1))


def test_a_start_the_clock_shows_twice_opens_twice():
    # On 2024-10-27 Berlin's clock shows 02:00-03:00 twice: at 00:xxZ (CEST) and at 01:xxZ (CET).
    window = (time(2, 30), time(2, 45))
    first = next_opening(window[0], "Europe/Berlin", at("2024-10-26T22:00:00"))
    assert first == at("2024-10-27T00:30:00")
    between = at("2024-10-27T00:50:00")  # 02:50 summer time: closed
    assert not is_open(*window, "Europe/Berlin", between)
    second = next_opening(window[0], "Europe/Berlin", between)
    assert second == at("2024-10-27T01:30:00")
    assert is_open(*window, "Europe/Berlin", second)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Adelaide",
                                  "Asia/Kolkata", "Pacific/Chatham", "UTC"])
def test_next_opening_is_the_first_instant_the_window_is_open(zone):
    window = (time(9), time(17))
    moment = at("2024-01-01T00:00:00")
    for _ in range(1300):  # every 7 hours for about a year, through every DST change
        opening = next_opening(window[0], zone, moment)
        assert moment < opening <= moment + timedelta(hours=25)
        assert is_open(*window, zone, opening)
        assert not is_open(*window, zone, opening - timedelta(minutes=1))
        moment += timedelta(hours=7)

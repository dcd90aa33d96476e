"""Air-ticket directions (seed 001): the qkey grammar and the search filter's schema. Pure.

qkey = <from>_<to>_<date forward YYYY-MM-DD>_<date backward YYYY-MM-DD or None>_<class>_<adults>
       _<children>_<infants>_<national version>, e.g. c213_c2_2017-12-19_None_economy_2_1_0_ru.
A bad part raises QkeyError naming the part. The filter follows the seed: every field optional,
null means "no filter", an empty list is a filter that allows nothing, unknown keys are refused.
It lives in server/ because every layer needs it (handlers, storage, jobs, the price index's
gateway) and each may import server/'s pure modules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

POINT = re.compile(r"[a-z][0-9]+")
NATIONAL_VERSION = re.compile(r"[a-z]{2,3}")
CLASSES = ("economy", "business", "first", "comfort")
MAX_PASSENGERS = 9


class QkeyError(ValueError):
    """A qkey that does not follow the grammar; the message names the part."""


@dataclass(frozen=True)
class Direction:
    point_from: str
    point_to: str
    date_forward: date
    date_backward: date | None
    klass: str
    adults: int
    children: int
    infants: int
    national_version: str

    @property
    def qkey(self) -> str:
        backward = self.date_backward.isoformat() if self.date_backward else "None"
        return "_".join(map(str, (self.point_from, self.point_to, self.date_forward.isoformat(), backward,
                                  self.klass, self.adults, self.children, self.infants, self.national_version)))

    def shifted(self, days: int) -> Direction:
        """The same trip `days` later (both dates move, the trip's length stays)."""
        step = timedelta(days=days)
        backward = self.date_backward + step if self.date_backward else None
        return replace(self, date_forward=self.date_forward + step, date_backward=backward)

    def shift_to(self, other: Direction) -> int | None:
        """How many days `other` is this trip moved by, or None if it is another trip."""
        days = (other.date_forward - self.date_forward).days
        return days if self.shifted(days) == other else None


def _date(text: str, part: str) -> date:
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise QkeyError(f"{part} must be a date YYYY-MM-DD, got {text!r}") from None
    if not 1970 <= day.year <= 9990:  # room to move a trip by its date range either way
        raise QkeyError(f"{part} must be a year from 1970 to 9990, got {text!r}")
    return day


def _count(text: str, part: str, low: int) -> int:
    if not re.fullmatch(r"[0-9]", text) or not low <= int(text) <= MAX_PASSENGERS:
        raise QkeyError(f"{part} must be a whole number from {low} to {MAX_PASSENGERS}, got {text!r}")
    return int(text)


def parse_qkey(qkey: str) -> Direction:
    parts = qkey.split("_")
    if len(parts) != 9:
        raise QkeyError(
            "qkey must have 9 parts joined by '_': from, to, date forward, date backward or None, "
            f"class, adults, children, infants, national version; got {len(parts)}"
        )
    point_from, point_to, forward, backward, klass, adults, children, infants, national_version = parts
    for name, point in (("point from", point_from), ("point to", point_to)):
        if not POINT.fullmatch(point):
            raise QkeyError(f"{name} must be a point key such as c213, got {point!r}")
    if point_from == point_to:
        raise QkeyError("point to must differ from point from")
    date_forward = _date(forward, "date forward")
    date_backward = None if backward == "None" else _date(backward, "date backward (or None for one way)")
    if date_backward is not None and date_backward < date_forward:
        raise QkeyError("date backward must not be before date forward")
    if klass not in CLASSES:
        raise QkeyError(f"class must be one of {', '.join(CLASSES)}, got {klass!r}")
    direction = Direction(point_from, point_to, date_forward, date_backward, klass,
                          _count(adults, "adults", 1), _count(children, "children", 0),
                          _count(infants, "infants", 0), national_version)
    if direction.adults + direction.children + direction.infants > MAX_PASSENGERS:
        raise QkeyError(f"at most {MAX_PASSENGERS} passengers in all")
    if direction.infants > direction.adults:
        raise QkeyError("infants must not outnumber adults")
    if not NATIONAL_VERSION.fullmatch(national_version):
        raise QkeyError(f"national version must be 2-3 lowercase letters such as ru, got {national_version!r}")
    return direction


# -- the filter ------------------------------------------------------------------------------

IdList = list[StrictInt] | None
DayPart = Annotated[StrictInt, Field(ge=1, le=4)] | None  # 1 morning, 2 day, 3 evening, 4 night


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransferFilter(_Part):
    count: Annotated[StrictInt, Field(gt=0)] | None = None
    minDuration: Annotated[StrictInt, Field(ge=0)] | None = None
    maxDuration: Annotated[StrictInt, Field(ge=0)] | None = None
    hasAirportChange: Literal[False] | None = None
    hasNight: Literal[False] | None = None


class TimeFilter(_Part):
    forwardArrival: DayPart = None
    forwardDeparture: DayPart = None
    backwardArrival: DayPart = None
    backwardDeparture: DayPart = None


class AirportFilter(_Part):
    forwardDeparture: IdList = None
    forwardArrival: IdList = None
    forwardTransfers: IdList = None
    backwardDeparture: IdList = None
    backwardArrival: IdList = None
    backwardTransfers: IdList = None


class PriceFilter(_Part):
    withBaggage: Literal[True] | None = None
    airlines: IdList = None
    transfer: TransferFilter | None = None
    time: TimeFilter | None = None
    airport: AirportFilter | None = None
    filter_url_postfix: StrictStr | None = None

    def key(self) -> str:
        """What the price depends on, as canonical JSON ('' = no filter): nulls, empty groups and
        the URL postfix left out, so equal filters share one direction."""
        return canonical_json(self.model_dump(exclude={"filter_url_postfix"}))


def _without_nulls(value):
    if isinstance(value, dict):
        kept = {key: _without_nulls(item) for key, item in value.items() if item is not None}
        return {key: item for key, item in kept.items() if item != {}}
    return value


def canonical_json(value: dict) -> str:
    cleaned = _without_nulls(value)
    return json.dumps(cleaned, sort_keys=True, separators=(",", ":")) if cleaned else ""

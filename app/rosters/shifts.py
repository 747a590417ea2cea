"""Shift times in the roster's time zone. All arithmetic on instants is done in UTC, so a shift across a
daylight-saving change lasts what the clock on the wall says it lasts."""
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone(current_app.config["ROSTER_TIMEZONE"])


def local_instant(day: date, at: time) -> datetime:
    """The UTC instant of a wall-clock time on a day. A time that a spring-forward change skips is read with
    the offset before the change (fold=0); a time that a fall-back change repeats is its first occurrence."""
    tz = zone()
    wall = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    return wall.astimezone(timezone.utc)


@dataclass(frozen=True)
class Span:
    start: datetime  # UTC
    end: datetime  # UTC
    kept: bool = False  # the generator marks entries it must keep (planned, overrides, swaps)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end


def span(day: date, start: time, end: time) -> Span:
    """The instants a shift covers: from start on `day` to end on `day`, or on the next day if it crosses midnight."""
    end_day = day + timedelta(days=1) if end <= start else day
    return Span(local_instant(day, start), local_instant(end_day, end))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def local_today() -> date:
    return now_utc().astimezone(zone()).date()

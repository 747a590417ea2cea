"""Working days in mainland China: weekends, public holidays and the official make-up working days (调休).

Sources, in order: `content/holidays/<year>.yaml` (filled by an admin when the State Council publishes
the year's arrangement), then the `chinese-calendar` package (which knows 2004–2026), then weekends
only. A year with neither is reported by `unconfigured_years`, so pages can warn instead of crashing.

    # content/holidays/2027.yaml
    holidays: [2027-01-01, 2027-02-05, …]   # days off that would otherwise be working days
    workdays: [2027-02-20, …]               # make-up working days that fall on a weekend
"""
import logging
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import yaml
from flask import current_app, g

from app import safeyaml


@lru_cache(maxsize=32)
def _year_file(folder: str, year: int, mtime: float) -> tuple[frozenset, frozenset] | None:
    path = Path(folder) / f"{year}.yaml"
    if not path.is_file():
        return None
    as_dates = lambda key: frozenset(d if isinstance(d, date) else date.fromisoformat(str(d))  # noqa: E731
                                     for d in data.get(key) or [])
    try:
        data = safeyaml.load(path.read_text(encoding="utf-8")) or {}
        return as_dates("holidays"), as_dates("workdays")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
        # A broken file counts as no file: pages warn that the year is not configured instead of failing.
        logging.getLogger(__name__).error("%s ignored: %s", path, e)
        return None


def year_file(year: int) -> tuple[frozenset, frozenset] | None:
    folder = Path(current_app.config["CONTENT_DIR"]) / "holidays"
    path = folder / f"{year}.yaml"
    return _year_file(str(folder), year, path.stat().st_mtime if path.is_file() else 0.0)


def known(year: int) -> bool:
    """Whether holidays are configured for the year (file or package)."""
    if year_file(year) is not None:
        return True
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


def cached(kind: str, day: date, compute) -> bool:
    """Per app context (one request, one CLI command): a generator asks about the same days for every team."""
    memo = g.setdefault("workdays", {})
    key = (current_app.config["CONTENT_DIR"], kind, day)
    if key not in memo:
        memo[key] = compute(day)
    return memo[key]


def is_workday(day: date) -> bool:
    return cached("workday", day, _is_workday)


def _is_workday(day: date) -> bool:
    configured = year_file(day.year)
    if configured is not None:
        holidays, workdays = configured
        return day in workdays or (day.weekday() < 5 and day not in holidays)
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5  # neither source knows the year: weekends only (pages warn)


def nth_workday(start: date, n: int) -> date:
    """Day n of a plan that starts on `start` (day 1 is the first working day on or after start)."""
    day, count = start, 0
    while True:
        if is_workday(day):
            count += 1
            if count >= n:
                return day
        day += timedelta(days=1)


def unconfigured_years(*days: date) -> list[int]:
    """Years among `days` for which no holiday arrangement is configured (for the warning)."""
    return sorted(year for year in {d.year for d in days if d is not None} if not known(year))


def public_holiday(day: date) -> bool:
    """A statutory holiday (not merely a weekend): rosters staff these with their holiday minimum."""
    return cached("holiday", day, _public_holiday)


def _public_holiday(day: date) -> bool:
    configured = year_file(day.year)
    if configured is not None:
        return day in configured[0]
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return on_holiday and name is not None

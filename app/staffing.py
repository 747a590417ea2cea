"""Who works which shift: the roster answers, features that run per shift (checklists) ask. Knows no feature.

A feature that keeps duty teams registers two answers here; with none registered there are no duty teams and
nobody is on a shift, and per-shift work simply does not start.
"""
from dataclasses import dataclass
from datetime import date
from typing import Callable


@dataclass(frozen=True)
class DutyTeam:
    code: str
    department_id: int | None
    shifts: tuple[tuple[int, str], ...]  # (shift type id, name) of its live shift types, in order of start


# fn(team code) -> DutyTeam, or None when it has no such live team
team_finders: list[Callable[[str], DutyTeam | None]] = []
# fn(user id, days) -> {(shift type id, day)} the user is rostered on, among those days
roster_readers: list[Callable[[int, set[date]], set[tuple[int, date]]]] = []


def finds_teams(fn: Callable[[str], DutyTeam | None]) -> Callable[[str], DutyTeam | None]:
    team_finders.append(fn)
    return fn


def reads_rosters(fn: Callable[[int, set[date]], set[tuple[int, date]]]) -> Callable:
    roster_readers.append(fn)
    return fn


def duty_team(code: str) -> DutyTeam | None:
    """A live duty team with its shift types, by code."""
    return next((team for fn in team_finders if (team := fn(code)) is not None), None)


def rostered_shifts(user_id: int, days: set[date]) -> set[tuple[int, date]]:
    """The (shift type, day) pairs the user is on, among `days`."""
    if not days:
        return set()
    return {pair for fn in roster_readers for pair in fn(user_id, days)}


def on_shift(user_id: int, shift_type_id: int, day: date) -> bool:
    return (shift_type_id, day) in rostered_shifts(user_id, {day})


# Who is still in training. Checklists registers its answer (an open onboarding plan); the roster generator asks,
# and never leaves such a person alone on a shift.
trainee_sources: list[Callable[[set[int]], set[int]]] = []


def trainee_source(fn: Callable[[set[int]], set[int]]) -> Callable[[set[int]], set[int]]:
    """Register fn(user_ids) -> the ones among them still in training."""
    trainee_sources.append(fn)
    return fn


def trainees(user_ids: set[int]) -> set[int]:
    return set().union(*(fn(user_ids) for fn in trainee_sources)) if user_ids else set()

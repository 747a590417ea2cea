"""Who is on duty now and who is next, per team; correct across midnight and at shift boundaries."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.rosters.models import RosterEntry, ShiftType, Team
from app.rosters.shifts import Span, local_today, now_utc, span, zone


@dataclass
class OnDuty:
    team: Team
    now: list[tuple[RosterEntry, Span]] = field(default_factory=list)
    next: list[tuple[RosterEntry, Span]] = field(default_factory=list)


def on_duty(at: datetime | None = None, teams: list[Team] | None = None) -> list[OnDuty]:
    """A shift [start, end) covers `at`: it started at or before and ends after. Yesterday's entries are read
    too, because a night shift that began yesterday may still be running."""
    at = at or now_utc()
    today = at.astimezone(zone()).date()
    teams = teams if teams is not None else list(db.session.scalars(
        sa.select(Team).where(Team.retired_at.is_(None)).order_by(Team.code)))
    rows = db.session.scalars(sa.select(RosterEntry).join(ShiftType).where(
        RosterEntry.team_id.in_([t.id for t in teams]), RosterEntry.day >= today - timedelta(days=1),
        RosterEntry.day <= today + timedelta(days=2)).options(
        sa.orm.contains_eager(RosterEntry.shift_type), sa.orm.joinedload(RosterEntry.user)))
    result = {t.id: OnDuty(t) for t in teams}
    upcoming = {}
    for e in rows:
        s = span(e.day, e.shift_type.start, e.shift_type.end)
        if s.start <= at < s.end:
            result[e.team_id].now.append((e, s))
        elif s.start > at:
            upcoming.setdefault(e.team_id, []).append((e, s))
    for team_id, items in upcoming.items():
        first = min(s.start for _e, s in items)
        result[team_id].next = [(e, s) for e, s in items if s.start == first]
    for duty in result.values():
        duty.now.sort(key=lambda pair: (pair[1].start, pair[0].user.username))
        duty.next.sort(key=lambda pair: pair[0].user.username)
    return list(result.values())


def local(instant: datetime) -> datetime:
    return instant.astimezone(zone())


__all__ = ["OnDuty", "on_duty", "local", "local_today"]

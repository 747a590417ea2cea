"""Who is on duty now and who is next, per team; correct across midnight and at shift boundaries."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.acks.duties import signed_pairs
from app.auth.models import User
from app.extensions import db
from app.rosters.models import RosterEntry, ShiftType, Team
from app.rosters.shifts import Span, local_today, now_utc, span, zone


@dataclass
class OnDuty:
    team: Team
    now: list[tuple[RosterEntry, Span]] = field(default_factory=list)
    next: list[tuple[RosterEntry, Span]] = field(default_factory=list)
    unsigned: dict[int, list[str]] = field(default_factory=dict)  # entry id → SOPs of its shift not yet signed


def unsigned_sops(entries: list[RosterEntry]) -> dict[int, list[str]]:
    """For each entry, the shift type's SOPs whose current revision its person has not signed (one query)."""
    codes = {c for e in entries for c in e.shift_type.sop_codes}
    signed = signed_pairs({e.user_id for e in entries if e.shift_type.sop_codes}, codes)
    return {e.id: missing for e in entries
            if (missing := sorted(c for c in e.shift_type.sop_codes if (e.user_id, c) not in signed))}


def on_duty(at: datetime | None = None, teams: list[Team] | None = None) -> list[OnDuty]:
    """A shift [start, end) covers `at`: it started at or before and ends after. Yesterday's entries are read
    too, because a night shift that began yesterday may still be running; "next" looks as far as tomorrow."""
    at = at or now_utc()
    today = at.astimezone(zone()).date()
    teams = teams if teams is not None else list(db.session.scalars(
        sa.select(Team).where(Team.retired_at.is_(None)).order_by(Team.code)))
    shifts = {st.id: st for st in db.session.scalars(sa.select(ShiftType).where(ShiftType.team_id.in_([t.id for t in teams])))}
    # Plain rows first (no ORM objects for the thousand entries that are not on now or next), one span per
    # (day, shift type) rather than per entry.
    rows = db.session.execute(sa.select(RosterEntry.id, RosterEntry.team_id, RosterEntry.day, RosterEntry.shift_type_id).where(
        RosterEntry.team_id.in_([t.id for t in teams]), RosterEntry.day >= today - timedelta(days=1),
        RosterEntry.day <= today + timedelta(days=1))).all()
    spans: dict[tuple, Span] = {}
    now, upcoming = {}, {}
    for entry_id, team_id, day, shift_id in rows:
        s = spans.get((day, shift_id))
        if s is None:
            st = shifts[shift_id]
            s = spans[(day, shift_id)] = span(day, st.start, st.end)
        if s.start <= at < s.end:
            now[entry_id] = s
        elif s.start > at:
            upcoming.setdefault(team_id, []).append((entry_id, s))
    following = {}
    for items in upcoming.values():
        first = min(s.start for _id, s in items)
        following.update({entry_id: s for entry_id, s in items if s.start == first})
    loaded = {e.id: e for e in db.session.scalars(sa.select(RosterEntry).where(RosterEntry.id.in_([*now, *following])).options(
        sa.orm.joinedload(RosterEntry.user).load_only(User.username, User.display_name, User.phone)))}
    result = {t.id: OnDuty(t) for t in teams}
    for entry_id, s in now.items():
        result[loaded[entry_id].team_id].now.append((loaded[entry_id], s))
    for entry_id, s in following.items():
        result[loaded[entry_id].team_id].next.append((loaded[entry_id], s))
    unsigned = unsigned_sops([e for d in result.values() for e, _s in d.now + d.next])
    for duty in result.values():
        duty.unsigned = {e.id: unsigned[e.id] for e, _s in duty.now + duty.next if e.id in unsigned}
        duty.now.sort(key=lambda pair: (pair[1].start, pair[0].user.username))
        duty.next.sort(key=lambda pair: pair[0].user.username)
    return list(result.values())


def local(instant: datetime) -> datetime:
    return instant.astimezone(zone())


def my_next_shift(user_id: int) -> tuple[RosterEntry, Span, list[str]] | None:
    """The person's next (or current) shift and the SOPs they must sign before it: the in-app reminder."""
    at = now_utc()
    today = at.astimezone(zone()).date()
    for e in db.session.scalars(sa.select(RosterEntry).where(RosterEntry.user_id == user_id, RosterEntry.day >= today - timedelta(days=1))
                                .options(sa.orm.joinedload(RosterEntry.shift_type)).order_by(RosterEntry.day).limit(8)):
        s = span(e.day, e.shift_type.start, e.shift_type.end)
        if s.end > at:
            return e, s, unsigned_sops([e]).get(e.id, [])
    return None


__all__ = ["OnDuty", "on_duty", "local", "local_today"]

"""Roster rules: every violation is found and named (never silently accepted), and a generator that fills a
period from the team's pattern while keeping to the rules and to the staffing minimums (higher on public
holidays)."""
from collections import defaultdict
from dataclasses import astuple, dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.rosters.duty import unsigned_sops
from app.rosters.models import RosterEntry, ShiftType, Team
from app.rosters.shifts import Span, span
from app.clock import utcnow
from app.staffing import trainees
from app.workdays import public_holiday

RULE_TEXT = {
    "double": _l("double booking: overlaps another shift of the same person"),
    "rest": _l("less than %(h)s hours of rest since the previous shift"),
    "consecutive": _l("more than %(n)s days in a row"),
    "days_off": _l("fewer than %(n)s days off this month"),
    "understaffed": _l("understaffed: %(have)s of %(need)s"),
    "unsigned": _l("has not signed %(codes)s"),
}


@dataclass(frozen=True)
class Violation:
    rule: str
    user_id: int | None
    day: date
    shift_type_id: int | None
    params: tuple = ()

    @property
    def text(self) -> str:
        return str(RULE_TEXT[self.rule] % dict(self.params))


def entries(team: Team, start: date, end: date) -> list[RosterEntry]:
    """The team's entries on days start..end (inclusive), with a day either side for rest and overlaps."""
    return list(db.session.scalars(sa.select(RosterEntry).where(
        RosterEntry.team_id == team.id, RosterEntry.day >= start - timedelta(days=1), RosterEntry.day <= end + timedelta(days=1))
        .options(sa.orm.joinedload(RosterEntry.shift_type)).order_by(RosterEntry.day)))


def entry_span(e: RosterEntry) -> Span:
    return span(e.day, e.shift_type.start, e.shift_type.end)


def need(st: ShiftType, day: date) -> int:
    return st.holiday_min_staff if public_holiday(day) else st.min_staff


def check(team: Team, start: date, end: date) -> list[Violation]:
    """Every rule broken in start..end: per person (double booking, rest, run of days, days off) and per shift."""
    rules, found = team.rules, []
    rows = entries(team, start, end)
    inside = lambda d: start <= d <= end  # noqa: E731
    by_user = defaultdict(list)
    for e in rows:
        by_user[e.user_id].append((entry_span(e), e))
    for user_id, spans in by_user.items():
        found += person_violations(rules, user_id, spans, inside)
    if start.day == 1 and end == start.replace(day=month_length(start)):  # days off are counted per whole month
        for user in team.members:
            worked = {e.day for _s, e in by_user.get(user.id, []) if inside(e.day)}
            if (end - start).days + 1 - len(worked) < rules["min_days_off"]:
                found.append(Violation("days_off", user.id, end, None, (("n", rules["min_days_off"]),)))
    staffed = defaultdict(int)
    for e in rows:
        staffed[(e.day, e.shift_type_id)] += 1
    day = start
    while day <= end:
        for st in team.shift_types:
            if st.retired_at is None and staffed[(day, st.id)] < need(st, day):
                found.append(Violation("understaffed", None, day, st.id, (("have", staffed[(day, st.id)]), ("need", need(st, day)))))
        day += timedelta(days=1)
    missing = unsigned_sops([e for e in rows if inside(e.day)])
    for e in rows:
        if e.id in missing:
            found.append(Violation("unsigned", e.user_id, e.day, e.shift_type_id, (("codes", "、".join(missing[e.id])),)))
    return found


def person_violations(rules: dict, user_id: int, spans: list[tuple[Span, RosterEntry]], inside) -> list[Violation]:
    """One person's double bookings, short rests and too-long runs among their (span, entry) pairs."""
    found = []
    spans = sorted(spans, key=lambda pair: pair[0].start)
    for (a, ea), (b, eb) in zip(spans, spans[1:]):
        if a.overlaps(b):
            found.append(Violation("double", user_id, eb.day, eb.shift_type_id))
        elif (b.start - a.end).total_seconds() < rules["min_rest_hours"] * 3600 and inside(eb.day):
            found.append(Violation("rest", user_id, eb.day, eb.shift_type_id, (("h", rules["min_rest_hours"]),)))
    days = sorted({e.day for _s, e in spans})
    run = 1
    for prev, day in zip(days, days[1:]):
        run = run + 1 if day - prev == timedelta(days=1) else 1
        if run > rules["max_consecutive"] and inside(day):
            found.append(Violation("consecutive", user_id, day, None, (("n", rules["max_consecutive"]),)))
    return found


def swap_violations(entry: RosterEntry, user_id: int) -> list[Violation]:
    """The rules that giving `entry` to `user_id` would newly break for them (rest after a night shift, a double
    booking, too many days in a row), found without changing anything. Unsigned SOPs are not among them: the grid
    and the person's reminder already flag those, and signing before the shift clears them."""
    team = db.session.get(Team, entry.team_id)
    rules = team.rules
    reach = timedelta(days=rules["max_consecutive"] + 1)
    inside = lambda d: entry.day - reach <= d <= entry.day + reach  # noqa: E731
    theirs = [(entry_span(e), e) for e in entries(team, entry.day - reach, entry.day + reach) if e.user_id == user_id]
    before = set(person_violations(rules, user_id, theirs, inside))
    after = person_violations(rules, user_id, theirs + [(entry_span(entry), entry)], inside)
    return [v for v in after if v not in before]


def month_length(day: date) -> int:
    return ((day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day


def generate(team: Team, start: date, end: date, actor=None) -> int:
    """Fill start..end: generated entries there are replaced; manual ones, overrides and swaps stay and count
    (including those just before and after the period, for rest). Members are taken round-robin (fewest
    shifts so far first), skipping anyone who would break a rule. Someone still in training (onboarding) is
    never the only person on a shift: they fill a place only beside someone trained, and once a shift is staffed
    one of them may join it to learn. Returns the number of entries created. The caller commits."""
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.source == "generated",
                                                    RosterEntry.day >= start, RosterEntry.day <= end))
    rules, pattern = team.rules, team.pattern
    rest = timedelta(hours=rules["min_rest_hours"])
    busy = defaultdict(list)  # user → spans of kept entries (few), then the latest generated span (days go forward)
    days_worked = defaultdict(set)
    per_month = defaultdict(int)  # (user, year, month) → days worked
    staffed = defaultdict(int)
    learning = trainees({m.id for m in team.members})
    trained = defaultdict(int)  # (day, shift) → people on it who are not in training
    reach = timedelta(days=rules["max_consecutive"])  # kept days either side count towards a run of days in a row
    for e in entries(team, start - reach, end + reach):
        busy[e.user_id].append(Span(*astuple(entry_span(e))[:2], kept=True))
        if e.day not in days_worked[e.user_id]:
            days_worked[e.user_id].add(e.day)
            per_month[(e.user_id, e.day.year, e.day.month)] += 1
        staffed[(e.day, e.shift_type_id)] += 1
        trained[(e.day, e.shift_type_id)] += e.user_id not in learning
    members = [(index, m.id, m.start_date) for index, m in enumerate(team.members)]
    shifts = [st for st in team.shift_types if st.retired_at is None]
    count, rows, day, n = defaultdict(int), [], start, 0
    while day <= end:
        holiday = public_holiday(day)
        for st in shifts:
            s = span(day, st.start, st.end)
            places = (st.holiday_min_staff if holiday else st.min_staff) - staffed[(day, st.id)]
            for place in range(max(places, 0) + 1):  # the extra place is for one trainee beside a trained person
                shadow = place == max(places, 0)
                if shadow and not (learning and trained[(day, st.id)]):
                    break
                for index, user_id, began in sorted(members, key=lambda m: (count[m[1]], (m[1] + n) % len(members))):
                    if (began and day < began) or day in days_worked[user_id] or \
                            (user_id in learning and not trained[(day, st.id)]) or (shadow and user_id not in learning) or \
                            not available(user_id, day, s, rules, pattern, index, busy[user_id], rest, days_worked, per_month):
                        continue
                    rows.append({"team_id": team.id, "shift_type_id": st.id, "user_id": user_id, "day": day,
                                 "source": "generated", "updated_by_id": getattr(actor, "id", None), "updated_at": utcnow()})
                    busy[user_id] = [x for x in busy[user_id] if x.kept] + [Span(s.start, s.end)]
                    days_worked[user_id].add(day)
                    per_month[(user_id, day.year, day.month)] += 1
                    staffed[(day, st.id)] += 1
                    trained[(day, st.id)] += user_id not in learning
                    count[user_id] += 1
                    break
        day += timedelta(days=1)
        n += 1
    if rows:
        db.session.execute(sa.insert(RosterEntry), rows)  # one executemany, not an ORM flush per row
    return len(rows)


def available(user_id: int, day: date, s: Span, rules: dict, pattern: dict, index: int, spans: list[Span],
              rest: timedelta, days_worked: dict, per_month: dict) -> bool:
    """Whether giving this person the shift `s` on `day` keeps every rule."""
    if pattern.get("on") and pattern.get("off"):
        cycle = pattern["on"] + pattern["off"]
        if (day.toordinal() + index * pattern["off"]) % cycle >= pattern["on"]:
            return False  # a rest day of this member's N-on/M-off cycle
    for other in spans:
        if other.start < s.end + rest and s.start < other.end + rest:
            return False  # overlaps, or leaves less than the minimum rest before or after
    run, d = 0, day - timedelta(days=1)
    worked = days_worked[user_id]
    while d in worked:
        run, d = run + 1, d - timedelta(days=1)
    d = day + timedelta(days=1)
    while d in worked:  # kept entries after the day count towards the run too
        run, d = run + 1, d + timedelta(days=1)
    if run >= rules["max_consecutive"]:
        return False
    return month_length(day) - per_month[(user_id, day.year, day.month)] - 1 >= rules["min_days_off"]

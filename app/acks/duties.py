"""Who must acknowledge what, by when, and whether they have: one query serves every page and report.

A person must acknowledge an SOP's current revision when the SOP requires acknowledgement and its
audience names their department, one of their positions, or them. A signature counts for the current
revision when it has the same basis (no material revision since). The due date is the latest of the
basis revision's effective date, the person's start date and the day their current duties began, plus
the SOP's `ack_within_days`.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.acks.models import Acknowledgement, SopAudience
from app.auth.models import User, user_position
from app.extensions import db
from app.sops.models import Sop, SopRevision

DONE, OUTSTANDING, OVERDUE = "done", "outstanding", "overdue"


@dataclass
class Duty:
    user_id: int
    sop_id: int
    code: str
    title: str
    revision_id: int
    number: int
    version: str
    basis_id: int
    due: date
    signed_at: datetime | None  # the latest signature that counts for the current revision
    today: date

    @property
    def state(self) -> str:
        return state(self.signed_at is not None, self.due, self.today)

    @property
    def days_left(self) -> int:
        return (self.due - self.today).days


def state(signed: bool, due: date, today: date) -> str:
    if signed:
        return DONE
    return OVERDUE if due < today else OUTSTANDING


def due_date(effective: date, start: date | None, since: date | None, days: int) -> date:
    """The basis revision's effective date, the start date or the day the current duties began, whichever is
    latest, plus the SOP's days to acknowledge."""
    return max(d for d in (effective, start, since) if d is not None) + timedelta(days=days)


def required_pairs(users: sa.CTE, sop_id: int | None = None):
    """(user_id, sop_id) for every audience row that names the user, a position of theirs or their department."""
    a = SopAudience
    on_sop = [a.sop_id == sop_id] if sop_id is not None else []
    by_dept = sa.select(users.c.id.label("user_id"), a.sop_id).join(
        a, sa.and_(a.kind == "department", a.ref_id == users.c.department_id, *on_sop))
    by_position = sa.select(user_position.c.user_id, a.sop_id).join(users, users.c.id == user_position.c.user_id).join(
        a, sa.and_(a.kind == "position", a.ref_id == user_position.c.position_id, *on_sop))
    by_user = sa.select(users.c.id, a.sop_id).join(a, sa.and_(a.kind == "user", a.ref_id == users.c.id, *on_sop))
    return sa.union(by_dept, by_position, by_user).subquery("required")


def _duty_query(user_filters, sop_id: int | None, inline: bool = False):
    """The pieces every duty query shares: the people, their required (person, SOP) pairs, the SOP's current
    revision and its basis, joined and limited to live SOPs that require acknowledgement.

    inline: for one person, the people CTE is NOT MATERIALIZED, so the database starts from that person's row. A
    materialized one-row CTE left SQLite starting from every position's audience rows: 35 ms of CPU instead of
    0.6 ms for one person's duties with 2.5 million signatures (bench/todo.py)."""
    users = sa.select(User.id, User.department_id, User.start_date, User.duties_since).where(
        User.active, *user_filters).cte("people")
    if inline:
        users = users.prefix_with("NOT MATERIALIZED")
    req = required_pairs(users, sop_id)
    cur, basis = aliased(SopRevision), aliased(SopRevision)
    signed = sa.select(Acknowledgement.signed_at).where(
        Acknowledgement.user_id == req.c.user_id, Acknowledgement.basis_id == cur.basis_id)

    def select(*columns):
        return (sa.select(*columns).select_from(req).join(Sop, Sop.id == req.c.sop_id)
                .join(cur, cur.id == Sop.current_revision_id).join(basis, basis.id == cur.basis_id)
                .join(users, users.c.id == req.c.user_id).where(Sop.retired_at.is_(None), cur.requires_ack))
    return select, users, req, cur, basis, signed


def duty_statement(user_filters, sop_id: int | None = None, inline: bool = False) -> sa.Select:
    select, users, req, cur, basis, signed = _duty_query(user_filters, sop_id, inline)
    latest = signed.with_only_columns(sa.func.max(Acknowledgement.signed_at)).scalar_subquery()
    return select(req.c.user_id, Sop.id, Sop.code, cur.title, cur.id, cur.number, cur.version, cur.basis_id,
                  basis.effective, cur.ack_within_days, users.c.start_date, users.c.duties_since, latest)


def to_duties(rows, today: date | None) -> list[Duty]:
    today = today or date.today()
    return [Duty(user_id, sop, code, title, rev, number, version, basis_id, due_date(effective, start, since, days),
                 signed_at, today)
            for user_id, sop, code, title, rev, number, version, basis_id, effective, days, start, since, signed_at
            in rows]


def duties(*user_filters, sop_id: int | None = None, today: date | None = None, inline: bool = False) -> list[Duty]:
    """Every duty of the active users matching user_filters (e.g. User.department_id == 3), optionally one SOP."""
    return to_duties(db.session.execute(duty_statement(user_filters, sop_id, inline)), today)


@cache
def one_person() -> sa.Select:
    """person_duties's statement, built once with the person as a parameter: building it cost 3 ms of CPU, five
    times what running it costs (bench/todo.py), and every page's badge, /reading and /todo ask it."""
    return duty_statement((User.id == sa.bindparam("person_id"),), inline=True)


def person_duties(user_id: int, sop_id: int | None = None, today: date | None = None) -> list[Duty]:
    """One person's duties (my reading, the badge, the to-do list, signing)."""
    if sop_id is not None:
        return duties(User.id == user_id, sop_id=sop_id, today=today, inline=True)
    return to_duties(db.session.execute(one_person(), {"person_id": user_id}), today)


@dataclass(frozen=True)
class SopKey:
    """An SOP's current revision as a report row names it."""
    sop_id: int
    code: str
    title: str
    version: str
    number: int


def counts(*user_filters, today: date | None = None) -> list[tuple[int | None, SopKey, str, int]]:
    """(department id, SOP, state, how many duties) for the active users matching user_filters, counted by the
    database: the reports' numbers without building one Duty per person and SOP.

    Start dates and duty changes older than the longest acknowledgement window cannot move a due date past
    today, so they are grouped together and the groups stay few.
    """
    today = today or date.today()
    longest = db.session.scalar(sa.select(sa.func.max(SopRevision.ack_within_days))) or 0
    horizon = today - timedelta(days=longest + 1)
    select, users, _req, cur, basis, signed = _duty_query(user_filters, None)

    # Start dates and duty changes before the horizon count as "long ago" (NULL). The same expression objects
    # go in SELECT and GROUP BY, so PostgreSQL sees one expression with one parameter.
    recent_start, recent_since = (sa.case((c >= horizon, c)) for c in (users.c.start_date, users.c.duties_since))
    # Grouped by primary keys, on which the other columns depend (PostgreSQL accepts that; sorting by them is slower).
    group = (users.c.department_id, Sop.id, cur.id, basis.id, recent_start, recent_since)
    columns = (users.c.department_id, Sop.id, Sop.code, cur.title, cur.version, cur.number, basis.effective,
               cur.ack_within_days, recent_start, recent_since)
    n_signed = sa.func.sum(sa.case((signed.exists(), 1), else_=0))
    out = []
    for dept, sop, code, title, version, number, effective, days, start, since, n, done in db.session.execute(
            select(*columns, sa.func.count(), n_signed).group_by(*group)):
        key = SopKey(sop, code, title, version, number)
        due = due_date(effective, start, since, days)
        out += [(dept, key, DONE, done), (dept, key, state(False, due, today), n - done)]
    return out


def by_state(items: list[Duty]) -> dict[str, list[Duty]]:
    """Overdue first (most overdue first), then outstanding by due date, then done (latest first)."""
    groups = {OVERDUE: [], OUTSTANDING: [], DONE: []}
    for d in items:
        groups[d.state].append(d)
    groups[OVERDUE].sort(key=lambda d: (d.due, d.code))
    groups[OUTSTANDING].sort(key=lambda d: (d.due, d.code))
    groups[DONE].sort(key=lambda d: d.signed_at, reverse=True)
    return groups


def owed_count(user: User) -> int:
    """The badge: how many SOPs this person still has to sign."""
    return sum(1 for d in person_duties(user.id) if d.state != DONE)


def last_signatures(user_id: int, sop_ids: list[int]) -> dict[int, Acknowledgement]:
    """Each SOP's most recent signature by this person, whatever revision it was for."""
    if not sop_ids:
        return {}
    latest = (sa.select(sa.func.max(Acknowledgement.id)).where(Acknowledgement.user_id == user_id,
              Acknowledgement.sop_id.in_(sop_ids)).group_by(Acknowledgement.sop_id))
    acks = db.session.scalars(sa.select(Acknowledgement).where(Acknowledgement.id.in_(latest))
                              .options(sa.orm.joinedload(Acknowledgement.revision)))
    return {a.sop_id: a for a in acks}


CURRENT = aliased(SopRevision, name="current_revision")


def signed_pairs(user_ids: set[int], codes: set[str]) -> set[tuple[int, str]]:
    """(person, SOP) pairs where the person has signed the SOP's current revision: one query for many people."""
    if not user_ids or not codes:
        return set()
    return {(user_id, code) for user_id, code in db.session.execute(
        sa.select(Acknowledgement.user_id, Sop.code).distinct()
        .join(CURRENT, CURRENT.basis_id == Acknowledgement.basis_id).join(Sop, Sop.current_revision_id == CURRENT.id)
        .where(Sop.code.in_(codes), Acknowledgement.user_id.in_(user_ids)))}


def signed_codes(user_id: int, codes: set[str]) -> set[str]:
    """Which of these SOPs the person has signed in their current revision (a checklist item's test)."""
    return {code for _user, code in signed_pairs({user_id}, codes)}

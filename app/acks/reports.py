"""Managers' views of the duties: per department, per SOP, per person, and the people × SOPs matrix.

Managers see the people of their own department; admins see everyone. The scope is decided here,
once, and every report goes through it.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from app.acks.duties import DONE, OUTSTANDING, OVERDUE, Duty, counts, duties
from app.acks.models import Acknowledgement
from app.auth.models import User
from app.extensions import db
from app.org import Department
from app.sops.models import Sop, SopRevision


def visible_departments() -> list[Department]:
    """The departments the current user may report on: all for admins, their own for managers."""
    stmt = sa.select(Department).order_by(Department.id)
    if current_user.role != "admin":
        stmt = stmt.where(Department.id == (current_user.department_id or -1))
    return list(db.session.scalars(stmt))


def get_department(code: str) -> Department:
    dept = db.session.scalar(sa.select(Department).where(Department.code == code))
    if dept is None:
        abort(404)
    if current_user.role != "admin" and dept.id != current_user.department_id:
        abort(403)
    return dept


def get_person(username: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        abort(404)
    if current_user.role != "admin" and user.department_id != current_user.department_id:
        abort(403)
    return user


def people_filter():
    """The user filter that limits a report to what the current user may see."""
    if current_user.role == "admin":
        return sa.true()
    return User.department_id == (current_user.department_id or -1)


@dataclass
class Tally:
    """Counts of duties in each state; compliance is the share signed."""
    counts: Counter = field(default_factory=Counter)

    def add(self, duty: Duty) -> None:
        self.add_count(duty.state, 1)

    def add_count(self, state: str, n: int) -> None:
        self.counts[state] += n

    @property
    def required(self) -> int:
        return sum(self.counts.values())

    @property
    def percent(self) -> int | None:
        return round(100 * self.counts[DONE] / self.required) if self.required else None

    def __getitem__(self, state: str) -> int:
        return self.counts[state]


def department_overview(departments: list[Department]) -> list[tuple[Department, Tally]]:
    """Compliance % per department, over the duties of the people in it."""
    tallies = defaultdict(Tally)
    for dept_id, _sop, state, n in counts(User.department_id.in_([d.id for d in departments])):
        tallies[dept_id].add_count(state, n)
    return [(d, tallies[d.id]) for d in departments]


@dataclass
class SopRow:
    code: str
    title: str
    version: str
    number: int
    tally: Tally


def department_report(dept: Department) -> tuple[Tally, list[SopRow]]:
    """For one department: the overall tally and one row per SOP its people must sign."""
    total, rows = Tally(), {}
    for _dept, sop, state, n in counts(User.department_id == dept.id):
        total.add_count(state, n)
        row = rows.setdefault(sop.sop_id, SopRow(sop.code, sop.title, sop.version, sop.number, Tally()))
        row.tally.add_count(state, n)
    ordered = sorted(rows.values(), key=lambda r: (r.tally.percent if r.tally.percent is not None else 101, r.code))
    return total, ordered


def people_of(user_ids) -> dict[int, User]:
    users = db.session.scalars(sa.select(User).where(User.id.in_(set(user_ids)))
                               .options(sa.orm.selectinload(User.positions), sa.orm.joinedload(User.department)))
    return {u.id: u for u in users}


def matrix(dept: Department) -> tuple[list[User], list[tuple[int, str, str]], dict[tuple[int, int], Duty]]:
    """People × SOPs for one department: rows, columns (sop id, code, title) and the duty in each cell."""
    cells = {(d.user_id, d.sop_id): d for d in duties(User.department_id == dept.id)}
    people = sorted(people_of(u for u, _s in cells).values(), key=lambda u: u.username)
    columns = sorted({(d.sop_id, d.code, d.title) for d in cells.values()}, key=lambda c: c[1])
    return people, columns, cells


def sop_people(sop: Sop) -> tuple[Tally, dict[str, list[tuple[User, Duty]]]]:
    """For one SOP: who must sign it (within the current user's scope), grouped by state."""
    found = duties(people_filter(), sop_id=sop.id)
    users = people_of(d.user_id for d in found)
    tally, groups = Tally(), {OVERDUE: [], OUTSTANDING: [], DONE: []}
    for duty in found:
        tally.add(duty)
        groups[duty.state].append((users[duty.user_id], duty))
    for items in groups.values():
        items.sort(key=lambda pair: (pair[1].due, pair[0].username))
    return tally, groups


def signatures(sop: Sop, revision: SopRevision | None = None) -> list[Acknowledgement]:
    """Every signature of the SOP (or of one revision), within the current user's scope, oldest first."""
    stmt = (sa.select(Acknowledgement).join(Acknowledgement.user).where(Acknowledgement.sop_id == sop.id, people_filter())
            .options(sa.orm.joinedload(Acknowledgement.revision).load_only(
                SopRevision.number, SopRevision.version, SopRevision.basis_id, SopRevision.change),
                sa.orm.joinedload(Acknowledgement.user).joinedload(User.department))
            .order_by(Acknowledgement.signed_at, Acknowledgement.id))
    if revision is not None:
        stmt = stmt.where(Acknowledgement.revision_id == revision.id)
    return list(db.session.scalars(stmt))


def person_signatures(user: User) -> list[Acknowledgement]:
    return list(db.session.scalars(
        sa.select(Acknowledgement).where(Acknowledgement.user_id == user.id)
        .options(sa.orm.joinedload(Acknowledgement.revision), sa.orm.joinedload(Acknowledgement.sop))
        .order_by(Acknowledgement.signed_at.desc(), Acknowledgement.id.desc())))

"""What the roster has waiting (swaps to answer or approve, handovers to confirm), its dashboard numbers, and its
answers to "who is on this shift" (app.staffing) for features that run per shift."""
from datetime import date, timedelta

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from app import staffing
from app.auth.models import User
from app.extensions import db
from app.rosters.models import Handover, RosterEntry, ShiftType, SwapRequest, Team
from app.rosters.service import supervises
from app.rosters.shifts import local_today
from app.waiting import Item, Row, Section, dashboard_section, waiting_for


@staffing.finds_teams
def find_team(code: str) -> staffing.DutyTeam | None:
    team = db.session.scalar(sa.select(Team).where(Team.code == code, Team.retired_at.is_(None)))
    if team is None:
        return None
    return staffing.DutyTeam(team.code, team.department_id,
                             tuple((s.id, s.name) for s in team.shift_types if s.retired_at is None))


@staffing.reads_rosters
def rostered(user_id: int, days: set[date]) -> set[tuple[int, date]]:
    return set(db.session.execute(sa.select(RosterEntry.shift_type_id, RosterEntry.day).where(
        RosterEntry.user_id == user_id, RosterEntry.day.in_(days))))


def next_shift(handover: Handover, shifts: list[ShiftType]) -> tuple[int, date] | None:
    """The shift that takes over from the handover's: the next one that day, else the first of the next day."""
    live = [s for s in shifts if s.retired_at is None]
    later = [s for s in live if s.start > handover.shift_type.start]
    if later:
        return later[0].id, handover.day
    return (live[0].id, handover.day + timedelta(days=1)) if live else None


def unconfirmed(team_ids, since: date) -> list[Handover]:
    return list(db.session.scalars(sa.select(Handover).where(
        Handover.team_id.in_(team_ids), Handover.confirmed_at.is_(None), Handover.day >= since)
        .options(sa.orm.joinedload(Handover.shift_type), sa.orm.joinedload(Handover.team).selectinload(Team.shift_types))
        .order_by(Handover.day, Handover.id)))


def incoming(handovers: list[Handover]) -> dict[int, list[int]]:
    """handover id -> the people rostered on the shift that takes over (they confirm it)."""
    nexts = {h.id: next_shift(h, h.team.shift_types) for h in handovers}
    wanted = {n for n in nexts.values() if n}
    if not wanted:
        return {}
    on = {}
    for shift_id, day, user_id in db.session.execute(sa.select(RosterEntry.shift_type_id, RosterEntry.day, RosterEntry.user_id)
                                                     .where(RosterEntry.shift_type_id.in_({s for s, _d in wanted}),
                                                            RosterEntry.day.in_({d for _s, d in wanted}))):
        on.setdefault((shift_id, day), []).append(user_id)
    return {hid: on.get(n, []) for hid, n in nexts.items() if n}


def handover_url(h: Handover) -> str:
    return url_for("rosters.handover", code=h.team.code, shift=h.shift_type.code, day=h.day.isoformat())


@waiting_for
def swaps_and_handovers(user, _limit: int | None) -> tuple[list[Item], int]:
    """A short list (a few swaps and handovers): all of them, whatever the limit."""
    items = []
    asked = db.session.scalars(sa.select(SwapRequest).where(SwapRequest.colleague_id == user.id,
                                                            SwapRequest.status == "pending")
                               .options(sa.orm.joinedload(SwapRequest.entry).joinedload(RosterEntry.shift_type),
                                        sa.orm.joinedload(SwapRequest.requester)))
    for s in asked:
        items.append(Item("swap", _("Swap request from %(name)s", name=s.requester.display_name),
                          url_for("rosters.swaps", _anchor=f"swap-{s.id}"), s.entry.day,
                          f"{s.entry.day} {s.entry.shift_type.name}", key=f"swap:{s.id}"))
    teams = db.session.scalars(sa.select(Team).where(Team.retired_at.is_(None))).all()
    supervised = [t.id for t in teams if supervises(user, t)]
    if supervised:
        approve = db.session.scalars(sa.select(SwapRequest).where(
            SwapRequest.team_id.in_(supervised), SwapRequest.status == "accepted", SwapRequest.needs_approval)
            .options(sa.orm.joinedload(SwapRequest.entry).joinedload(RosterEntry.shift_type),
                     sa.orm.joinedload(SwapRequest.requester), sa.orm.joinedload(SwapRequest.colleague)))
        for s in approve:
            items.append(Item("swap_approve", _("Approve a swap: %(a)s → %(b)s", a=s.requester.display_name,
                                                 b=s.colleague.display_name),
                              url_for("rosters.swaps", _anchor=f"swap-{s.id}"), s.entry.day,
                              f"{s.entry.day} {s.entry.shift_type.name}", key=f"swap-approve:{s.id}"))
    today = local_today()
    mine = {t for t, in db.session.execute(sa.select(RosterEntry.team_id).distinct().where(
        RosterEntry.user_id == user.id, RosterEntry.day.between(today - timedelta(days=2), today + timedelta(days=1))))}
    handovers = [h for h in unconfirmed(mine, today - timedelta(days=2)) if h.author_id != user.id] if mine else []
    who = incoming(handovers)
    for h in handovers:
        if user.id in who.get(h.id, []):
            items.append(Item("handover", _("Confirm the handover of %(shift)s, %(day)s", shift=h.shift_type.name,
                                            day=h.day.isoformat()), handover_url(h), h.day, h.team.name,
                              key=f"handover:{h.id}"))
    return items, len(items)


def department_teams(department_id: int) -> list[Team]:
    return list(db.session.scalars(sa.select(Team).where(Team.department_id == department_id, Team.retired_at.is_(None))))


@dashboard_section
def pending_swaps(department_id: int) -> Section:
    teams = {t.id: t for t in department_teams(department_id)}
    rows = []
    if teams:
        swaps = db.session.scalars(sa.select(SwapRequest).where(
            SwapRequest.team_id.in_(teams), SwapRequest.status.in_(("pending", "accepted")), SwapRequest.open_key.is_not(None))
            .options(sa.orm.joinedload(SwapRequest.entry).joinedload(RosterEntry.shift_type),
                     sa.orm.joinedload(SwapRequest.requester), sa.orm.joinedload(SwapRequest.colleague))
            .order_by(SwapRequest.id))
        for s in swaps:
            # Pending: the colleague must answer. Accepted at short notice: the supervisor must approve.
            who = s.colleague if s.status == "pending" else db.session.get(User, teams[s.team_id].supervisor_id or 0)
            rows.append(Row((who.id,) if who else (), who.display_name if who else _("the team's supervisor"),
                            _("Swap %(day)s %(shift)s: %(a)s → %(b)s", day=s.entry.day.isoformat(),
                              shift=s.entry.shift_type.name, a=s.requester.display_name, b=s.colleague.display_name),
                            url_for("rosters.swaps", _anchor=f"swap-{s.id}"), s.entry.day))
    return Section("pending_swaps", _("Pending swaps"), tuple(rows), order=20)


@dashboard_section
def unconfirmed_handovers(department_id: int) -> Section:
    """Handovers nobody confirmed, older than today (the next shift has started), from the last two weeks."""
    teams = [t.id for t in department_teams(department_id)]
    today = local_today()
    handovers = [h for h in unconfirmed(teams, today - timedelta(days=14)) if h.day < today] if teams else []
    who = incoming(handovers)
    names = {u.id: u.display_name for u in db.session.scalars(sa.select(User).where(
        User.id.in_({u for ids in who.values() for u in ids})))}
    rows = []
    for h in handovers:
        what = _("Handover %(day)s %(shift)s · %(team)s", day=h.day.isoformat(), shift=h.shift_type.name, team=h.team.name)
        people = who.get(h.id) or [None]
        rows += [Row((u,) if u else (), names.get(u, _("nobody rostered")), what, handover_url(h), h.day) for u in people]
    return Section("unconfirmed_handovers", _("Unconfirmed handovers"), tuple(rows), order=30)

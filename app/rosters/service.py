"""Roster actions: editing a cell, swaps with their approval, handovers with open items. The callers commit."""
import json
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from app import audit
from app.auth.models import User
from app.errors import UserError, check_length
from app.extensions import db
from app.rosters.models import CATEGORIES, Handover, HandoverAddendum, HandoverItem, RosterEntry, ShiftType, SwapRequest, Team
from app.clock import utcnow
from app.rosters.rules import swap_violations
from app.rosters.shifts import now_utc, span, zone
from app.waiting import Event, emit
from app.web import path_for


class RosterError(UserError):
    """A refused roster action, with its HTTP status."""


def is_member(user: User, team: Team) -> bool:
    return any(m.id == user.id for m in team.members)


def supervises(user: User, team: Team) -> bool:
    """The team's supervisor, a manager of its department, or an admin."""
    return user.role == "admin" or team.supervisor_id == user.id or (
        user.role == "manager" and team.department_id is not None and user.department_id == team.department_id)


def may_read(user: User, team: Team) -> bool:
    """The one read rule for a team's grid, handovers, duty log, swaps, exports and feeds: its members, its
    supervisor, managers of its department and admins. A guest's room number in a handover note is for the
    people who hand over to each other and those who answer for them, not for every colleague."""
    return is_member(user, team) or supervises(user, team)


def readable_teams(user: User, retired: bool = False) -> list[Team]:
    """The teams the user may read, live ones only unless asked (listings filter by these, never by a rule of
    their own). A retired team's handovers stay in the duty log for the same people."""
    stmt = sa.select(Team).order_by(Team.code).options(sa.orm.selectinload(Team.members))
    if not retired:
        stmt = stmt.where(Team.retired_at.is_(None))
    return [t for t in db.session.scalars(stmt) if may_read(user, t)]


# Cells ---------------------------------------------------------------------------------------------


def set_cell(actor: User, team: Team, user_id: int, day: date, shift_code: str, note: str = "") -> list[RosterEntry]:
    """Put a member on one shift that day (or none, with an empty code). Supervisors plan; any other change
    by a manager or admin is an override. Both are audited and shown on the cell."""
    if not supervises(actor, team):
        raise RosterError("Only the team's supervisor or a manager can change the roster.", 403)
    member = next((m for m in team.members if m.id == user_id), None)
    if member is None:
        raise RosterError("That person is not in this team.", 404)
    shift = next((s for s in team.shift_types if s.code == shift_code and s.retired_at is None), None)
    if shift_code and shift is None:
        raise RosterError("Unknown shift '%(code)s'.", code=shift_code)
    old = list(db.session.scalars(sa.select(RosterEntry).where(
        RosterEntry.team_id == team.id, RosterEntry.user_id == user_id, RosterEntry.day == day)))
    before = sorted(e.shift_type.code for e in old)
    for e in old:
        db.session.delete(e)
    db.session.flush()
    source = "manual" if team.supervisor_id == actor.id else "override"
    if shift:
        db.session.add(RosterEntry(team_id=team.id, shift_type_id=shift.id, user_id=user_id, day=day, source=source,
                                   note=note.strip()[:200], updated_by_id=actor.id))
    audit.record("roster.set", f"team:{team.code}", {"user": member.username, "day": day, "before": before,
                                                      "after": [shift_code] if shift else [], "source": source})
    db.session.flush()
    return list(db.session.scalars(sa.select(RosterEntry).where(
        RosterEntry.team_id == team.id, RosterEntry.user_id == user_id, RosterEntry.day == day)))


# Swaps ---------------------------------------------------------------------------------------------


def request_swap(user: User, entry_id: int, colleague_name: str) -> SwapRequest:
    entry = db.session.get(RosterEntry, entry_id) if entry_id else None
    if entry is None:
        raise RosterError("There is no such shift.", 404)
    if entry.user_id != user.id:
        raise RosterError("You can only offer your own shifts.", 403)
    team = db.session.get(Team, entry.team_id)
    colleague = find_colleague(team, colleague_name)
    if colleague is not None and colleague.id == user.id:
        raise RosterError("You cannot swap a shift with yourself.")
    if colleague is None or not is_member(colleague, team):
        raise RosterError("'%(name)s' is not a member of %(team)s.", name=(colleague_name or "").strip(), team=team.name)
    if db.session.scalar(sa.select(SwapRequest.id).where(SwapRequest.open_key == entry.id)):
        raise RosterError("This shift already has an open swap request.", 409)
    if span(entry.day, entry.shift_type.start, entry.shift_type.end).start <= now_utc():
        raise RosterError("This shift has already started.")
    swap = SwapRequest(team_id=team.id, entry_id=entry.id, requester_id=user.id, colleague_id=colleague.id,
                       open_key=entry.id)
    db.session.add(swap)
    db.session.flush()
    audit.record("swap.request", f"team:{team.code}", {"swap": swap.id, "day": entry.day, "to": colleague.username})
    emit(Event(kind="swap_requested", text=f"有一个换班请求等你回复：{shift_label(entry)}（{team.name}）。",
               url=path_for("rosters.swaps"), user_ids=(colleague.id,), team_id=team.id,
               department_id=team.department_id, extra={"swap_id": swap.id}))
    return swap


def shift_label(entry: RosterEntry) -> str:
    """"12月3日 白班": the day and shift a message names (always Chinese: the group reads Chinese)."""
    return f"{entry.day.month}月{entry.day.day}日 {entry.shift_type.name}"


def find_colleague(team: Team, name: str | None) -> User | None:
    """A member named by username or by the name people know them by (马骏); else whoever has that username."""
    name = (name or "").strip()
    named = [m for m in team.members if name in (m.username, m.display_name)]
    if len(named) > 1:
        raise RosterError("Several members of %(team)s are called %(name)s: choose by username.", team=team.name, name=name)
    return named[0] if named else db.session.scalar(sa.select(User).where(User.username == name))


def short_notice(entry: RosterEntry) -> bool:
    notice = timedelta(days=current_app.config["SWAP_NOTICE_DAYS"])
    return span(entry.day, entry.shift_type.start, entry.shift_type.end).start - now_utc() < notice


def apply_swap(swap: SwapRequest, actor: User) -> None:
    entry = swap.entry
    clash = db.session.scalar(sa.select(RosterEntry.id).where(
        RosterEntry.shift_type_id == entry.shift_type_id, RosterEntry.user_id == swap.colleague_id, RosterEntry.day == entry.day))
    if clash:
        raise RosterError("The colleague is already on that shift.", 409)
    entry.user_id, entry.source, entry.updated_by_id, entry.updated_at = swap.colleague_id, "swap", actor.id, utcnow()
    entry.note = gettext("swapped from %(name)s", name=swap.requester.display_name)
    swap.status, swap.open_key, swap.decided_by_id, swap.decided_at = "applied", None, actor.id, utcnow()


def answer_swap(user: User, swap_id: int, accept: bool) -> SwapRequest:
    """The colleague accepts or declines. Accepted at short notice, it waits for the supervisor."""
    swap = db.session.get(SwapRequest, swap_id)
    if swap is None:
        raise RosterError("There is no such swap request.", 404)
    if swap.colleague_id != user.id:
        raise RosterError("Only the colleague asked can answer this request.", 403)
    if swap.status != "pending":
        raise RosterError("This request has already been answered.", 409)
    if not accept:
        swap.status, swap.open_key, swap.decided_by_id, swap.decided_at = "declined", None, user.id, utcnow()
    elif short_notice(swap.entry) or swap_violations(swap.entry, swap.colleague_id):
        swap.status, swap.needs_approval = "accepted", True  # the supervisor decides, seeing what it would break
        team = db.session.get(Team, swap.team_id)
        emit(Event(kind="swap_approval", text=f"一个换班等待审批：{shift_label(swap.entry)}（{team.name}）。",
                   url=path_for("rosters.swaps"), user_ids=(team.supervisor_id,) if team.supervisor_id else (),
                   team_id=team.id, department_id=team.department_id, extra={"swap_id": swap.id}))
    else:
        apply_swap(swap, user)
    audit.record("swap.answer", f"swap:{swap.id}", {"accept": accept, "status": swap.status})
    return swap


def decide_swap(user: User, swap_id: int, approve: bool, reason: str = "") -> SwapRequest:
    """The supervisor approves or refuses a swap. One that would break a roster rule for the colleague (8 h of
    rest after a night shift) is approved only with a reason, which the audit trail keeps with the rules broken."""
    swap = db.session.get(SwapRequest, swap_id)
    if swap is None:
        raise RosterError("There is no such swap request.", 404)
    if not supervises(user, db.session.get(Team, swap.team_id)):
        raise RosterError("Only the team's supervisor can approve a swap.", 403)
    if swap.status != "accepted" or not swap.needs_approval:
        raise RosterError("This request is not waiting for approval.", 409)
    detail = {"approve": approve}
    if approve:
        broken, reason = swap_violations(swap.entry, swap.colleague_id), (reason or "").strip()
        if broken and not reason:
            raise RosterError("This swap would break the roster rules: %(rules)s. To approve it anyway, give a reason.",
                              rules="; ".join(f"{v.day} {v.text}" for v in broken))
        check_length(RosterError, reason)
        if broken:
            detail.update(override=reason, rules=[{"rule": v.rule, "day": v.day, **dict(v.params)} for v in broken])
        apply_swap(swap, user)
    else:
        swap.status, swap.open_key, swap.decided_by_id, swap.decided_at = "refused", None, user.id, utcnow()
    audit.record("swap.decide", f"swap:{swap.id}", detail)
    return swap


# Handovers -----------------------------------------------------------------------------------------


def get_handover(team: Team, shift: ShiftType, day: date) -> Handover | None:
    return db.session.scalar(sa.select(Handover).where(
        Handover.team_id == team.id, Handover.shift_type_id == shift.id, Handover.day == day))


def save_handover(user: User, team: Team, shift: ShiftType, day: date, notes: dict, new_items: list[tuple[str, str]]) -> Handover:
    """The outgoing person writes (or rewrites, until it is confirmed) the handover of their shift."""
    if not (is_member(user, team) or supervises(user, team)):
        raise RosterError("Only members of the team write its handovers.", 403)
    check_length(RosterError, *notes.values(), *(text for _category, text in new_items))
    handover = get_handover(team, shift, day)
    if handover is not None and handover.confirmed_at is not None:
        raise RosterError("This handover was confirmed and can no longer change. Add an addendum instead.", 409)
    if handover is None:
        handover = Handover(team_id=team.id, shift_type_id=shift.id, day=day, author_id=user.id)
        db.session.add(handover)
        # Only a new handover is announced: rewriting it before the confirmation does not post again.
        emit(Event(kind="handover_waiting", text=f"{team.name} {day.month}月{day.day}日 {shift.name}的交接班已填写，等待接班人确认。",
                   url=path_for("rosters.handover", code=team.code, shift=shift.code, day=day.isoformat()),
                   team_id=team.id, department_id=team.department_id))
    handover.notes_json = json.dumps({k: (notes.get(k) or "").strip() for k in CATEGORIES}, ensure_ascii=False)
    handover.updated_at = utcnow()
    db.session.flush()
    for category, text in new_items:
        if text.strip():
            db.session.add(HandoverItem(team_id=team.id, category=category if category in CATEGORIES else "other",
                                        text=text.strip(), opened_in_id=handover.id, opened_by_id=user.id))
    audit.record("handover.save", f"team:{team.code}", {"shift": shift.code, "day": day})
    return handover


def ending_shift(team: Team, at: datetime | None = None) -> tuple[ShiftType, date] | None:
    """The shift whose end is nearest the wall clock (at 15:39, the 白班 that ended at 15:30; at 06:00, last
    night's 夜班): the one whose handover is being written now."""
    at = at or now_utc()
    today = at.astimezone(zone()).date()
    spans = [(abs(span(d, st.start, st.end).end - at), st, d) for st in team.shift_types if st.retired_at is None
             for d in (today - timedelta(days=1), today)]
    return min(spans, key=lambda t: t[0])[1:] if spans else None


def incoming(team: Team, shift: ShiftType, day: date) -> set[int]:
    """Who is rostered on the next shift of the team, the first to start when this one ends."""
    end = span(day, shift.start, shift.end).end
    starts = [(s.start, st, d) for st in team.shift_types if st.retired_at is None
              for d in (day, day + timedelta(days=1), day + timedelta(days=2)) if (s := span(d, st.start, st.end)).start >= end]
    if not starts:
        return set()
    _start, st, d = min(starts, key=lambda t: t[0])
    return set(db.session.scalars(sa.select(RosterEntry.user_id).where(
        RosterEntry.team_id == team.id, RosterEntry.shift_type_id == st.id, RosterEntry.day == d)))


def may_confirm(user: User, team: Team, handover: Handover) -> bool:
    """The incoming person confirms: whoever is rostered on the next shift, or, when nobody is, any member but the
    author. Not the author, not the supervisor reading along."""
    if handover.author_id == user.id or not is_member(user, team):
        return False
    people = incoming(team, handover.shift_type, handover.day)
    return user.id in people if people else True


def confirm_handover(user: User, handover: Handover) -> Handover:
    """The incoming person signs: name and time. The author cannot confirm their own handover."""
    team = db.session.get(Team, handover.team_id)
    if not (is_member(user, team) or supervises(user, team)):
        raise RosterError("Only members of the team confirm its handovers.", 403)
    if handover.author_id == user.id:
        raise RosterError("The incoming person confirms a handover, not its author.", 403)
    if handover.confirmed_at is None and not may_confirm(user, team, handover):
        raise RosterError("The person taking over the next shift confirms this handover.", 403)
    if handover.confirmed_at is None:  # a second click keeps the first signature
        handover.confirmed_by_id, handover.confirmed_name, handover.confirmed_at = user.id, user.display_name, utcnow()
        audit.record("handover.confirm", f"handover:{handover.id}", {"name": user.display_name})
    return handover


def add_addendum(user: User, handover: Handover, text: str) -> None:
    team = db.session.get(Team, handover.team_id)
    if not (is_member(user, team) or supervises(user, team)):
        raise RosterError("Only members of the team add to its handovers.", 403)
    if not text.strip():
        raise RosterError("Write the addendum first.")
    check_length(RosterError, text)
    db.session.add(HandoverAddendum(handover_id=handover.id, author_id=user.id, text=text.strip()))
    audit.record("handover.addendum", f"handover:{handover.id}", {})


def close_item(user: User, item_id: int) -> HandoverItem:
    item = db.session.get(HandoverItem, item_id)
    if item is None:
        raise RosterError("There is no such open item.", 404)
    team = db.session.get(Team, item.team_id)
    if not (is_member(user, team) or supervises(user, team)):
        raise RosterError("Only members of the team close its items.", 403)
    if item.closed_at is None:
        item.closed_by_id, item.closed_at = user.id, utcnow()
        audit.record("handover.close_item", f"team:{team.code}", {"item": item.id, "text": item.text})
    return item


def open_items(team: Team) -> list[HandoverItem]:
    return list(db.session.scalars(sa.select(HandoverItem).where(HandoverItem.team_id == team.id, HandoverItem.closed_at.is_(None))
                                   .options(sa.orm.joinedload(HandoverItem.opened_by), sa.orm.joinedload(HandoverItem.opened_in))
                                   .order_by(HandoverItem.opened_at)))

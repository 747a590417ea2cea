"""Roster grids (edited in place), the generator, on duty now and swaps."""
from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import audit
from app.access import allow
from app.extensions import db
from app.htmx import render, wants_fragment
from app.panels import home_panel
from app.rosters import bp
from app.rosters.duty import local, my_next_shift, on_duty
from app.rosters.files import month_bounds
from app.rosters.models import Handover, RosterEntry, SwapRequest, Team
from app.rosters.rules import check, generate, swap_violations
from app.rosters.service import (RosterError, answer_swap, decide_swap, is_member, may_read, readable_teams, request_swap,
                                 set_cell, supervises)
from app.rosters.shifts import local_today
from app.web import parse_day, parse_month, small_int
from app.workdays import public_holiday


def get_team(code: str) -> Team:
    team = db.session.scalar(sa.select(Team).where(Team.code == code, Team.retired_at.is_(None)))
    if team is None:
        abort(404)
    return team


def readable_team(code: str) -> Team:
    """The one lookup for reading a team: 404 when there is no such team, 403 when the user may not read it.
    Team codes are no secret (/duty lists every team), so a foreign team is refused, not hidden."""
    team = get_team(code)
    if not may_read(current_user, team):
        abort(403)
    return team


WARNING_FILTERS = ("all", "rules", "unsigned")


def grid(team: Team, days: list[date]) -> dict:
    """Everything a grid shows: entries per (person, day), violations per cell and per day."""
    first, last = days[0], days[-1]
    rows = db.session.scalars(sa.select(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.day >= first,
                                                           RosterEntry.day <= last)
                              .options(sa.orm.joinedload(RosterEntry.shift_type), sa.orm.joinedload(RosterEntry.updated_by)))
    cells = defaultdict(list)
    for e in rows:
        cells[(e.user_id, e.day)].append(e)
    problems = check(team, first, last)
    at_cell, at_day = defaultdict(list), defaultdict(list)
    for v in problems:
        (at_cell[(v.user_id, v.day)] if v.user_id else at_day[v.day]).append(v)
    # "Not signed" warnings can fill a month; they show as a count per cell, listed only when asked for.
    warnings = request.args.get("warnings") if request.args.get("warnings") in WARNING_FILTERS else "all"
    return {"team": team, "days": days, "cells": cells, "at_cell": at_cell, "at_day": at_day, "problems": problems,
            "warnings": warnings, "today": local_today(),
            "editable": supervises(current_user, team), "holidays": {d for d in days if public_holiday(d)},
            "shift_names": {s.id: s for s in team.shift_types}}


@bp.get("/rosters/")
@allow("staff")
def index():
    """The teams I may read, mine first."""
    teams = sorted(readable_teams(current_user), key=lambda t: (not is_member(current_user, t), t.code))
    return render_template("rosters/index.html", teams=teams)


@bp.get("/rosters/<code>/month")
@allow("staff")
def month(code: str):
    """A month grid; supervisors click a cell to change it. Violations are marked with the rule they break."""
    team = readable_team(code)
    first, last = month_bounds(parse_month(request.args.get("m"), local_today()))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return render_template("rosters/grid.html", view="month", prev=first - timedelta(days=1), next=last + timedelta(days=1),
                           **grid(team, days))


@bp.get("/rosters/<code>/week")
@allow("staff")
def week(code: str):
    """Seven days from Monday."""
    team = readable_team(code)
    day = parse_day(request.args.get("d"), local_today())
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=n) for n in range(7)]
    return render_template("rosters/grid.html", view="week", prev=monday - timedelta(days=7),
                           next=monday + timedelta(days=7), **grid(team, days))


@bp.get("/rosters/<code>/cell")
@allow("staff")
def cell_edit(code: str):
    """The editor for one cell (htmx swaps it into the grid); as a page without JavaScript."""
    team = get_team(code)
    if not supervises(current_user, team):
        abort(403)
    user_id, day = request.args.get("user", type=small_int), parse_day(request.args.get("day"), local_today())
    member = next((m for m in team.members if m.id == user_id), None)
    if member is None:
        abort(404)
    current = db.session.scalars(sa.select(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.user_id == user_id,
                                                              RosterEntry.day == day)).all()
    return render("rosters/cell_page.html", "rosters/_cell_edit.html", team=team, member=member, day=day, current=current)


@bp.post("/rosters/<code>/cell")
@allow("staff")
def cell_set(code: str):
    """Set one person's shift on one day; returns the cell with any violation now found there."""
    team = get_team(code)
    user_id, day = request.form.get("user", type=small_int), parse_day(request.form.get("day"), local_today())
    try:
        set_cell(current_user, team, user_id, day, request.form.get("shift", ""), request.form.get("note", ""))
    except RosterError as e:
        db.session.rollback()
        if e.status in (403, 404):
            abort(e.status)
        flash(e.message(), "error")
        return redirect(url_for("rosters.month", code=code, m=f"{day:%Y-%m}"), 303)
    db.session.commit()
    if not wants_fragment():
        return redirect(url_for("rosters.month", code=code, m=f"{day:%Y-%m}"), 303)
    ctx = grid(team, [day - timedelta(days=n) for n in range(day.day - 1, 0, -1)] + [day])
    member = next(m for m in team.members if m.id == user_id)
    resp = render("rosters/grid.html", "rosters/_cell.html", member=member, day=day, **ctx)
    resp.headers["HX-Trigger"] = "roster-changed"
    return resp


@bp.post("/rosters/<code>/generate")
@allow("staff")
def generate_period(code: str):
    """Fill a period from the team's pattern; violations that remain are shown on the grid."""
    team = get_team(code)
    if not supervises(current_user, team):
        abort(403)
    start = parse_day(request.form.get("start"), local_today())
    end = parse_day(request.form.get("end"), start)
    if end < start or (end - start).days > 366:
        flash(_("Choose a period of at most a year, with the end after the start."), "error")
    else:
        created = generate(team, start, end, actor=current_user)
        audit.record("roster.generate", f"team:{team.code}", {"start": start, "end": end, "created": created})
        db.session.commit()
        flash(_("%(n)s shifts generated.", n=created), "success")
    return redirect(url_for("rosters.month", code=code, m=f"{start:%Y-%m}"), 303)


@bp.get("/duty")
@allow("staff")
def duty():
    """Per team: who is on duty right now, who is next, with phone numbers. Every team is shown (whom to call
    is the point), but which SOPs someone has not signed only to those who may read their team."""
    duties = on_duty()
    for d in duties:
        if not may_read(current_user, d.team):
            d.unsigned = {}
    return render("rosters/duty.html", "rosters/_duty.html", duties=duties, local=local)


@home_panel
def duty_panel() -> str:
    """Who is on duty in my teams, and a reminder when my next shift needs an SOP I have not signed."""
    teams = readable_teams(current_user)
    mine = my_next_shift(current_user.id)
    if not teams and mine is None:
        return ""
    # Supervisors see the handovers nobody has confirmed (older than a day: the next shift has long started).
    supervised = [t.id for t in teams if supervises(current_user, t)]
    unconfirmed = db.session.scalar(sa.select(sa.func.count()).select_from(Handover).where(
        Handover.team_id.in_(supervised), Handover.confirmed_at.is_(None), Handover.day < local_today())) if supervised else 0
    return render_template("rosters/_duty.html", duties=on_duty(teams=teams) if teams else [], local=local, panel=True,
                           mine=mine, unconfirmed=unconfirmed)


# Swaps -------------------------------------------------------------------------------------------------


@bp.get("/rosters/swaps")
@allow("staff")
def swaps():
    """Swap requests I made, requests to me, and those waiting for my approval."""
    supervised = [t.id for t in readable_teams(current_user) if supervises(current_user, t)]
    waiting = sa.and_(SwapRequest.status == "accepted", SwapRequest.needs_approval, SwapRequest.team_id.in_(supervised))
    # Filtered in the query, not after a LIMIT: other teams' swaps neither show nor push mine off the page.
    rows = db.session.scalars(sa.select(SwapRequest).where(sa.or_(
        SwapRequest.requester_id == current_user.id, SwapRequest.colleague_id == current_user.id, waiting))
        .order_by(SwapRequest.id.desc()).limit(200)
        .options(sa.orm.joinedload(SwapRequest.entry).joinedload(RosterEntry.shift_type))).all()
    teams = {t.id: t for t in db.session.scalars(sa.select(Team))}
    mine = [s for s in rows if current_user.id in (s.requester_id, s.colleague_id)]
    approve = [s for s in rows if s.status == "accepted" and s.needs_approval and s.team_id in supervised]
    upcoming = db.session.scalars(sa.select(RosterEntry).where(RosterEntry.user_id == current_user.id,
                                                               RosterEntry.day >= local_today())
                                  .options(sa.orm.joinedload(RosterEntry.shift_type)).order_by(RosterEntry.day).limit(30)).all()
    colleagues = {t.id: [m for m in t.members if m.id != current_user.id]
                  for t in readable_teams(current_user) if is_member(current_user, t)}
    return render_template("rosters/swaps.html", mine=mine, approve=approve, upcoming=upcoming, teams=teams,
                           colleagues=colleagues, risks={s.id: swap_violations(s.entry, s.colleague_id) for s in approve},
                           chosen={"entry": request.args.get("entry", type=small_int), "colleague": request.args.get("colleague", "")})


def swap_action(action, *args, again: dict | None = None):
    """Run a swap action; a refusal comes back as a message on the swaps page, with the form as it was sent."""
    try:
        action(current_user, *args)
    except RosterError as e:
        db.session.rollback()
        if e.status in (403, 404):
            abort(e.status)
        flash(e.message(), "error")
        return redirect(url_for("rosters.swaps", **(again or {})), 303)
    db.session.commit()
    flash(_("Done."), "success")
    return redirect(url_for("rosters.swaps"), 303)


@bp.post("/rosters/swaps")
@allow("staff")
def swap_request():
    """Ask a colleague (chosen by name, or typed as a name or username) to take one of my shifts."""
    entry, colleague = request.form.get("entry", type=small_int), request.form.get("colleague", "")
    return swap_action(request_swap, entry, colleague, again={"entry": entry, "colleague": colleague.strip()[:100]})


@bp.post("/rosters/swaps/<int:swap_id>/answer")
@allow("staff")
def swap_answer(swap_id: int):
    """The colleague accepts or declines."""
    return swap_action(answer_swap, swap_id, request.form.get("accept") == "1")


@bp.post("/rosters/swaps/<int:swap_id>/decide")
@allow("staff")
def swap_decide(swap_id: int):
    """The supervisor approves or refuses a swap; approving one that breaks a rule takes a reason."""
    return swap_action(decide_swap, swap_id, request.form.get("approve") == "1", request.form.get("reason", ""))

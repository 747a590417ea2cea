"""Handover pages: write, confirm, add to, close open items, and the searchable duty log (值班日志)."""
from datetime import date

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow
from app.auth.models import User
from app.extensions import db
from app.rosters import bp
from app.rosters.models import CATEGORIES, Handover, Team
from app.rosters.service import (RosterError, add_addendum, close_item, confirm_handover, ending_shift, get_handover,
                                 may_confirm, open_items, readable_teams, save_handover, supervises)
from app.rosters.shifts import local_today
from app.rosters.views import get_team, readable_team
from app.web import local_path, parse_day


def shift_of(team: Team, code: str | None):
    shift = next((s for s in team.shift_types if s.code == code and s.retired_at is None), None)
    if shift is None:
        abort(404)
    return shift


def back(handover_or_team, shift=None, day=None):
    if isinstance(handover_or_team, Handover):
        h = handover_or_team
        return redirect(url_for("rosters.handover", code=h.team.code, shift=h.shift_type.code, day=h.day), 303)
    return redirect(url_for("rosters.handover", code=handover_or_team.code, shift=shift.code, day=day), 303)


def act(action, *args):
    """Run a handover action: 403/404 as errors, anything else as a message on the page."""
    try:
        result = action(current_user, *args)
    except RosterError as e:
        db.session.rollback()
        if e.status in (403, 404):
            abort(e.status)
        flash(e.message(), "error")
        return None
    db.session.commit()
    return result


@bp.get("/rosters/<code>/handover")
@allow("staff")
def handover(code: str):
    """The handover of one shift: its notes by category, the open items carried to it, and the signature."""
    team = readable_team(code)
    ending = ending_shift(team)  # without a choice: the shift just ending, on its own day
    shift = shift_of(team, request.args.get("shift") or (ending[0].code if ending else None))
    day = parse_day(request.args.get("day"), ending[1] if ending and not request.args.get("shift") else local_today())
    handover = get_handover(team, shift, day)
    return render_template("rosters/handover.html", team=team, shift=shift, day=day, categories=CATEGORIES,
                           handover=handover, items=open_items(team),
                           may_confirm=handover is not None and may_confirm(current_user, team, handover))


@bp.post("/rosters/<code>/handover")
@allow("staff")
def handover_save(code: str):
    """Save the outgoing person's handover and any new open items (until it is confirmed)."""
    team = get_team(code)
    shift = shift_of(team, request.form.get("shift"))
    day = parse_day(request.form.get("day"), local_today())
    new_items = list(zip(request.form.getlist("item_category"), request.form.getlist("item_text")))
    if act(save_handover, team, shift, day, {k: request.form.get(k, "") for k in CATEGORIES}, new_items):
        flash(_("Handover saved."), "success")
    return back(team, shift, day)


@bp.post("/rosters/handovers/<int:handover_id>/confirm")
@allow("staff")
def handover_confirm(handover_id: int):
    """The incoming person signs that they have read it."""
    h = db.session.get(Handover, handover_id) or abort(404)
    if act(confirm_handover, h):
        flash(_("Handover confirmed."), "success")
    return back(h)


@bp.post("/rosters/handovers/<int:handover_id>/addendum")
@allow("staff")
def handover_addendum(handover_id: int):
    """Add to a confirmed handover (the handover itself no longer changes)."""
    h = db.session.get(Handover, handover_id) or abort(404)
    act(add_addendum, h, request.form.get("text", ""))
    return back(h)


@bp.post("/rosters/items/<int:item_id>/close")
@allow("staff")
def item_close(item_id: int):
    """Close an open item: it stops being carried to the next handover."""
    item = act(close_item, item_id)
    return redirect(local_path(request.form.get("next"), url_for("rosters.log")) if item else url_for("rosters.log"), 303)


@bp.get("/rosters/log")
@allow("staff")
def log():
    """值班日志: handovers by date, team and person, newest first; unconfirmed ones are flagged. Only the
    teams the user may read are searched, whatever the filters say."""
    readable = [t.id for t in readable_teams(current_user, retired=True)]
    stmt = sa.select(Handover).where(Handover.team_id.in_(readable)).options(
        sa.orm.joinedload(Handover.team), sa.orm.joinedload(Handover.shift_type), sa.orm.joinedload(Handover.author),
        sa.orm.joinedload(Handover.confirmed_by))
    args = {k: request.args.get(k, "") for k in ("team", "date", "person")}
    if args["team"]:
        stmt = stmt.join(Team, Team.id == Handover.team_id).where(Team.code == args["team"])
    if args["date"]:
        stmt = stmt.where(Handover.day == parse_day(args["date"], date.min))
    if args["person"]:
        ids = sa.select(User.id).where(sa.or_(User.username == args["person"], User.display_name == args["person"]))
        stmt = stmt.where(sa.or_(Handover.author_id.in_(ids), Handover.confirmed_by_id.in_(ids)))
    rows = db.session.scalars(stmt.order_by(Handover.day.desc(), Handover.id.desc()).limit(200)).unique().all()
    teams = readable_teams(current_user)
    return render_template("rosters/log.html", rows=rows, args=args, teams=teams,
                           supervised={t.id for t in teams if supervises(current_user, t)})

"""Roster files (a month as CSV/XLSX, exported and imported) and the iCalendar feeds with their secret addresses."""
import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import audit
from app.access import allow
from app.auth.models import User
from app.extensions import db
from app.rosters import bp
from app.rosters.files import feed, import_month, month_rows, new_token, to_csv, to_xlsx
from app.rosters.models import CalendarToken, Team
from app.rosters.service import RosterError, may_read, readable_teams, supervises
from app.rosters.shifts import local_today
from app.rosters.views import get_team, readable_team
from app.clock import utcnow
from app.web import download, parse_month


@bp.get("/rosters/<code>/export")
@allow("staff")
def export(code: str):
    """One month as CSV or XLSX (date, username, name, shift), for those who may read the team."""
    team = readable_team(code)
    day = parse_month(request.args.get("m"), local_today())
    fmt = "csv" if request.args.get("format") == "csv" else "xlsx"
    rows = month_rows(team, day)
    return download(to_csv(rows) if fmt == "csv" else to_xlsx(rows), f"{team.code}-{day:%Y-%m}.{fmt}")


@bp.post("/rosters/<code>/import")
@allow("staff")
def import_file(code: str):
    """Replace a month from a CSV or XLSX file: all rows or none, with every bad row reported."""
    team = get_team(code)
    if not supervises(current_user, team):
        abort(403)
    day = parse_month(request.form.get("month"), local_today())
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a file to import."), "error")
        return redirect(url_for("rosters.month", code=code, m=f"{day:%Y-%m}"), 303)
    try:
        n = import_month(current_user, team, day, upload.read(), upload.filename)
    except RosterError as e:
        db.session.rollback()
        flash(e.message(), "error")
    else:
        db.session.commit()
        flash(_("%(n)s shifts imported.", n=n), "success")
    return redirect(url_for("rosters.month", code=code, m=f"{day:%Y-%m}"), 303)


@bp.get("/rosters/calendar")
@allow("staff")
def calendar():
    """My feed links: a personal one, and team ones for teams I may read. Revoke any of them."""
    tokens = db.session.scalars(sa.select(CalendarToken).where(CalendarToken.owner_id == current_user.id,
                                                               CalendarToken.revoked_at.is_(None))).all()
    teams = readable_teams(current_user)
    return render_template("rosters/calendar.html", tokens=tokens, teams=teams, names={t.id: t.name for t in teams})


@bp.post("/rosters/calendar")
@allow("staff")
def calendar_new():
    """A new secret feed address (personal, or for a team I may read)."""
    team = readable_team(request.form["team"]) if request.form.get("team") else None
    new_token(current_user, team)
    db.session.commit()
    return redirect(url_for("rosters.calendar"), 303)


@bp.post("/rosters/calendar/<int:token_id>/revoke")
@allow("staff")
def calendar_revoke(token_id: int):
    """The feed at that address stops working."""
    token = db.session.get(CalendarToken, token_id)
    if token is None or token.owner_id != current_user.id:
        abort(404)
    token.revoked_at = utcnow()
    audit.record("calendar.revoke", f"token:{token.id}", {})
    db.session.commit()
    return redirect(url_for("rosters.calendar"), 303)


@bp.get("/calendar/<token>.ics")
@allow("public")
def ical(token: str):
    """The iCalendar feed; the secret in the address is the only credential. It works while its owner is active
    and may still read the team: someone who left the team or the company does not keep its roster."""
    found = db.session.scalar(sa.select(CalendarToken).where(CalendarToken.token == token, CalendarToken.revoked_at.is_(None)))
    if found is None:
        abort(404)
    owner = db.session.get(User, found.owner_id)
    team = db.session.get(Team, found.team_id) if found.team_id else None
    if not owner.active or (team is not None and not may_read(owner, team)):
        abort(404)
    # A personal schedule: no proxy or disk cache keeps it (the secret address is in no one's session).
    return Response(feed(found, local_today()), mimetype="text/calendar", headers={"Cache-Control": "no-store, private"})

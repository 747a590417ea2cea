"""Admins add people or groups who must acknowledge an SOP, beyond what its front matter names."""
import sqlalchemy as sa
from flask import abort, request
from flask_babel import gettext
from flask_login import current_user

from app import audit
from app.access import allow
from app.acks import bp
from app.acks.models import KINDS, SopAudience
from app.auth.models import User
from app.extensions import db
from app.htmx import render
from app.org import Department, Position
from app.sops.library import get_sop
from app.sops.models import Sop

KIND_MODELS = {"department": (Department, Department.name), "position": (Position, Position.name),
               "user": (User, User.username)}


def labels(rows: list[SopAudience]) -> list[tuple[SopAudience, str]]:
    """Each audience row with the name of the group or person it names."""
    out = []
    for row in rows:
        model, name = KIND_MODELS[row.kind]
        target = db.session.get(model, row.ref_id)
        out.append((row, f"{target.display_name} ({target.username})" if row.kind == "user" else getattr(target, "name", "?")))
    return out


def audience_rows(sop: Sop) -> list[SopAudience]:
    return list(db.session.scalars(sa.select(SopAudience).where(SopAudience.sop_id == sop.id)
                                   .order_by(SopAudience.source.desc(), SopAudience.kind, SopAudience.id)))


def add(sop: Sop, kind: str, name: str) -> str | None:
    """Add a group or person; return an error message, or None when added (or already there)."""
    if kind not in KINDS:
        return gettext("Choose a department, a position or a person.")
    model, column = KIND_MODELS[kind]
    target = db.session.scalar(sa.select(model).where(column == name.strip()))
    if target is None or (kind == "user" and not target.active):
        return gettext("There is no %(kind)s called '%(name)s'.", kind=gettext(kind), name=name.strip())
    exists = db.session.scalar(sa.select(SopAudience.id).where(
        SopAudience.sop_id == sop.id, SopAudience.kind == kind, SopAudience.ref_id == target.id,
        SopAudience.source == "admin"))
    if exists is None:
        db.session.add(SopAudience(sop_id=sop.id, kind=kind, ref_id=target.id, source="admin",
                                   added_by_id=current_user.id))
        audit.record("ack.assign", f"sop:{sop.code}", {"kind": kind, "name": name.strip()})
    return None


def page(sop: Sop, error: str | None = None, status: int = 200):
    return render("acks/audience.html", "acks/_audience.html", status, sop=sop, rows=labels(audience_rows(sop)),
                  error=error, kinds=KINDS, form=request.form)


@bp.get("/sops/<code>/audience")
@allow("admin")
def audience(code: str):
    """Who must acknowledge this SOP: from its front matter, and added here."""
    return page(get_sop(code))


@bp.post("/sops/<code>/audience")
@allow("admin")
def add_audience(code: str):
    """Add a department, position or person to the SOP's audience."""
    sop = get_sop(code)
    error = add(sop, request.form.get("kind", ""), request.form.get("name", ""))
    db.session.commit()
    return page(sop, error, 422 if error else 200)


@bp.post("/sops/<code>/audience/<int:row_id>/delete")
@allow("admin")
def remove_audience(code: str, row_id: int):
    """Remove a group or person an admin added (front-matter rows change only in the file)."""
    sop = get_sop(code)
    row = db.session.get(SopAudience, row_id)
    if row is None or row.sop_id != sop.id or row.source != "admin":
        abort(404)
    name = dict(labels([row]))[row]
    db.session.delete(row)
    audit.record("ack.unassign", f"sop:{sop.code}", {"kind": row.kind, "name": name})
    db.session.commit()
    return page(sop)

"""Queries behind the library and SOP pages."""
from datetime import date

import sqlalchemy as sa
from flask import abort, current_app

from app.chinese import simplified
from app.extensions import db
from app.org import Department
from app.sops.content import check_attachment, ContentError
from app.sops.models import Sop, SopRevision
from pathlib import Path, PurePosixPath


def library(tag: str = "", department: str = "", retired: bool = False) -> list[tuple[Department, list[Sop]]]:
    """Current SOPs grouped by department, optionally one tag or one department."""
    stmt = (sa.select(Sop).join(Sop.department).options(sa.orm.joinedload(Sop.current), sa.orm.joinedload(Sop.department))
            .order_by(Department.id, Sop.code))
    stmt = stmt.where(Sop.retired_at.is_not(None) if retired else Sop.retired_at.is_(None))
    if tag:
        stmt = stmt.where(Sop.tags.contains(f"|{simplified(tag)}|", autoescape=True))
    if department:
        stmt = stmt.where(sa.or_(Department.name == department, Department.code == department))
    groups: dict[int, tuple[Department, list[Sop]]] = {}
    for sop in db.session.scalars(stmt).unique():
        groups.setdefault(sop.department_id, (sop.department, []))[1].append(sop)
    return list(groups.values())


def all_tags() -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for tags in db.session.scalars(sa.select(Sop.tags).where(Sop.retired_at.is_(None))):
        for t in {simplified(t) for t in tags.split("|") if t}:
            counts[t] = counts.get(t, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def get_sop(code: str) -> Sop:
    """The one lookup for an SOP page: 404 when there is no such SOP."""
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == code).options(sa.orm.joinedload(Sop.current)))
    if sop is None or sop.current is None:
        abort(404)
    return sop


def sop_state(code: str, number: int | None = None):
    """The few columns that decide whether a cached SOP page is still right, and the id of the revision
    asked for (the current one when number is None): one small query."""
    rev = sa.orm.aliased(SopRevision)
    on = rev.id == Sop.current_revision_id if number is None else sa.and_(rev.sop_id == Sop.id, rev.number == number)
    state = db.session.execute(
        sa.select(Sop.current_revision_id, Sop.retired_at, rev.id.label("revision_id"), rev.review_by_override)
        .outerjoin(rev, on).where(Sop.code == code)
    ).first()
    if state is None or state.current_revision_id is None or state.revision_id is None:
        abort(404)
    return state


def get_revision(sop: Sop, number: int | None) -> SopRevision:
    if number is None:
        return sop.current
    rev = db.session.scalar(sa.select(SopRevision).where(SopRevision.sop_id == sop.id, SopRevision.number == number))
    if rev is None:
        abort(404)
    return rev


def history(sop: Sop) -> list[SopRevision]:
    return list(db.session.scalars(
        sa.select(SopRevision).where(SopRevision.sop_id == sop.id).order_by(SopRevision.number.desc())
        .options(sa.orm.load_only(SopRevision.number, SopRevision.version, SopRevision.effective,
                                  SopRevision.change, SopRevision.created_at, SopRevision.content_hash))
    ))


def attachment_path(rev: SopRevision, name: str) -> Path:
    """Only files the revision lists, resolved inside SOP_DIR; anything else is a 404."""
    if name not in rev.attachments:
        abort(404)
    root = Path(current_app.config["SOP_DIR"]).resolve()
    folder = (root / PurePosixPath(rev.source_path)).parent
    try:
        path = check_attachment(folder, name, 0)
    except ContentError:
        abort(404)
    if not path.is_relative_to(root):
        abort(404)
    return path


def recent_revisions(limit: int = 8) -> list[SopRevision]:
    return list(db.session.scalars(
        sa.select(SopRevision).join(Sop, Sop.current_revision_id == SopRevision.id)
        .where(Sop.retired_at.is_(None)).order_by(SopRevision.created_at.desc(), SopRevision.id.desc()).limit(limit)
        .options(sa.orm.joinedload(SopRevision.sop))
    ))


def review_overdue(today: date) -> list[Sop]:
    due = sa.func.coalesce(SopRevision.review_by_override, SopRevision.review_by)  # a periodic review moves it
    return list(db.session.scalars(
        sa.select(Sop).join(SopRevision, Sop.current_revision_id == SopRevision.id)
        .where(Sop.retired_at.is_(None), due < today).order_by(due)
    ))

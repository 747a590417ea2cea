"""Periodic review: owners see their SOPs due or overdue for review; 复审无需修改 (reviewed, still valid)
is a signed review that moves the review date forward without a new revision, so nobody signs again."""
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext

from app import audit
from app.auth.models import User
from app.authoring.permissions import AuthoringError, can_author
from app.authoring.review import check_password, sign
from app.extensions import db
from app.org import Department
from app.panels import digest_note
from app.sops.models import Sop, SopRevision

DUE_WITHIN_DAYS = 30


def live_with_review_dates(department: Department | None = None) -> list[Sop]:
    due = sa.func.coalesce(SopRevision.review_by_override, SopRevision.review_by)
    stmt = (sa.select(Sop).join(SopRevision, Sop.current_revision_id == SopRevision.id)
            .where(Sop.retired_at.is_(None), due.is_not(None)).order_by(due, Sop.code)
            .options(sa.orm.contains_eager(Sop.current)))
    if department is not None:
        stmt = stmt.where(Sop.department_id == department.id)
    return list(db.session.scalars(stmt))


def due_reviews(today: date, user: User | None = None, department: Department | None = None,
                within: int = DUE_WITHIN_DAYS) -> list[Sop]:
    """SOPs whose review date is past or within `within` days: those the user owns (front matter `owner`),
    or all of a department's."""
    horizon = today + timedelta(days=within)
    sops = [s for s in live_with_review_dates(department) if s.current.review_due <= horizon]
    if user is not None:
        sops = [s for s in sops if (s.current.meta.get("owner") or "") == user.username]
    return sops


def overdue_reviews(today: date, department: Department | None = None) -> list[Sop]:
    """What a manager sees for the department (or an admin for all): reviews already past their date."""
    return [s for s in live_with_review_dates(department) if s.current.review_overdue(today)]


def confirm_still_valid(sop: Sop, user: User, password: str, next_review_by: date, today: date | None = None):
    """复审无需修改: sign the current revision as reviewed and still valid (password), and move its review
    date to next_review_by. No new revision: acknowledgements stay valid. The caller commits (also after a
    wrong password, which is audited)."""
    today = today or date.today()
    if sop.retired_at is not None or sop.current is None:
        raise AuthoringError("This SOP has been retired.", 409)
    if not can_author(user, sop.department, sop):
        raise AuthoringError("You may not review %(dept)s SOPs.", 403, dept=sop.department.name)
    if next_review_by is None or next_review_by <= today:
        raise AuthoringError("The next review date must be in the future.", 422)
    if next_review_by > today + timedelta(days=3 * 366):
        raise AuthoringError("The next review date can be at most three years ahead.", 422)
    check_password(user, password, f"sop:{sop.code}", "periodic_review")
    rev = sop.current
    previous = rev.review_due
    signature = sign(user, "periodic_review", sop=sop, revision=rev, content_sha256=rev.content_hash,
                     method="password", note=f"review_by {previous} -> {next_review_by.isoformat()}")
    rev.review_by_override = next_review_by
    audit.record("doc.review_by", f"sop:{sop.code}", {"revision": rev.number, "from": previous,
                                                      "to": next_review_by.isoformat()}, actor=user)
    return signature


@digest_note
def overdue_for_manager(user) -> list[str]:
    """A manager's reminder summary lists the department's SOPs whose review date has passed."""
    if user.role != "manager" or user.department is None:
        return []
    return [f"{s.code} {s.current.title} ({gettext('review was due %(d)s', d=s.current.review_due)})"
            for s in overdue_reviews(date.today(), user.department)]

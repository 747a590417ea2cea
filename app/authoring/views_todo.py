"""What document control has waiting for one person: the /drafts/ page, the home panel and app.waiting (the to-do
list, the dashboard) read it."""
import json
from datetime import date, timedelta
from functools import cache

import sqlalchemy as sa
from flask import render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import waiting
from app.auth.models import User
from app.authoring import feedback, periodic, review
from app.authoring.models import OPEN_STATES, Draft
from app.extensions import db
from app.org import Department
from app.panels import home_panel
from app.sops.models import Sop, SopRevision


def department_overdue(user) -> list:
    """Managers see their department's overdue reviews; admins every department's."""
    if user.role == "admin":
        return periodic.overdue_reviews(date.today())
    if user.role == "manager" and user.department is not None:
        return periodic.overdue_reviews(date.today(), department=user.department)
    return []


def todo(user) -> dict:
    waiting = review.waiting_for(user)
    return {
        "mine": list(db.session.scalars(sa.select(Draft).where(Draft.author_id == user.id, Draft.state.in_(OPEN_STATES))
                                        .order_by(Draft.updated_at.desc()))),
        "to_review": waiting["review"],
        "to_approve": waiting["approve"],
        "due": periodic.due_reviews(date.today(), user=user),
        "overdue": department_overdue(user),
        "queue": feedback.queue(user),
        "my_feedback": feedback.mine(user),
        "today": date.today(),
    }


@home_panel
def drafts_panel() -> str:
    """The home page's document-control panel, shown only to people with something waiting."""
    items = todo(current_user)
    if not any(items[k] for k in ("mine", "to_review", "to_approve", "due", "queue", "overdue")):
        return ""
    return render_template("authoring/_home_panel.html", **items)


@waiting.waiting_for
def document_work(user, _limit: int | None) -> tuple[list[waiting.Item], int]:
    """Drafts to review or approve, feedback to answer, and the user's own SOPs due for review: a short list, all of
    it whatever the limit."""
    items = []
    pending = review.waiting_for(user)
    for key, kind, title in (("review", "review", _("Review the draft %(code)s")),
                             ("approve", "approve", _("Approve the draft %(code)s"))):
        items += [waiting.Item(kind, title % {"code": d.code}, url_for("authoring.draft", draft_id=d.id), None,
                               d.department.name, key=f"{kind}:{d.id}") for d in pending[key]]
    items += [waiting.Item("feedback", _("Answer feedback on %(code)s", code=fb.sop.code),
                           url_for("authoring.feedback_index", _anchor=f"fb-{fb.id}"), None, fb.note[:80],
                           key=f"feedback:{fb.id}") for fb in feedback.queue(user)]
    items += [waiting.Item("periodic", _("Review %(code)s (periodic review)", code=code),
                           url_for("authoring.sop_tools", code=code), due, title, key=f"periodic:{code}")
              for code, title, due in own_reviews_due(user, date.today())]
    return items, len(items)


@cache
def owned_due_statement() -> sa.Select:
    """own_reviews_due's query, built once with the date and the name as parameters (every to-do count asks it)."""
    due = sa.func.coalesce(SopRevision.review_by_override, SopRevision.review_by)
    return (sa.select(Sop.code, SopRevision.title, due, SopRevision.meta_json)
            .join(SopRevision, Sop.current_revision_id == SopRevision.id)
            .where(Sop.retired_at.is_(None), due <= sa.bindparam("until", type_=sa.Date),
                   SopRevision.meta_json.like(sa.bindparam("name", type_=sa.String), escape="/"))  # then exactly:
            .order_by(due, Sop.code))


def own_reviews_due(user, today: date) -> list[tuple[str, str, date]]:
    """(code, title, due) of the SOPs this user owns (front matter `owner`) due for review within the window: the
    same rule as periodic.due_reviews, read without loading each revision's text."""
    name = user.username.replace("/", "//").replace("%", "/%").replace("_", "/_")
    rows = db.session.execute(owned_due_statement(), {"until": today + timedelta(days=periodic.DUE_WITHIN_DAYS),
                                                      "name": f"%{name}%"})
    return [(code, title, d) for code, title, d, meta in rows if (json.loads(meta).get("owner") or "") == user.username]


@waiting.dashboard_section
def overdue_reviews(department_id: int) -> waiting.Section:
    """The department's SOPs past their review date; a 催签 reaches each SOP's owner."""
    department = db.session.get(Department, department_id)
    sops = periodic.overdue_reviews(date.today(), department=department) if department else []
    owners = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_({s.current.meta.get("owner") or "" for s in sops}), User.active))}
    rows = []
    for s in sops:
        owner = owners.get(s.current.meta.get("owner") or "")
        rows.append(waiting.Row((owner.id,) if owner else (), owner.display_name if owner else _("no owner"),
                                f"{s.code} {s.current.title}", url_for("authoring.sop_tools", code=s.code),
                                s.current.review_due))
    return waiting.Section("overdue_reviews", _("Overdue SOP reviews"), tuple(rows), order=50)

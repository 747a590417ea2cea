"""What document control has waiting for one person: the /drafts/ page and the home panel read it."""
from datetime import date

import sqlalchemy as sa
from flask import render_template
from flask_login import current_user

from app.authoring import feedback, periodic, review
from app.authoring.models import OPEN_STATES, Draft
from app.extensions import db
from app.panels import home_panel


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

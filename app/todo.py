"""我的待办 (everything waiting for me), the header badge, and the manager's dashboard with 催签.

A core blueprint: it reads app.waiting, where each feature registers what it has waiting and the numbers of a
department's dashboard, and imports no feature.
"""
import time
from datetime import date, datetime
from smtplib import SMTPException
from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit, waiting
from app.access import allow
from app.audit import AuditEvent
from app.auth.models import User
from app.extensions import db, limiter
from app.htmx import render
from app.mail import message, send
from app.org import Department
from app.pagecache import page_hole
from app.panels import home_panel
from app.web import error_page, page_number

bp = Blueprint("todo", __name__)

KINDS = {"sign": _l("Sign"), "checklist": _l("Checklist"), "swap": _l("Swap"), "swap_approve": _l("Approve swap"),
         "handover": _l("Handover"), "review": _l("Review"), "approve": _l("Approve"), "feedback": _l("Feedback"),
         "periodic": _l("Periodic review")}


SHOWN = 100  # items a page, the most urgent first (an IT engineer may have a thousand new hires' items)
BADGE_SECONDS = 60  # a count is reused at most this long, and only while nothing watched has moved
BADGE_USERS = 10_000  # counts kept per worker


_stamp_query: list = []  # (the watched columns it was built for, the statement): built once, not every page


def stamp() -> tuple:
    """Today and the maximum of every watched id (the audit trail's among them): one cheap query. When it moves,
    something that can change someone's list happened."""
    columns = [AuditEvent.id, *waiting.watched]
    if not _stamp_query or _stamp_query[0] != columns:
        _stamp_query[:] = [columns, sa.select(*(sa.select(sa.func.max(c)).scalar_subquery() for c in columns))]
    return (date.today(), *db.session.execute(_stamp_query[1]).one())


def remember(user_id: int, mark: tuple, n: int) -> None:
    counts = current_app.extensions.setdefault("todo_counts", {})
    if len(counts) >= BADGE_USERS:
        counts.clear()
    counts[user_id] = (mark, time.monotonic(), n)


def kept_count(user, mark: tuple) -> int | None:
    """The count this worker kept for `user`, if nothing watched has moved since (and for at most BADGE_SECONDS)."""
    cached = current_app.extensions.get("todo_counts", {}).get(user.id)
    if cached and cached[0] == mark and time.monotonic() - cached[1] < BADGE_SECONDS:
        return cached[2]
    return None


def badge_count(user) -> int:
    """The list's total: the providers' counts (no items are built), reused while nothing watched has moved (at most
    BADGE_SECONDS), since the badge comes with every page."""
    mark = stamp()
    n = kept_count(user, mark)
    if n is None:
        n = waiting.count_for(user)
        remember(user.id, mark, n)
    return n


@page_hole("page_todo_badge")
def header_badge() -> str:
    """The badge in the header of every page (a hole of cached pages: the count is the person's). With a kept count
    it is in the page; otherwise it is empty and loads itself after the page, so no page waits for a recount."""
    if not current_user.is_authenticated or not current_app.config["TODO_BADGE"]:
        return ""
    try:
        n = kept_count(current_user, stamp())
    except sa.exc.SQLAlchemyError:  # an error page after a failed query: the badge loads itself later
        n = None
    return render_template("todo/_badge.html", n=n)


def rows(items: list, today: date) -> list[dict]:
    """What the list shows of each item, worked out here rather than in the template: the labels and formats are
    translated once per list, not once per row, and the links share one url_for."""
    labels = {k: str(v) for k, v in KINDS.items()}
    overdue, due_on = _("overdue since %(d)s"), _("due %(d)s")
    go = url_for("todo.go", key="KEY")
    out = []
    for item in items:
        due = item.due.date() if isinstance(item.due, datetime) else item.due
        late = due is not None and due < today
        out.append({"key": item.key, "kind": item.kind, "label": labels.get(item.kind, item.kind), "title": item.title,
                    "url": go.replace("KEY", quote(item.key, safe="")), "detail": item.detail, "late": late,
                    "due": due.isoformat() if due else "",
                    "when": (overdue if late else due_on) % {"d": item.due} if item.due else ""})
    return out


@bp.get("/todo")
@allow("staff")
def index():
    """Everything waiting for me, most urgent first, SHOWN a page (htmx refreshes the list in place)."""
    mark, page = stamp(), page_number()
    items, total = waiting.top_for(current_user, page * SHOWN)
    remember(current_user.id, mark, total)  # the badge shows what the list counts
    today = date.today()
    return render("todo/index.html", "todo/_list.html", rows=rows(items[(page - 1) * SHOWN:], today), total=total,
                  current=page, pages=max(1, -(-total // SHOWN)), first=(page - 1) * SHOWN + 1)


@bp.get("/todo/badge")
@allow("staff")
def badge():
    """The header badge: how many items wait for me (the count of the list)."""
    return render_template("todo/_badge.html", n=badge_count(current_user))


@bp.get("/todo/go")
@allow("staff")
def go():
    """Follow a to-do link: to where the item is done, or back to the list with a message when it has gone."""
    key = request.args.get("key", "")
    item = next((i for i in waiting.items_for(current_user) if i.key == key), None)
    if item is None:
        flash(_("That item is no longer waiting for you: it was done, withdrawn or retired in the meantime."), "info")
        return redirect(url_for("todo.index"), 303)
    return redirect(item.url, 303)


@home_panel
def todo_panel() -> str:
    """The first few items on the home page (the manager's own onboarding items among them)."""
    items, total = waiting.top_for(current_user, 8)
    return render_template("todo/_home_panel.html", items=items, total=total, today=date.today(), kinds=KINDS)


# The manager's dashboard ------------------------------------------------------------------------------------


def dashboard_department(code: str | None) -> tuple[Department, list[Department]]:
    """Managers see their own department (another's is a 404); admins any, their own or the first by default."""
    if current_user.role == "admin":
        departments = list(db.session.scalars(sa.select(Department).order_by(Department.code)))
        chosen = next((d for d in departments if d.code == code), None) if code else (
            current_user.department or (departments[0] if departments else None))
    else:
        own = current_user.department
        departments = [own] if own else []
        chosen = own if own and (not code or code == own.code) else None
    if chosen is None:
        abort(404)
    return chosen, departments


@bp.get("/dashboard")
@allow("manager")
def dashboard():
    """My department at a glance: each number links to the people and items behind it."""
    department, departments = dashboard_department(request.args.get("department"))
    return render_template("todo/dashboard.html", department=department, departments=departments,
                           sections=waiting.sections_for(department.id))


def chase_limit_key() -> str:
    return f"chase:{current_user.get_id()}"


def chase_refused(_limit):
    return error_page(429, _("Too many reminders: at most %(n)s a minute. Wait a minute and try again.",
                             n=current_app.config["CHASE_LIMIT"].split()[0]))


@bp.post("/dashboard/chase")
@limiter.limit(lambda: current_app.config["CHASE_LIMIT"], key_func=chase_limit_key, on_breach=chase_refused)
@allow("manager")
def chase():
    """催签: remind the people behind one number now, by email and to whoever listens to app.waiting events."""
    department, _departments = dashboard_department(request.form.get("department"))
    section = next((s for s in waiting.sections_for(department.id) if s.key == request.form.get("section")), None)
    if section is None:
        abort(404)
    people = list(db.session.scalars(sa.select(User).where(User.id.in_(section.people), User.active)
                                     .order_by(User.username)))
    back = redirect(url_for("todo.dashboard", department=department.code, _anchor=section.key), 303)
    if not people:
        flash(_("Nobody to remind for this number."), "info")
        return back
    me = current_user._get_current_object()
    text = _("%(manager)s asks you to finish: %(what)s", manager=me.display_name, what=section.title)
    # Links in the emails point at the portal's public address.
    with current_app.test_request_context("/", base_url=current_app.config["PORTAL_URL"]):
        link = url_for("todo.index", _external=True)
        messages = [message(u, _l("SOP Portal: a reminder from %(name)s", name=me.display_name),
                            "todo/email_chase.txt", manager=me, section=section, link=link,
                            rows=[r for r in section.rows if u.id in r.user_ids])
                    for u in people if u.email]
    try:
        sent = send(messages)
    except (OSError, SMTPException) as e:
        current_app.logger.warning("催签 mail failed: %s", e)
        sent, failed = [], True
    else:
        failed = False
    waiting.emit(waiting.Event(kind="chase", text=text, url=url_for("todo.index"), user_ids=tuple(u.id for u in people),
                               department_id=department.id, extra={"section": section.key}))
    audit.record("todo.chase", f"department:{department.code}", {
        "section": section.key, "people": [u.username for u in people], "emails": len(sent), "mail_failed": failed})
    db.session.commit()
    if failed:
        flash(_("The reminder was recorded, but the email could not be sent. Try again later."), "error")
    else:
        flash(_("Reminder sent to %(n)s people.", n=len(people)), "success")
    return back

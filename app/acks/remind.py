"""`flask acks remind`: one digest per person of what they owe (overdue first), a summary per manager."""
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app import audit
from app.acks.duties import DONE, OUTSTANDING, OVERDUE, by_state, duties
from app.auth.models import User
from app.extensions import db
from app.mail import message, send
from app.org import Department
from app.panels import notes_for
from app.waiting import Event, emit
from app.web import path_for


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)  # addresses
    skipped: list[str] = field(default_factory=list)  # usernames without an email address
    opted_out: list[str] = field(default_factory=list)  # usernames who switched the email digest off


def digests() -> tuple[list[tuple[User, dict]], dict[int, list[tuple[User, dict]]]]:
    """Everyone who owes something, with their duties by state; and the same grouped by department."""
    owed = defaultdict(list)
    for duty in duties():
        if duty.state != DONE:
            owed[duty.user_id].append(duty)
    users = db.session.scalars(sa.select(User).where(User.id.in_(owed)).order_by(User.username))
    people = [(u, by_state(owed[u.id])) for u in users]
    per_dept = defaultdict(list)
    for user, groups in people:
        per_dept[user.department_id].append((user, groups))
    return people, per_dept


def compose(people, per_dept, outcome: Outcome) -> list[EmailMessage]:
    """A digest per person (overdue first) and a summary per manager of a department with people who owe."""
    messages = []
    for user, groups in people:
        if not user.notify_email:
            outcome.opted_out.append(user.username)
            continue
        if not user.email:
            outcome.skipped.append(user.username)
            continue
        n = len(groups[OVERDUE]) + len(groups[OUTSTANDING])
        messages.append(message(user, _l("SOP Portal: %(n)s SOPs to sign", n=n), "acks/email_digest.txt", groups=groups))
    managers = db.session.scalars(sa.select(User).where(User.role == "manager", User.active))
    for manager in managers:
        notes = notes_for(manager)  # what other features add (overdue SOP reviews)
        if manager.email and manager.notify_email and (per_dept.get(manager.department_id) or notes):
            messages.append(message(manager, _l("SOP Portal: who in your department still has to sign"),
                                    "acks/email_summary.txt", people=per_dept.get(manager.department_id, []),
                                    notes=notes))
    return messages


def announce_overdue(owing: tuple) -> int:
    """One "overdue signatures" event per department with overdue duties (counts only, no names); the group
    robots hear it (app/notify). `owing` is digests(). The caller commits. Returns how many were announced."""
    people, _per_dept = owing
    late = defaultdict(lambda: [0, 0])  # department id -> [people, SOPs]
    for user, groups in people:
        if groups[OVERDUE] and user.department_id is not None:
            late[user.department_id][0] += 1
            late[user.department_id][1] += len(groups[OVERDUE])
    for dept in db.session.scalars(sa.select(Department).where(Department.id.in_(late)).order_by(Department.id)):
        n_people, n_sops = late[dept.id]
        emit(Event(kind="overdue_signatures", text=f"{dept.name}：{n_people} 人共 {n_sops} 份SOP逾期未签阅，请督促签阅。",
                   url=path_for("acks.department", code=dept.code), department_id=dept.id))
    return len(late)


def remind(owing: tuple) -> Outcome:
    """Send the digests (`owing` is digests()) over one SMTP connection. The caller commits (an audit entry is
    added)."""
    people, per_dept = owing
    outcome = Outcome()
    # Links in the emails point at the portal's public address.
    with current_app.test_request_context("/", base_url=current_app.config["PORTAL_URL"]):
        messages = compose(people, per_dept, outcome)
    outcome.sent += send(messages)
    audit.record("acks.remind", "acks", {"sent": len(outcome.sent), "skipped": outcome.skipped})
    return outcome

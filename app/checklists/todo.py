"""What checklists have waiting for one person (app.waiting), and the dashboard's open onboarding items past due."""
from datetime import date

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from app.auth.models import User
from app.checklists.models import ChecklistRun, ItemEvent
from app.checklists.runs import completion, waiting_top
from app.extensions import db
from app.org import Department
from app.waiting import Item, Row, Section, dashboard_section, waiting_for, watch
from app.web import MAX_ID  # a run id no run has: the URL pattern is built once by url_for, then filled per item

watch(ItemEvent.id, ChecklistRun.id)  # a tick (not audited) or a new run; the rest (reassign, finish) is audited

GROUPS = {"it": "IT", "manager": "经理"}


@waiting_for
def checklist_items(user, limit: int | None) -> tuple[list[Item], int]:
    """The `limit` most urgent items and a COUNT, both in SQL (an IT engineer may have a thousand waiting)."""
    rows, total = waiting_top(user, limit)
    pattern = url_for("checklists.run", run_id=MAX_ID)  # one url_for for a thousand items
    items = [Item("checklist", item.text, pattern.replace(str(MAX_ID), str(run.id)) + f"#item-{item.id}", item.due,
                  run.title + (f" · @{GROUPS[item.role]}" if item.role in GROUPS else ""), key=f"item:{item.id}",
                  rank=item.id)
             for item, run in rows]
    return items, total


def group_members(role: str, department_id: int) -> tuple[int, ...]:
    """Who an item addressed to a group reaches: the IT department, or the managers of the department."""
    if role == "it":
        where = [User.department_id.in_(sa.select(Department.id).where(Department.code == "IT"))]
    else:
        where = [User.role == "manager", User.department_id == department_id]
    return tuple(db.session.scalars(sa.select(User.id).where(User.active, *where)))


@dashboard_section
def onboarding_past_due(department_id: int) -> Section:
    """Open items of the department's new hires' onboarding plans, due before today."""
    today = date.today()
    runs = db.session.scalars(sa.select(ChecklistRun).join(User, User.id == ChecklistRun.assignee_id).where(
        ChecklistRun.kind == "onboarding", ChecklistRun.finished_at.is_(None), User.department_id == department_id)
        .options(sa.orm.selectinload(ChecklistRun.items), sa.orm.joinedload(ChecklistRun.assignee))
        .order_by(ChecklistRun.id)).unique().all()
    rows = []
    for run in runs:
        done, _progress = completion(run)
        for item in run.items:
            if item.id in done or item.due is None or item.due >= today:
                continue
            if item.assignee_id is not None:
                people, name = (item.assignee_id,), item.assignee.display_name
            elif item.role in GROUPS:
                people, name = group_members(item.role, department_id), "@" + GROUPS[item.role]
            else:
                people, name = (run.assignee_id,), run.assignee.display_name
            rows.append(Row(people, name, f"{run.assignee.display_name} · {item.text}",
                            url_for("checklists.run", run_id=run.id, _anchor=f"item-{item.id}"), item.due))
    return Section("onboarding_past_due", _("Onboarding items past due"), tuple(rows), order=40)

"""My checklists, a run with its items, onboarding timelines, the manager's overview, template history."""
from datetime import date, timedelta

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow
from app.auth.models import User
from app.checklists import bp
from app.checklists.content import parse_items
from app.checklists.models import ChecklistRun, ChecklistTemplate, ItemEvent, ItemPhoto, RunItem
from app.checklists.runs import (RunError, completion, finish, manages, may_read_template, may_see, may_tick, reassign,
                                 on_my_shifts, start_from_sop, team_runs_today, tick,
                                 waiting_where)
from app.extensions import db
from app.htmx import render, wants_fragment
from app.panels import home_panel
from app.frontmatter import ContentError
from app.sops.library import get_sop
from app.sops.models import Sop
from app.workdays import unconfigured_years
from app.web import page_number


def get_run(run_id: int) -> ChecklistRun:
    """The one lookup for a run: 404 when there is none, 403 when it is not the user's to see."""
    run = db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.id == run_id).options(
        sa.orm.selectinload(ChecklistRun.items), sa.orm.joinedload(ChecklistRun.assignee)))
    if run is None:
        abort(404)
    if not may_see(current_user, run):
        abort(403)
    return run


def get_template(code: str) -> ChecklistTemplate:
    """The one lookup for a template: 404 when there is none, 403 when it is not for the user's department."""
    template = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.code == code))
    if template is None:
        abort(404)
    if not may_read_template(current_user, template):
        abort(403)
    return template


PER_PAGE = 50  # runs a page of 我的清单: an IT engineer may have an @IT item in a thousand new hires' runs
PANEL = 6  # runs on the home page


def my_runs(limit: int, offset: int = 0) -> tuple[list[ChecklistRun], int]:
    """My open runs, the most urgent first (the earliest due open item; undated last, then the newest), `limit` of
    them from `offset`, and how many there are: cut and counted in SQL, so only the runs shown are read.

    Runs for me: my own, my team's for today, per-shift runs I am rostered on, and runs with an item that waits for
    me (reassigned to me, or addressed to a group I am in, such as @IT or @经理)."""
    user, today = current_user, date.today()
    waiting = sa.select(RunItem.run_id).join(ChecklistRun, ChecklistRun.id == RunItem.run_id).where(
        *waiting_where(user, today))
    mine = sa.and_(ChecklistRun.finished_at.is_(None), sa.or_(
        ChecklistRun.assignee_id == user.id,
        ChecklistRun.id.in_(team_runs_today(user, today)),
        ChecklistRun.id.in_(sa.select(RunItem.run_id).where(RunItem.assignee_id == user.id)),
        ChecklistRun.id.in_(waiting),
        *on_my_shifts(user),  # a per-shift run: whoever is rostered on it
    ))
    next_due = (sa.select(sa.func.min(RunItem.due)).where(RunItem.run_id == ChecklistRun.id, RunItem.done_at.is_(None))
                .scalar_subquery())
    rows = db.session.execute(sa.select(ChecklistRun, sa.func.count().over()).where(mine)  # the total, before LIMIT
                              .options(sa.orm.selectinload(ChecklistRun.items))
                              .order_by(next_due.is_(None), next_due, ChecklistRun.run_date.desc(),
                                        ChecklistRun.id.desc()).limit(limit).offset(offset)).all()
    if rows:
        return [run for run, _total in rows], rows[0][1]
    return [], db.session.scalar(sa.select(sa.func.count(ChecklistRun.id)).where(mine))  # a page past the end


@bp.get("/checklists/")
@allow("staff")
def mine():
    """My open checklists with their progress, the most urgent first, PER_PAGE a page (?page=N)."""
    page = page_number()
    runs, total = my_runs(PER_PAGE, (page - 1) * PER_PAGE)
    return render_template("checklists/mine.html", runs=[(r, completion(r)[1]) for r in runs], total=total,
                           current=page, pages=max(1, -(-total // PER_PAGE)), first=(page - 1) * PER_PAGE + 1)


@home_panel
def checklists_panel() -> str:
    runs, total = my_runs(PANEL)
    return render_template("checklists/_home_panel.html", runs=[(r, completion(r)[1]) for r in runs], total=total)


def run_context(run: ChecklistRun) -> dict:
    done, progress = completion(run)
    sections: dict[str, list[RunItem]] = {}
    for item in run.items:
        sections.setdefault(item.section, []).append(item)
    photos: dict[int, ItemPhoto] = {}  # each item's latest photo (the evidence of its current tick)
    for photo in db.session.scalars(sa.select(ItemPhoto).where(ItemPhoto.item_id.in_([i.id for i in run.items]))
                                     .order_by(ItemPhoto.id)):
        photos[photo.item_id] = photo
    return {"run": run, "done": done, "progress": progress, "sections": sections, "today": date.today(),
            "manager": manages(current_user, run), "may_tick": lambda i: may_tick(current_user, run, i),
            "warn_years": unconfigured_years(*(i.due for i in run.items if i.due)), "photos": photos,
            "entered": {}}


@bp.get("/checklists/runs/<int:run_id>")
@allow("staff")
def run(run_id: int):
    """One run: its sections and items, ticked in place."""
    return render_template("checklists/run.html", **run_context(get_run(run_id)))


@bp.get("/checklists/runs/<int:run_id>/items/<int:item_id>")
@allow("staff")
def item(run_id: int, item_id: int):
    """One item (re-read after its SOP was signed inline), with the progress bar out of band."""
    ctx = run_context(get_run(run_id))
    found = next((i for i in ctx["run"].items if i.id == item_id), None)
    if found is None:
        abort(404)
    return render("checklists/run.html", "checklists/_item_oob.html", item=found, **ctx)


@bp.post("/checklists/runs/<int:run_id>/items/<int:item_id>")
@allow("staff")
def tick_item(run_id: int, item_id: int):
    """Tick (done=1) or untick (done=0) an item, with its note, number or photo (multipart)."""
    run_ = get_run(run_id)
    error, status = None, 200
    upload = request.files.get("photo")
    try:
        tick(current_user, run_, item_id, request.form.get("done") == "1", request.form.get("note", ""),
             request.form.get("number", ""), upload.read() if upload and upload.filename else None)
    except RunError as e:
        db.session.rollback()
        if e.status == 404:
            abort(404)
        error, status = e.message(), e.status
    else:
        db.session.commit()
    if not wants_fragment():
        if error:
            flash(error, "error")
        return redirect(url_for("checklists.run", run_id=run_id) + f"#item-{item_id}", 303)
    run_ = get_run(run_id)
    ctx = run_context(run_)
    found = next(i for i in run_.items if i.id == item_id)
    if error:  # what was typed stays in the form
        ctx["entered"] = {"note": request.form.get("note", ""), "number": request.form.get("number", "")}
    return render("checklists/run.html", "checklists/_item_oob.html", status, item=found, error=error, **ctx)


@bp.get("/checklists/runs/<int:run_id>/photos/<int:photo_id>")
@allow("staff")
def photo(run_id: int, photo_id: int):
    """A photo taken as an item's evidence, for whoever may see the run."""
    run_ = get_run(run_id)
    found = db.session.get(ItemPhoto, photo_id)
    if found is None or found.item_id not in {i.id for i in run_.items}:
        abort(404)
    resp = make_response(found.data)
    resp.mimetype = found.content_type  # from the file's first bytes; nosniff is set for every response
    resp.headers["Content-Disposition"] = f'inline; filename="evidence-{found.id}.{found.content_type[6:]}"'
    return resp


@bp.post("/checklists/runs/<int:run_id>/items/<int:item_id>/reassign")
@allow("manager")
def reassign_item(run_id: int, item_id: int):
    """The manager hands an item to someone else (e.g. when the person it waits for is away)."""
    run_ = get_run(run_id)
    try:
        reassign(current_user, run_, item_id, request.form.get("username", ""))
        db.session.commit()
        flash(_("Reassigned."), "success")
    except RunError as e:
        db.session.rollback()
        if e.status in (403, 404):
            abort(e.status)
        flash(e.message(), "error")
    return redirect(url_for("checklists.run", run_id=run_id) + f"#item-{item_id}", 303)


@bp.post("/checklists/runs/<int:run_id>/finish")
@allow("staff")
def finish_run(run_id: int):
    """Close a run whose items are all complete; it can no longer change."""
    run_ = get_run(run_id)
    try:
        finish(current_user, run_)
        db.session.commit()
        flash(_("Finished and filed."), "success")
    except RunError as e:
        db.session.rollback()
        if e.status == 403:
            abort(403)
        flash(e.message(), "error")
    return redirect(url_for("checklists.run", run_id=run_id), 303)


@bp.get("/checklists/runs/<int:run_id>/record")
@allow("staff")
def record(run_id: int):
    """A printable record of the run: every item, who ticked it and when, with notes and numbers."""
    ctx = run_context(get_run(run_id))
    events = db.session.scalars(sa.select(ItemEvent).where(ItemEvent.item_id.in_([i.id for i in ctx["run"].items]))
                                .options(sa.orm.joinedload(ItemEvent.user)).order_by(ItemEvent.id)).all()
    return render_template("checklists/record.html", events=events, **ctx)


@bp.get("/onboarding")
@allow("staff")
def onboarding():
    """My onboarding plan as a timeline: overdue, this week, later, done."""
    runs = db.session.scalars(sa.select(ChecklistRun).where(
        ChecklistRun.assignee_id == current_user.id, ChecklistRun.kind == "onboarding")
        .options(sa.orm.selectinload(ChecklistRun.items)).order_by(ChecklistRun.id)).all()
    today = date.today()
    week_end = today + timedelta(days=6 - today.weekday())
    plans = []
    for r in runs:
        done, progress = completion(r)
        groups = {"overdue": [], "week": [], "later": [], "done": []}
        for i in r.items:
            key = "done" if i.id in done else "overdue" if i.due and i.due < today else \
                "week" if i.due is None or i.due <= week_end else "later"
            groups[key].append(i)
        plans.append((r, progress, groups, unconfigured_years(*(i.due for i in r.items if i.due))))
    return render_template("checklists/onboarding.html", plans=plans, today=today)


@bp.get("/checklists/team")
@allow("manager")
def team():
    """New hires in my department (all, for admins): progress, overdue items and who they wait for."""
    stmt = sa.select(ChecklistRun).join(User, User.id == ChecklistRun.assignee_id).where(
        ChecklistRun.kind == "onboarding").options(sa.orm.selectinload(ChecklistRun.items),
                                                    sa.orm.joinedload(ChecklistRun.assignee)).order_by(User.username)
    if current_user.role != "admin":
        stmt = stmt.where(User.department_id == (current_user.department_id or -1))
    rows, today = [], date.today()
    for r in db.session.scalars(stmt).unique():
        done, progress = completion(r)
        late = [i for i in r.items if i.id not in done and i.due and i.due < today]
        rows.append((r, progress, late, sorted({i.role for i in late})))
    return render("checklists/team.html", "checklists/_team.html", rows=rows)


@bp.get("/checklists/templates/<code>")
@allow("manager")
def history(code: str):
    """A recurring template's completion rate by day (a small server-drawn SVG) and the runs that were missed,
    counting only the runs of departments the user manages (all, for admins)."""
    template = get_template(code)
    since = date.today() - timedelta(days=29)
    runs = db.session.scalars(sa.select(ChecklistRun).where(ChecklistRun.template_id == template.id,
                                                            ChecklistRun.run_date >= since)
                              .options(sa.orm.joinedload(ChecklistRun.department), sa.orm.joinedload(ChecklistRun.assignee))
                              .order_by(ChecklistRun.run_date)).all()
    runs = [r for r in runs if manages(current_user, r)]
    days = [since + timedelta(days=n) for n in range(30)]
    per_day = {d: [r for r in runs if r.run_date == d] for d in days}
    rates = [(d, (sum(1 for r in rs if r.finished_at) / len(rs)) if rs else None) for d, rs in per_day.items()]
    missed = [r for r in runs if r.finished_at is None and r.run_date < date.today()]
    return render_template("checklists/history.html", template=template, rates=rates, missed=missed)


@bp.post("/sops/<code>/run")
@allow("staff")
def start_sop_run(code: str):
    """按本规程执行: start an ad-hoc run of the SOP's task list for me."""
    sop: Sop = get_sop(code)
    rev = sop.current
    try:
        items = parse_items(rev.markdown, 1, set(db.session.scalars(sa.select(Sop.code))), default_section=rev.title)
    except ContentError as e:
        items, problem = [], e.reason
    else:
        problem = None
    if not items or sop.retired_at:
        flash(problem or _("This SOP has no task list to run."), "error")
        return redirect(url_for("sops.show", code=code), 303)
    new = start_from_sop(current_user, sop, items)
    db.session.commit()
    return redirect(url_for("checklists.run", run_id=new.id), 303)

"""Starting runs (onboarding, recurring, ad hoc), ticking items, finishing, and who may do what."""
import hashlib
import json
from functools import cache
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import audit, staffing
from app.acks.duties import signed_codes
from app.auth.models import User
from app.checklists.content import Item
from app.errors import UserError, check_length
from app.checklists.models import ChecklistRevision, ChecklistRun, ChecklistTemplate, ItemEvent, ItemPhoto, RunItem
from app.extensions import db
from app.org import Department, Position
from app.clock import utcnow
from app.web import when
from app.staffing import trainee_source  # rosters asks who is still in onboarding
from app.workdays import nth_workday


class RunError(UserError):
    """A refused action on a checklist, with its HTTP status."""


@trainee_source
def in_onboarding(user_ids: set[int]) -> set[int]:
    """The roster generator's question: who among these still has an open onboarding plan."""
    return set(db.session.scalars(sa.select(ChecklistRun.assignee_id).where(
        ChecklistRun.kind == "onboarding", ChecklistRun.finished_at.is_(None), ChecklistRun.assignee_id.in_(user_ids))))


def start(title: str, kind: str, items: list[dict], run_date: date, *, revision: ChecklistRevision | None = None,
          assignee: User | None = None, department: Department | None = None, positions: list[str] = (),
          sop_revision_id: int | None = None, created_by: User | None = None, dedupe_key: str | None = None,
          shift_type_id: int | None = None) -> ChecklistRun:
    """Create a run with its items copied in; with a dedupe_key, a second start returns the first run."""
    if dedupe_key:
        existing = db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.dedupe_key == dedupe_key))
        if existing:
            return existing
    run = ChecklistRun(kind=kind, title=title, revision_id=revision.id if revision else None,
                       template_id=revision.template_id if revision else None, sop_revision_id=sop_revision_id,
                       assignee=assignee, department=department, run_date=run_date,
                       positions="|" + "|".join(positions) + "|" if positions else "",
                       created_by_id=created_by.id if created_by else None, dedupe_key=dedupe_key,
                       shift_type_id=shift_type_id)
    try:
        with db.session.begin_nested():
            db.session.add(run)
    except IntegrityError:  # a concurrent start with the same key won
        return db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.dedupe_key == dedupe_key))
    if not items:
        return run
    # The items in one executemany: building 30 ORM objects per run made the nightly schedule slow.
    db.session.execute(sa.insert(RunItem), [
        {"run_id": run.id, "position": n, "section": i["section"], "text": i["text"], "sop_code": i.get("sop"),
         "evidence": i.get("evidence", ""), "role": i.get("role", "assignee"), "note": "", "number": "",
         "due": nth_workday(run_date, i["day"]) if i.get("day") else (run_date if kind == "recurring" else None)}
        for n, i in enumerate(items)])
    return run


def live_templates(kind: str) -> list[ChecklistTemplate]:
    return list(db.session.scalars(sa.select(ChecklistTemplate).where(
        ChecklistTemplate.kind == kind, ChecklistTemplate.retired_at.is_(None)).options(
        sa.orm.joinedload(ChecklistTemplate.current))))


def start_onboarding(user: User, actor: User | None = None) -> list[ChecklistRun]:
    """Start every onboarding plan whose positions or departments match the user (needs a start date)."""
    if user.start_date is None or not (user.positions or user.department):
        return []
    runs = []
    for template in live_templates("onboarding"):
        meta = template.current.meta
        if set(meta["positions"]) & set(user.position_names) or (user.department and user.department.name in meta["departments"]):
            runs.append(start(template.title, "onboarding", template.current.items, user.start_date,
                              revision=template.current, assignee=user, created_by=actor,
                              dedupe_key=f"onboarding:{template.code}:{user.id}"))
    return runs


def due_on(schedule: dict, day: date) -> bool:
    return schedule["every"] in ("day", "shift") or day.weekday() in schedule.get("days", [])


def schedule(day: date) -> list[ChecklistRun]:
    """Create the recurring runs due on `day`, one per team (department); never twice (dedupe key)."""
    departments = {d.name: d for d in db.session.scalars(sa.select(Department))}
    runs = []
    for template in live_templates("recurring"):
        meta = template.current.meta
        if not due_on(meta["schedule"], day):
            continue
        if meta["schedule"]["every"] == "shift":
            runs += schedule_shifts(template, meta, day)
            continue
        for name in meta["departments"]:
            if name not in departments:  # renamed in org.yaml since the template was synced
                current_app.logger.warning("checklist %s names unknown department %r; no run for it", template.code, name)
                continue
            runs.append(start(template.title, "recurring", template.current.items, day, revision=template.current,
                              department=departments[name], positions=meta["positions"],
                              dedupe_key=f"recurring:{template.code}:{departments[name].id}:{day.isoformat()}"))
    return runs


def schedule_shifts(template: ChecklistTemplate, meta: dict, day: date) -> list[ChecklistRun]:
    """One run per shift type of the named duty team that day, worked by whoever is rostered on it (the roster
    answers through app.staffing)."""
    team = staffing.duty_team(meta["schedule"]["team"])
    if team is None:
        current_app.logger.warning("checklist %s names unknown duty team %r; no run", template.code, meta["schedule"]["team"])
        return []
    department = db.session.get(Department, team.department_id) if team.department_id else None
    return [start(f"{template.title} · {name}", "recurring", template.current.items, day, revision=template.current,
                  department=department, positions=meta["positions"], shift_type_id=shift_id,
                  dedupe_key=f"recurring:{template.code}:shift:{shift_id}:{day.isoformat()}")
            for shift_id, name in team.shifts]


def start_from_sop(user: User, sop, items: list[Item]) -> ChecklistRun:
    """An ad-hoc run of the task list in an SOP's current revision ("按本规程执行")."""
    return start(sop.current.title, "adhoc", [vars(i) for i in items], date.today(), assignee=user,
                 department=user.department, sop_revision_id=sop.current_revision_id, created_by=user)


# Who may tick ---------------------------------------------------------------------------------------


def team_member(user: User, run: ChecklistRun) -> bool:
    """A team run is worked by the department's people in the named positions (all, if none are named)."""
    if run.department_id is None or user.department_id != run.department_id:
        return False
    wanted = [p for p in run.positions.split("|") if p]
    return not wanted or bool(set(wanted) & set(user.position_names))


def manages(user: User, run: ChecklistRun) -> bool:
    dept = run.assignee.department_id if run.assignee else run.department_id
    return user.role == "admin" or (user.role == "manager" and user.department_id == dept)


def rostered(user: User, run: ChecklistRun) -> bool:
    """A per-shift run is worked by whoever the roster puts on that shift that day (as "my checklists" lists it)."""
    return run.shift_type_id is not None and staffing.on_shift(user.id, run.shift_type_id, run.run_date)


def may_see(user: User, run: ChecklistRun) -> bool:
    """The one read rule for a run (get_run applies it): its person, the team that works it (the department's
    people in its positions, or whoever is rostered on its shift), whoever an item is assigned to, IT staff when
    an item waits for IT, managers of its department and admins."""
    return (run.assignee_id == user.id or team_member(user, run) or manages(user, run)
            or any(i.assignee_id == user.id for i in run.items) or is_it(user) and any(i.role == "it" for i in run.items)
            or rostered(user, run))


def template_departments(template: ChecklistTemplate) -> set[int]:
    """The departments a template is for: those it names, and those of the positions it names."""
    meta = template.current.meta if template.current else {}
    ids = set(db.session.scalars(sa.select(Department.id).where(Department.name.in_(meta.get("departments") or []))))
    return ids | set(db.session.scalars(sa.select(Position.department_id).where(
        Position.name.in_(meta.get("positions") or []))))


def may_read_template(user: User, template: ChecklistTemplate) -> bool:
    """The one read rule for a template and its statistics: the people it is for (by position or department,
    as onboarding plans are matched), managers of those departments and admins."""
    if user.role == "admin":
        return True
    meta = template.current.meta if template.current else {}
    if set(meta.get("positions") or []) & set(user.position_names) or (
            user.department is not None and user.department.name in (meta.get("departments") or [])):
        return True
    return user.role == "manager" and user.department_id in template_departments(template)


def is_it(user: User) -> bool:
    return user.department is not None and user.department.code == "IT"


def may_tick(user: User, run: ChecklistRun, item: RunItem) -> bool:
    if manages(user, run):
        return True
    if item.assignee_id is not None:
        return item.assignee_id == user.id
    if item.role == "manager":
        return False
    if item.role == "it":
        return is_it(user)
    return run.assignee_id == user.id or team_member(user, run)


# Ticking and finishing -----------------------------------------------------------------------------


def lock(item_id: int) -> RunItem | None:
    """The item, locked until commit (PostgreSQL row lock; SQLite writers are serialised by BEGIN IMMEDIATE)."""
    return db.session.scalar(sa.select(RunItem).where(RunItem.id == item_id).with_for_update()
                             .execution_options(populate_existing=True))


def photo_type(data: bytes) -> str | None:
    """The image type by its first bytes (what a phone camera or gallery gives), whatever the name says."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: bytes) -> str:
    """A real photo within CHECKLIST_PHOTO_MAX_BYTES: its content type, else a RunError saying what to do."""
    limit = current_app.config["CHECKLIST_PHOTO_MAX_BYTES"]
    if len(data) > limit:
        raise RunError("The photo is %(size)s MB; the limit is %(limit)s MB. Take it again at a lower resolution.",
                       413, size=f"{len(data) / 1048576:.1f}", limit=f"{limit / 1048576:.1f}")
    kind = photo_type(data)
    if kind is None:
        raise RunError("That file is not a photo. Take a picture, or choose a JPEG, PNG or WebP image.", 422)
    return kind


def tick(user: User, run: ChecklistRun, item_id: int, done: bool, note: str = "", number: str = "",
         photo: bytes | None = None) -> RunItem:
    """Tick or untick; every call is one event in the item's history. A photo is checked and kept as evidence.
    The caller commits."""
    item = lock(item_id)
    if item is None or item.run_id != run.id:
        raise RunError("There is no such item in this checklist.", 404)
    if run.finished_at is not None:
        raise RunError("This checklist is finished; it can no longer change.", 403)
    if not may_tick(user, run, item):
        raise RunError("This item is not yours to tick.", 403)
    if item.sop_code:
        raise RunError("This item is done when you sign the SOP.", 409)
    note, number = (note or "").strip(), (number or "").strip()
    check_length(RunError, note, number)
    if done and item.evidence == "note" and not note:
        raise RunError("Write a note before ticking this item.")
    if done and item.evidence == "number":
        try:
            Decimal(number.replace(",", ""))
        except InvalidOperation:
            raise RunError("Enter a number before ticking this item (for example 12850.00).") from None
    if done and item.done_at is not None and item.done_by_id != user.id:
        raise done_by_other(item)
    kept = None
    if done and item.evidence == "photo" and item.done_at is None:
        if not photo:
            raise RunError("Take a photo before ticking this item.")
        kind = check_photo(photo)
        kept = ItemPhoto(item_id=item.id, content_type=kind, size=len(photo), sha256=hashlib.sha256(photo).hexdigest(),
                         data=photo, uploaded_by_id=user.id)
        db.session.add(kept)
        db.session.flush()
    now = utcnow()  # the item's time and its history line are one instant
    if done and item.done_at is None:
        # Conditional: of two people ticking a group item at once, the first wins and the second is told who.
        won = db.session.execute(sa.update(RunItem).where(RunItem.id == item.id, RunItem.done_at.is_(None))
                                 .values(done_at=now, done_by_id=user.id, note=note, number=number)).rowcount
        if not won:
            raise done_by_other(db.session.get(RunItem, item.id, populate_existing=True))
        db.session.refresh(item)
    elif not done and item.done_at is not None:
        item.done_at, item.done_by_id = None, None
        audit.record("checklist.untick", f"run:{run.id}", {"item": item.position, "text": item.text})
    db.session.add(ItemEvent(item_id=item.id, user_id=user.id, action="tick" if done else "untick", at=now,
                             detail=json.dumps({k: v for k, v in (("note", note), ("number", number),
                                                                  ("photo", kept.id if kept else None)) if v},
                                               ensure_ascii=False)))
    return item


def done_by_other(item: RunItem) -> RunError:
    who = db.session.get(User, item.done_by_id) if item.done_by_id else None
    return RunError("Already done by %(name)s at %(time)s.", 409, name=who.display_name if who else "?",
                    time=when(item.done_at))


def reassign(user: User, run: ChecklistRun, item_id: int, username: str) -> RunItem:
    item = db.session.get(RunItem, item_id)
    if item is None or item.run_id != run.id:
        raise RunError("There is no such item in this checklist.", 404)
    if not manages(user, run) or run.finished_at is not None:
        raise RunError("Only the department's manager can reassign an open item.", 403)
    target = db.session.scalar(sa.select(User).where(User.username == username.strip(), User.active))
    if target is None:
        raise RunError("There is no active user '%(name)s'.", name=username.strip())
    item.assignee_id = target.id
    db.session.add(ItemEvent(item_id=item.id, user_id=user.id, action="reassign", detail=target.username))
    audit.record("checklist.reassign", f"run:{run.id}", {"item": item.position, "to": target.username})
    return item


@dataclass
class Progress:
    done: int
    total: int
    overdue: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def signer(run: ChecklistRun) -> int | None:
    """Whose signature completes the SOP items: the run's person (team runs: nobody's, so never by ticking)."""
    return run.assignee_id


def completion(run: ChecklistRun) -> tuple[set[int], Progress]:
    """Ids of complete items (SOP items count when the run's person signed the current revision)."""
    signed = signed_codes(signer(run), {i.sop_code for i in run.items if i.sop_code}) if signer(run) else set()
    done = {i.id for i in run.items if (i.sop_code in signed if i.sop_code else i.done_at is not None)}
    today = date.today()
    overdue = sum(1 for i in run.items if i.id not in done and i.due is not None and i.due < today)
    return done, Progress(len(done), len(run.items), overdue)


def finish(user: User, run: ChecklistRun) -> None:
    if run.finished_at is not None:
        raise RunError("This checklist is finished; it can no longer change.", 403)
    if not (run.assignee_id == user.id or team_member(user, run) or manages(user, run)):
        raise RunError("This checklist is not yours to finish.", 403)
    done, progress = completion(run)
    if progress.done < progress.total:
        raise RunError("%(n)s items are still open.", n=progress.total - progress.done)
    run.finished_at, run.finished_by_id = utcnow(), user.id
    audit.record("checklist.finish", f"run:{run.id}", {"title": run.title})


# What waits for whom -----------------------------------------------------------------------------------

RunPerson = sa.orm.aliased(User, name="run_person")


@cache
def statements() -> dict[str, sa.Select]:
    """The small queries of waiting_where, built once with the person and the day as parameters: every to-do count
    asks them, and building a statement costs more than running these."""
    open_items = (RunItem.done_at.is_(None), ChecklistRun.finished_at.is_(None))
    return {
        "shift_days": sa.select(ChecklistRun.run_date).distinct().where(
            ChecklistRun.shift_type_id.is_not(None), ChecklistRun.finished_at.is_(None)),
        "team_today": sa.select(ChecklistRun.id, ChecklistRun.department_id, ChecklistRun.positions).where(
            ChecklistRun.assignee_id.is_(None), ChecklistRun.shift_type_id.is_(None),
            ChecklistRun.finished_at.is_(None), ChecklistRun.department_id == sa.bindparam("department_id"),
            ChecklistRun.run_date == sa.bindparam("today", type_=sa.Date)),
        "own_sops": sa.select(RunItem.sop_code).distinct().join(ChecklistRun, ChecklistRun.id == RunItem.run_id)
        .where(*open_items, ChecklistRun.assignee_id == sa.bindparam("user_id"), RunItem.sop_code != ""),
    }


def on_my_shifts(user: User) -> list:
    """SQL conditions: the open per-shift runs whose shift the roster puts the user on (asked via app.staffing)."""
    shift_days = set(db.session.scalars(statements()["shift_days"]))
    return [sa.and_(ChecklistRun.shift_type_id == shift_id, ChecklistRun.run_date == day)
            for shift_id, day in staffing.rostered_shifts(user.id, shift_days)]


def team_runs_today(user: User, today: date) -> list[int]:
    """Ids of today's open team runs of the user's department and position (a few rows: the position check is
    Python's, team_member)."""
    if user.department_id is None:
        return []
    return [r.id for r in db.session.execute(statements()["team_today"],
                                             {"department_id": user.department_id, "today": today})
            if team_member(user, r)]


def waiting_where(user: User, today: date) -> list:
    """SQL conditions on RunItem joined to ChecklistRun: the open items of open
    runs that wait for `user`: reassigned to them; their own run's items; today's team runs of their department and
    position; per-shift runs they are rostered on; items addressed to a group they are in (@IT: the IT department;
    @经理: the managers of the run's department). A group item reaches every member and is done once. SOP items
    count for the run's own person only, until they sign. All in SQL, so that a list can be cut (LIMIT) and counted
    (COUNT) without reading every row: an IT engineer may have a thousand new hires' @IT items."""
    unassigned = RunItem.assignee_id.is_(None)
    team_today = team_runs_today(user, today)
    # Each part of the union finds its items through an index (run_item.assignee_id, run_item.run_id), so that the
    # database reads only the rows that can wait for this person, not every open item (@IT's part is a scan).
    open_runs = sa.select(ChecklistRun.id).where(ChecklistRun.finished_at.is_(None))
    worked = open_runs.where(sa.or_(ChecklistRun.assignee_id == user.id, ChecklistRun.id.in_(team_today),
                                    *on_my_shifts(user)))
    ids = sa.select(RunItem.id)
    for_me = [ids.where(RunItem.assignee_id == user.id),
              ids.where(unassigned, RunItem.role == "assignee", RunItem.run_id.in_(worked))]
    if is_it(user):
        for_me.append(ids.where(unassigned, RunItem.role == "it"))
    if user.role == "manager" and user.department_id is not None:
        department_runs = open_runs.outerjoin(RunPerson, RunPerson.id == ChecklistRun.assignee_id).where(
            sa.func.coalesce(RunPerson.department_id, ChecklistRun.department_id) == user.department_id)
        for_me.append(ids.where(unassigned, RunItem.role == "manager", RunItem.run_id.in_(department_runs)))
    open_items = [RunItem.done_at.is_(None), ChecklistRun.finished_at.is_(None)]
    own_sops = set(db.session.scalars(statements()["own_sops"], {"user_id": user.id}))
    signed = signed_codes(user.id, own_sops) if own_sops else set()
    sop_ok = sa.or_(sa.func.coalesce(RunItem.sop_code, "") == "",
                    sa.and_(ChecklistRun.assignee_id == user.id, RunItem.sop_code.not_in(signed)))
    return [*open_items, RunItem.id.in_(sa.union_all(*for_me)), sop_ok]


def waiting_top(user: User, limit: int | None = None, today: date | None = None) -> tuple[list[tuple], int]:
    """The items of waiting_where, earliest due first (undated last, then by id), at most `limit` of them (none when
    0: a COUNT only), and how many there are in all, in one query. Returns (item, run) rows with the columns the
    callers read (item: id, run_id, text, due, role, sop_code, assignee_id; run: id, title, assignee_id,
    department_id, positions, shift_type_id)."""
    where = waiting_where(user, today or date.today())
    base = sa.select().select_from(RunItem).join(ChecklistRun, ChecklistRun.id == RunItem.run_id).where(*where)
    if limit == 0:
        return [], db.session.scalar(base.add_columns(sa.func.count(RunItem.id)))
    # Bundles, not entities: the ORM's identity map cost more than the query (bench/todo.py).
    item = sa.orm.Bundle("item", RunItem.id, RunItem.run_id, RunItem.text, RunItem.due, RunItem.role,
                         RunItem.sop_code, RunItem.assignee_id)
    run = sa.orm.Bundle("run", ChecklistRun.id, ChecklistRun.title, ChecklistRun.assignee_id,
                        ChecklistRun.department_id, ChecklistRun.positions, ChecklistRun.shift_type_id)
    rows = db.session.execute(base.add_columns(item, run, sa.func.count().over())  # the total, before the LIMIT
                              .order_by(RunItem.due.is_(None), RunItem.due, RunItem.id).limit(limit)).all()
    return [(i, r) for i, r, _total in rows], (rows[0][2] if rows else 0)


def waiting_items(user: User, today: date | None = None) -> list[tuple]:
    """Every item waiting for `user` (waiting_top without a limit)."""
    return waiting_top(user, None, today)[0]

"""Checklist templates (from content/checklists), their revisions, runs, items, item history and photo evidence."""
import json
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.org import Department
from app.clock import utcnow


class ChecklistTemplate(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    path: Mapped[str] = mapped_column(sa.String(512))
    title: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))  # onboarding | recurring | adhoc
    current_revision_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("checklist_revision.id", use_alter=True, name="fk_checklist_template_current_revision_id"))
    current: Mapped["ChecklistRevision | None"] = relationship(foreign_keys=[current_revision_id], post_update=True)
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ChecklistRevision(db.Model):
    """One distinct content hash of a template. Runs are pinned to the revision they started from."""
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_template.id"), index=True)
    template: Mapped[ChecklistTemplate] = relationship(foreign_keys=[template_id])
    number: Mapped[int]
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    meta_json: Mapped[str] = mapped_column(sa.Text)
    items_json: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("template_id", "content_hash"), sa.UniqueConstraint("template_id", "number"))

    @property
    def meta(self) -> dict:
        return json.loads(self.meta_json)

    @property
    def items(self) -> list[dict]:
        return json.loads(self.items_json)


class ChecklistRun(db.Model):
    """One execution: for one person (onboarding, ad hoc) or for one team on one date (recurring)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(200))
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("checklist_template.id"), index=True)
    revision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("checklist_revision.id"))
    sop_revision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop_revision.id"))  # ad hoc from an SOP
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"), index=True)
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    department: Mapped[Department | None] = relationship()
    positions: Mapped[str] = mapped_column(sa.String(500), default="")  # "|name|name|" who works a team run
    run_date: Mapped[date]  # the start date (onboarding), the day (recurring), the day started (ad hoc)
    shift_type_id: Mapped[int | None]  # a run per shift: the roster's shift type (no foreign key: rosters sit beside)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    # Makes starting idempotent: "onboarding:<template>:<user>", "recurring:<template>:<dept>:<date>".
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    items: Mapped[list["RunItem"]] = relationship(back_populates="run", order_by="RunItem.position")


class RunItem(db.Model):
    """An item copied into the run when it starts, so later template edits never change it."""
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_run.id"), index=True)
    run: Mapped[ChecklistRun] = relationship(back_populates="items")
    position: Mapped[int]
    section: Mapped[str] = mapped_column(sa.String(200), default="")
    text: Mapped[str] = mapped_column(sa.Text)
    due: Mapped[date | None]
    sop_code: Mapped[str | None] = mapped_column(sa.String(64))
    evidence: Mapped[str] = mapped_column(sa.String(16), default="")  # "" | note | number | photo
    role: Mapped[str] = mapped_column(sa.String(16), default="assignee")  # assignee | manager | it
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"), index=True)  # reassigned to them
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    done_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
    note: Mapped[str] = mapped_column(sa.Text, default="")
    number: Mapped[str] = mapped_column(sa.String(64), default="")


class ItemEvent(db.Model):
    """Every tick, untick and reassignment of an item, in order."""
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("run_item.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    user: Mapped[User] = relationship()
    action: Mapped[str] = mapped_column(sa.String(16))  # tick | untick | reassign
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    detail: Mapped[str] = mapped_column(sa.Text, default="")  # the note / number / new assignee

    @property
    def facts(self) -> dict:
        """What the event recorded, for people to read: {"note", "number"} of a tick, {"to"} of a reassignment."""
        if self.action == "reassign":
            return {"to": self.detail}
        try:
            value = json.loads(self.detail or "{}")
        except ValueError:
            return {"note": self.detail}
        return value if isinstance(value, dict) else {"note": str(value)}

class ItemPhoto(db.Model):
    """A photo taken as an item's evidence. Kept in the database, as draft attachments are, so every app node
    sees it; append-only (triggers): ticking again after an untick adds a photo, the old one stays."""
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("run_item.id"), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(32))  # from the file's first bytes, never the browser's
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)  # the run page lists photos, not bytes
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

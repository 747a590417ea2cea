"""An SOP and its revisions. Text comes from files; each distinct content hash is one revision."""
import json
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow  # noqa: F401  (models' defaults)
from app.extensions import db
from app.org import Department


class Sop(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)  # FO-NA-001, from front matter `id`
    path: Mapped[str] = mapped_column(sa.String(512))  # relative to SOP_DIR, where it was last seen
    title: Mapped[str] = mapped_column(sa.String(200))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    department: Mapped[Department] = relationship()
    tags: Mapped[str] = mapped_column(sa.String(1000), default="")  # "|tag|tag|" of the current revision
    current_revision_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sop_revision.id", use_alter=True, name="fk_sop_current_revision_id_sop_revision")
    )
    current: Mapped["SopRevision | None"] = relationship(foreign_keys=[current_revision_id], post_update=True)
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revisions: Mapped[list["SopRevision"]] = relationship(
        back_populates="sop", foreign_keys="SopRevision.sop_id", order_by="SopRevision.number.desc()"
    )

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split("|") if t]


class SopRevision(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(sa.ForeignKey("sop.id"), index=True)
    sop: Mapped[Sop] = relationship(back_populates="revisions", foreign_keys=[sop_id])
    number: Mapped[int]  # 1, 2, 3… in the order the portal first saw them
    content_hash: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of the whole file (front matter + body)
    source_path: Mapped[str] = mapped_column(sa.String(512))
    markdown: Mapped[str] = mapped_column(sa.Text)  # the body, without front matter
    meta_json: Mapped[str] = mapped_column(sa.Text)  # the validated front matter
    title: Mapped[str] = mapped_column(sa.String(200))
    version: Mapped[str] = mapped_column(sa.String(32))
    effective: Mapped[date]
    review_by: Mapped[date | None]
    change: Mapped[str] = mapped_column(sa.String(16))  # material | minor
    requires_ack: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    ack_within_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # The latest material revision at or before this one (itself when material). A signature of any
    # revision with the same basis counts for this one: minor edits do not ask anyone to sign again.
    basis_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop_revision.id"))
    # Rendering is cached here, once per revision; `renderer` says which renderer made it.
    html: Mapped[str] = mapped_column(sa.Text)
    toc_json: Mapped[str] = mapped_column(sa.Text)
    has_diagram: Mapped[bool] = mapped_column(default=False)
    renderer: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # How the text came in: a synced file, or a draft approved in the browser (app.authoring; no FK: sops
    # knows nothing above it). A browser revision's file on disk must keep its hash, or sync reports a conflict.
    origin: Mapped[str] = mapped_column(sa.String(16), default="file", server_default="file")  # file | browser
    draft_id: Mapped[int | None]
    # A periodic review (复审无需修改) moves the review date without a new revision.
    review_by_override: Mapped[date | None]

    __table_args__ = (
        sa.UniqueConstraint("sop_id", "content_hash"),  # two syncs at once cannot add the same text twice
        sa.UniqueConstraint("sop_id", "number"),
        sa.CheckConstraint("change IN ('material', 'minor')", name="change"),
    )

    @property
    def meta(self) -> dict:
        return json.loads(self.meta_json)

    @property
    def toc(self) -> list[dict]:
        return json.loads(self.toc_json)

    @property
    def attachments(self) -> list[str]:
        return self.meta.get("attachments", [])

    @property
    def review_due(self) -> date | None:
        """The date the next review is due: the front matter's review_by, unless a periodic review moved it."""
        return self.review_by_override or self.review_by

    def review_overdue(self, today: date) -> bool:
        return self.review_due is not None and self.review_due < today


class SyncConflict(db.Model):
    """A file on disk that disagrees with a revision published from the browser. Sync applies neither
    version; an admin keeps the portal's (the file is rewritten) or takes the file (a new revision)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(sa.ForeignKey("sop.id"), index=True)
    sop: Mapped[Sop] = relationship()
    path: Mapped[str] = mapped_column(sa.String(512))
    file_hash: Mapped[str] = mapped_column(sa.String(64))
    file_text: Mapped[str] = mapped_column(sa.Text)  # kept here whichever way it is resolved
    revision_id: Mapped[int] = mapped_column(sa.ForeignKey("sop_revision.id"))  # the browser revision
    revision: Mapped[SopRevision] = relationship(foreign_keys=[revision_id])
    found_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    resolution: Mapped[str | None] = mapped_column(sa.String(16))  # portal | file
    new_revision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop_revision.id"))  # 'file': the file's revision

    __table_args__ = (sa.CheckConstraint("resolution IN ('portal', 'file')", name="resolution"),)

"""Drafts of SOPs, their comments and attachments, document-control signatures, editors and reader feedback."""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.org import Department
from app.clock import utcnow
from app.sops.models import Sop, SopRevision

STATES = ("draft", "in_review", "reviewed", "approved", "published", "withdrawn")
OPEN_STATES = ("draft", "in_review", "reviewed", "approved")
KINDS = ("edit", "new", "retire")
MEANINGS = ("authored", "reviewed", "approved", "periodic_review", "retire_approved")
FEEDBACK_KINDS = ("wrong", "outdated", "unclear")
OPEN_SQL = "state IN ('draft', 'in_review', 'reviewed', 'approved')"


class Draft(db.Model):
    """A proposed revision (or retirement) of one SOP, from the editor or an import, until it is published."""
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop.id"), index=True)  # None: a new SOP
    sop: Mapped[Sop | None] = relationship()
    code: Mapped[str] = mapped_column(sa.String(64))  # the SOP id it publishes as
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"), index=True)
    department: Mapped[Department] = relationship()
    kind: Mapped[str] = mapped_column(sa.String(16))  # edit | new | retire
    source: Mapped[str] = mapped_column(sa.String(16), default="blank")  # blank | template | import | revision
    base_revision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop_revision.id"))
    base_revision: Mapped[SopRevision | None] = relationship(foreign_keys=[base_revision_id])
    state: Mapped[str] = mapped_column(sa.String(16), default="draft")
    text: Mapped[str] = mapped_column(sa.Text)  # the whole file: front matter + body
    change_note: Mapped[str] = mapped_column(sa.String(2000), default="")
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    version: Mapped[int] = mapped_column(default=1)  # +1 on every save: optimistic concurrency
    holder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))  # the edit lease
    holder: Mapped[User | None] = relationship(foreign_keys=[holder_id])
    held_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    effective_on: Mapped[date | None]  # publish on this date; None = at approval
    published_revision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop_revision.id"))
    published_revision: Mapped[SopRevision | None] = relationship(foreign_keys=[published_revision_id])
    import_report: Mapped[str | None] = mapped_column(sa.Text)  # JSON list of lines
    self_approved: Mapped[bool] = mapped_column(default=False)
    attachments: Mapped[list["DraftAttachment"]] = relationship(back_populates="draft", order_by="DraftAttachment.id")
    comments: Mapped[list["DraftComment"]] = relationship(back_populates="draft", order_by="DraftComment.id")

    __table_args__ = (
        sa.CheckConstraint("state IN ('draft', 'in_review', 'reviewed', 'approved', 'published', 'withdrawn')",
                           name="state"),
        sa.CheckConstraint("kind IN ('edit', 'new', 'retire')", name="kind"),
        # One open draft per SOP and per new code: a second "edit" finds the first, a race loses cleanly.
        sa.Index("ux_draft_open_code", "code", unique=True,
                 sqlite_where=sa.text(OPEN_SQL), postgresql_where=sa.text(OPEN_SQL)),
    )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class DraftAttachment(db.Model):
    """An uploaded file, kept in the database so every app node sees it; written beside the .md on publication."""
    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("draft.id"), index=True)
    draft: Mapped[Draft] = relationship(back_populates="attachments")
    name: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(128))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("draft_id", "name"),)


class DraftComment(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("draft.id"), index=True)
    draft: Mapped[Draft] = relationship(back_populates="comments")
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    user: Mapped[User] = relationship()
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(16), default="comment")  # comment | return | reply
    line: Mapped[int | None]  # a line of the draft's text
    body: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (sa.CheckConstraint("kind IN ('comment', 'return', 'reply')", name="kind"),)


class DocSignature(db.Model):
    """编制 / 审核 / 批准发布 / 复审 / 批准作废: who, when, what it meant, the SHA-256 of what was signed.
    Append-only (triggers)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int | None] = mapped_column(sa.ForeignKey("draft.id"), index=True)
    sop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop.id"), index=True)  # None: a new SOP's draft
    revision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sop_revision.id"))  # signs a revision (复审)
    meaning: Mapped[str] = mapped_column(sa.String(32))
    meaning_text: Mapped[str] = mapped_column(sa.String(200))  # the words the signer saw
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    user: Mapped[User] = relationship()
    printed_name: Mapped[str] = mapped_column(sa.String(128))
    signed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))  # UTC
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    auth_method: Mapped[str] = mapped_column(sa.String(32))  # password | session
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    self_approved: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(sa.Text, default="")

    __table_args__ = (
        sa.CheckConstraint(
            "meaning IN ('authored', 'reviewed', 'approved', 'periodic_review', 'retire_approved')", name="meaning"),
    )


class EditorGrant(db.Model):
    """An admin lets a user write drafts for a department's SOPs."""
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    department: Mapped[Department] = relationship()
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    granted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("user_id", "department_id"),)


class Feedback(db.Model):
    """A reader flags a section: 此步骤有误 / 已过时 / 看不懂, with a note; the owner replies, links a fix, closes."""
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(sa.ForeignKey("sop.id"), index=True)
    sop: Mapped[Sop] = relationship()
    revision_id: Mapped[int] = mapped_column(sa.ForeignKey("sop_revision.id"))
    revision: Mapped[SopRevision] = relationship()
    anchor: Mapped[str] = mapped_column(sa.String(200), default="")
    kind: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.String(2000), default="")
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"), index=True)
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    reply: Mapped[str | None] = mapped_column(sa.Text)
    replied_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    replied_by: Mapped[User | None] = relationship(foreign_keys=[replied_by_id])
    replied_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    draft_id: Mapped[int | None] = mapped_column(sa.ForeignKey("draft.id"))
    draft: Mapped[Draft | None] = relationship()
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))

    __table_args__ = (sa.CheckConstraint("kind IN ('wrong', 'outdated', 'unclear')", name="kind"),)

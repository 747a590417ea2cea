"""Who must read what, who opened what, and who signed what."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.clock import utcnow
from app.sops.models import Sop, SopRevision

KINDS = ("department", "position", "user")


class SopAudience(db.Model):
    """One group or person who must acknowledge an SOP's current revision.

    Rows with source 'content' mirror the front matter (`departments`, `positions`) and are rewritten
    at every sync; rows with source 'admin' were added on the SOP's audience page.
    """
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(sa.ForeignKey("sop.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # department | position | user
    ref_id: Mapped[int]  # department.id, position.id or user.id
    source: Mapped[str] = mapped_column(sa.String(16))  # content | admin
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    added_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("sop_id", "kind", "ref_id", "source"),
        sa.Index("ix_sop_audience_kind_ref", "kind", "ref_id"),
        sa.CheckConstraint("kind IN ('department', 'position', 'user')", name="kind"),
        sa.CheckConstraint("source IN ('content', 'admin')", name="source"),
    )


class ReadReceipt(db.Model):
    """First and last time a user opened a revision, and how often. Written by one upsert per view."""
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"), primary_key=True)
    revision_id: Mapped[int] = mapped_column(sa.ForeignKey("sop_revision.id"), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    count: Mapped[int] = mapped_column(default=1)


class Acknowledgement(db.Model):
    """A signature: this person read and understood this exact revision. Append-only (triggers)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    user: Mapped[User] = relationship()
    revision_id: Mapped[int] = mapped_column(sa.ForeignKey("sop_revision.id"))
    revision: Mapped[SopRevision] = relationship(foreign_keys=[revision_id])
    sop_id: Mapped[int] = mapped_column(sa.ForeignKey("sop.id"), index=True)  # copied for the reports
    sop: Mapped[Sop] = relationship()
    basis_id: Mapped[int] = mapped_column(sa.ForeignKey("sop_revision.id"))  # the revision's basis at signing
    printed_name: Mapped[str] = mapped_column(sa.String(128))  # the name as it was when signing
    signed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))  # UTC
    meaning: Mapped[str] = mapped_column(sa.Text)  # the statement the person saw and signed
    content_sha256: Mapped[str] = mapped_column(sa.String(64))  # of the Markdown file as signed
    auth_method: Mapped[str] = mapped_column(sa.String(64))  # password | session | demo
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    voluntary: Mapped[bool] = mapped_column(default=False)  # signed without being asked to

    __table_args__ = (
        sa.UniqueConstraint("user_id", "revision_id"),  # a double click or two tabs never make two
        # Covers the "has this person signed this basis, and when" lookup of every duty.
        sa.Index("ix_acknowledgement_user_basis", "user_id", "basis_id", "signed_at"),
    )

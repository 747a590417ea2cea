"""A group-robot webhook per department or duty team, and the outbox of messages waiting to be sent to one."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.org import Department
from app.clock import utcnow

VENDORS = ("wecom", "dingtalk")
STATES = ("pending", "sent", "failed")


class Channel(db.Model):
    """A WeCom or DingTalk group robot that hears one department's or one duty team's events."""
    __tablename__ = "notify_channel"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.String(500))  # holds the robot's key or access token: shown masked
    secret: Mapped[str] = mapped_column(sa.String(200), default="")  # DingTalk 加签 secret; "" = not signed
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    department: Mapped[Department | None] = relationship()
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)  # removing a channel deactivates it: outbox rows keep it
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("vendor IN ('wecom', 'dingtalk')", name="vendor"),
        sa.CheckConstraint("(department_id IS NULL) <> (team_id IS NULL)", name="one_audience"),
    )

    def masked_url(self) -> str:
        """The address without its key: enough to recognise, not enough to post."""
        base, _, query = self.url.partition("?")
        return base + ("?…" if query else "")


class Outbox(db.Model):
    """One message for one channel. Written in the transaction of the action it reports; sent after commit."""
    __tablename__ = "notify_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(sa.ForeignKey("notify_channel.id"), index=True)
    channel: Mapped[Channel] = relationship()
    kind: Mapped[str] = mapped_column(sa.String(32))  # the Event kind
    content: Mapped[str] = mapped_column(sa.Text)  # the text as posted, link included
    status: Mapped[str] = mapped_column(sa.String(8), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)  # also the claim counter: a sender bumps it before posting
    next_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)  # due (or lease end)
    last_error: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
                      sa.Index("ix_notify_outbox_due", "status", "next_at"))

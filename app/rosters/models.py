"""Teams, shift types, roster entries, swaps, handovers with their open items, and calendar tokens."""
import json
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.org import Department
from app.clock import utcnow

team_member = sa.Table(
    "team_member",
    db.metadata,
    sa.Column("team_id", sa.ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("user.id"), primary_key=True),
)


class Team(db.Model):
    """A duty team, from content/rosters/teams.yaml."""
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"))
    department: Mapped[Department | None] = relationship()
    supervisor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    supervisor: Mapped[User | None] = relationship(foreign_keys=[supervisor_id])
    members: Mapped[list[User]] = relationship(secondary=team_member, order_by=User.username)
    rules_json: Mapped[str] = mapped_column(sa.Text, default="{}")  # max_consecutive, min_days_off, min_rest_hours
    pattern_json: Mapped[str] = mapped_column(sa.Text, default="{}")  # {"on": 5, "off": 2}
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    shift_types: Mapped[list["ShiftType"]] = relationship(back_populates="team", order_by="ShiftType.start")

    @property
    def rules(self) -> dict:
        return {"max_consecutive": 6, "min_days_off": 4, "min_rest_hours": 11, **json.loads(self.rules_json)}

    @property
    def pattern(self) -> dict:
        return json.loads(self.pattern_json)


class ShiftType(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("team.id"), index=True)
    team: Mapped[Team] = relationship(back_populates="shift_types")
    code: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(50))
    start: Mapped[time]
    end: Mapped[time]  # at or before start: the shift ends the next day (夜班 23:30–08:00)
    colour: Mapped[str] = mapped_column(sa.String(16), default="#dde3ec")
    min_staff: Mapped[int] = mapped_column(default=1)
    holiday_min_staff: Mapped[int] = mapped_column(default=1)
    sops: Mapped[str] = mapped_column(sa.String(500), default="")  # "|FO-NA-001|": whoever works it must have signed
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.UniqueConstraint("team_id", "code"),)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def sop_codes(self) -> list[str]:
        return [c for c in self.sops.split("|") if c]


class RosterEntry(db.Model):
    """One person on one shift; `day` is the day the shift starts."""
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("team.id"))
    shift_type_id: Mapped[int] = mapped_column(sa.ForeignKey("shift_type.id"))
    shift_type: Mapped[ShiftType] = relationship()
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"), index=True)
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    day: Mapped[date]
    source: Mapped[str] = mapped_column(sa.String(16), default="manual")  # generated | manual | override | swap | import
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("shift_type_id", "user_id", "day"), sa.Index("ix_roster_entry_team_day", "team_id", "day"))


class SwapRequest(db.Model):
    """A member asks a colleague to take (or trade) a shift. Pending → accepted → (approved) → applied."""
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("team.id"))
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("roster_entry.id"))
    entry: Mapped[RosterEntry] = relationship(foreign_keys=[entry_id])
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    colleague_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    colleague: Mapped[User] = relationship(foreign_keys=[colleague_id])
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending|accepted|applied|declined|refused
    needs_approval: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # One open request per shift: a double submit finds the first (NULL once closed, so history keeps many).
    open_key: Mapped[int | None] = mapped_column(unique=True)


CATEGORIES = ("unfinished", "incidents", "vip", "changes", "systems", "other")


class Handover(db.Model):
    """What the outgoing person hands to the next shift; confirmed by the incoming person's signature."""
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("team.id"))
    team: Mapped[Team] = relationship()
    shift_type_id: Mapped[int] = mapped_column(sa.ForeignKey("shift_type.id"))
    shift_type: Mapped[ShiftType] = relationship()
    day: Mapped[date]
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    notes_json: Mapped[str] = mapped_column(sa.Text, default="{}")  # category → text
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])
    confirmed_name: Mapped[str] = mapped_column(sa.String(128), default="")  # printed name at confirmation
    confirmed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    addenda: Mapped[list["HandoverAddendum"]] = relationship(order_by="HandoverAddendum.id")

    __table_args__ = (sa.UniqueConstraint("team_id", "shift_type_id", "day"),)

    @property
    def notes(self) -> dict:
        return json.loads(self.notes_json)


class HandoverAddendum(db.Model):
    """Added after confirmation: the handover itself no longer changes."""
    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(sa.ForeignKey("handover.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    author: Mapped[User] = relationship()
    text: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class HandoverItem(db.Model):
    """An open item that is carried from handover to handover until someone closes it."""
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("team.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(16))
    text: Mapped[str] = mapped_column(sa.Text)
    opened_in_id: Mapped[int] = mapped_column(sa.ForeignKey("handover.id"))
    opened_in: Mapped[Handover] = relationship(foreign_keys=[opened_in_id])
    opened_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id])
    opened_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class CalendarToken(db.Model):
    """The secret in an iCalendar feed URL; revoking it stops the feed."""
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))  # a personal feed
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id"))  # a team feed
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

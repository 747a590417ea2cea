"""User accounts."""
import secrets
from datetime import date, datetime, timezone
from functools import cache

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.org import Department, Position

user_position = sa.Table(
    "user_position",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position_id", sa.ForeignKey("position.id"), primary_key=True),
)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(128))
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="", server_default="")  # shown on the duty panel
    password_hash: Mapped[str] = mapped_column(sa.String(256))  # NO_PASSWORD for directory accounts
    # A directory account's entry (docs/ldap.md): it logs in and signs with the directory's password, and each
    # login updates name, email, department, positions and role. None: a local account (e.g. the break-glass admin).
    ldap_dn: Mapped[str | None] = mapped_column(sa.String(512))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    department: Mapped[Department | None] = relationship()
    positions: Mapped[list[Position]] = relationship(secondary=user_position, order_by=Position.id)
    role: Mapped[str] = mapped_column(sa.String(16), default="staff")
    active: Mapped[bool] = mapped_column(default=True)
    start_date: Mapped[date | None]
    # When the current department and positions took effect: new required reading is due from then.
    duties_since: Mapped[date | None]
    locale: Mapped[str] = mapped_column(sa.String(8), default="zh")
    # Channels a person may switch off for themselves (/account/notifications): the email digest, and being named
    # in group-robot (WeCom/DingTalk) messages.
    notify_email: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notify_robot: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Bumped by logout, password change and deactivation: every older session cookie stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))

    __table_args__ = (sa.CheckConstraint("role IN ('staff', 'manager', 'admin')", name="role"),)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """The local password; a directory account has none (app.auth.service.verify_password asks the directory)."""
        return self.ldap_dn is None and check_password_hash(self.password_hash, password)

    def end_sessions(self) -> None:
        self.session_version += 1

    @property
    def position_names(self) -> list[str]:
        return [p.name for p in self.positions]


NO_PASSWORD = "!directory"  # not a hash: no password matches it


@cache
def dummy_hash() -> str:
    """A hash of a random password with the same method and cost as real ones (one per process)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def password_matches(user: User | None, password: str) -> bool:
    """Check the password, doing the same work whether or not the user exists: a wrong password for an
    unknown name must take as long as one for a real account, or timing tells which names exist."""
    if user is None:
        check_password_hash(dummy_hash(), password)
        return False
    return user.check_password(password)

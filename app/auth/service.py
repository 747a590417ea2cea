"""Account rules: creating, importing, authenticating and editing users."""
import csv
import io
import secrets
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from blinker import Namespace
from flask import current_app, g, session
from flask_login import login_user

from app import audit
from app.access import ROLES
from app.auth.models import User, password_matches
from app.errors import UserError
from app.extensions import db, read_only
from app.org import department_by_name, positions_by_name
from app.web import FIRST_DAY, LAST_DAY, day_in_range

CSV_FIELDS = ("username", "display_name", "email", "department", "positions", "role", "start_date", "password")
MIN_PASSWORD = 8


class AccountError(UserError):
    """A user-facing reason: English in str() (CLI, logs), translated by message() (web pages)."""


@dataclass
class UserData:
    username: str
    display_name: str
    email: str = ""
    department: str = ""
    positions: tuple[str, ...] = ()
    role: str = "staff"
    start_date: date | None = None
    password: str = ""


def split_positions(text: str) -> tuple[str, ...]:
    for sep in ("、", "；", ";", "，", ","):
        text = text.replace(sep, "|")
    return tuple(p.strip() for p in text.split("|") if p.strip())


def parse_date(text: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AccountError("start_date '%(value)s' is not a date (YYYY-MM-DD)", value=text) from None


def check(data: UserData, existing: set[str] | None = None) -> None:
    """Raise AccountError with the first thing wrong with data."""
    if not data.username or not data.username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccountError("username '%(value)s' must be letters, digits, '.', '-' or '_'", value=data.username)
    taken = existing if existing is not None else set()
    if data.username.lower() in taken or db.session.scalar(
        sa.select(User.id).where(sa.func.lower(User.username) == data.username.lower())
    ):
        raise AccountError("username '%(value)s' already exists", value=data.username)
    if not data.display_name:
        raise AccountError("display_name is empty")
    if data.role not in ROLES:
        raise AccountError("role '%(value)s' is not one of %(roles)s", value=data.role, roles=", ".join(ROLES))
    if data.department and department_by_name(data.department) is None:
        raise AccountError("unknown department '%(value)s'", value=data.department)
    unknown = set(data.positions) - set(positions_by_name(data.positions))
    if unknown:
        raise AccountError("unknown position(s): %(value)s", value=", ".join(sorted(unknown)))
    if data.password and len(data.password) < MIN_PASSWORD:
        raise AccountError("password must have at least %(n)s characters", n=MIN_PASSWORD)
    if data.start_date and not day_in_range(data.start_date):  # onboarding due dates are counted from it
        raise AccountError("start_date %(value)s is outside the years the portal handles (%(first)s to %(last)s)",
                           value=data.start_date.isoformat(), first=FIRST_DAY.year, last=LAST_DAY.year)


# Sent inside the creating transaction (form, CSV import or CLI), so higher layers can follow.
user_created = Namespace().signal("user-created")


def create_user(data: UserData, actor=None) -> tuple[User, str]:
    """Create one user (the caller commits). Returns the user and the password it got."""
    check(data)
    password = data.password or secrets.token_urlsafe(9)
    user = User(
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        role=data.role,
        start_date=data.start_date,
        department=department_by_name(data.department) if data.department else None,
        positions=list(positions_by_name(data.positions).values()),
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", f"user:{user.username}", {"role": user.role, "department": data.department}, actor=actor)
    user_created.send(current_app._get_current_object(), user=user)  # e.g. onboarding plans start
    return user, password


def import_csv(text: str, actor=None) -> list[tuple[User, str | None]]:
    """All-or-nothing import. Every bad row is reported as 'line N: reason' before anything is written.

    Returns each user with its generated password, or None when the file gave one (never echoed back).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"username", "display_name"} - set(reader.fieldnames or [])
    if missing:
        raise AccountError("line 1: missing column(s): %(value)s", value=", ".join(sorted(missing)))
    rows, errors, seen = [], [], set()
    for row in reader:
        line = reader.line_num
        try:
            data = UserData(
                username=(row.get("username") or "").strip(),
                display_name=(row.get("display_name") or "").strip(),
                email=(row.get("email") or "").strip(),
                department=(row.get("department") or "").strip(),
                positions=split_positions(row.get("positions") or ""),
                role=(row.get("role") or "staff").strip() or "staff",
                start_date=parse_date(row.get("start_date") or ""),
                password=(row.get("password") or "").strip(),
            )
            check(data, existing=seen)
            seen.add(data.username.lower())
            rows.append(data)
        except AccountError as e:
            errors.append(f"line {line}: {e}")
    if errors:
        raise AccountError("%(errors)s", errors="\n".join(errors))
    if not rows:
        raise AccountError("line 2: the file has no users")
    created = [(create_user(data, actor=actor), data.password) for data in rows]
    return [(user, None if given else password) for (user, password), given in created]


def authenticate(username: str, password: str) -> User:
    """Return the user or raise AccountError; every failure is audited with its reason.

    Known, unknown and deactivated accounts all cost one password hash, so timing does not tell them apart.
    """
    with read_only():  # the hash runs before the write lock: the audit entry below takes it
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == (username or "").strip().lower()))
        matches = password_matches(user, password or "")
    if not matches:
        audit.record("login.failed", f"user:{(username or '').strip()[:64]}",
                     {"reason": "unknown user" if user is None else "wrong password"})
        raise AccountError("Wrong username or password.")
    if not user.active:
        audit.record("login.failed", f"user:{user.username}", {"reason": "deactivated"})
        raise AccountError("This account has been deactivated. Ask an administrator.")
    return user


def sign_in(user: User) -> None:
    """Log in, with a new CSRF secret: a token issued before login (or before a password change) stops working."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)  # generate_csrf() caches this request's token in g
    login_user(user)
    audit.record("login", f"user:{user.username}", actor=user)


def change_password(user: User, current: str, new: str, confirm: str) -> None:
    if not user.check_password(current):
        audit.record("password.change_failed", f"user:{user.username}", actor=user)
        raise AccountError("The current password is wrong.")
    if len(new) < MIN_PASSWORD:
        raise AccountError("The new password needs at least %(n)s characters.", n=MIN_PASSWORD)
    if new != confirm:
        raise AccountError("The two new passwords differ.")
    user.set_password(new)
    user.end_sessions()  # every other session ends; this one is renewed by the caller
    audit.record("password.change", f"user:{user.username}", actor=user)


def update_user(user: User, actor: User, department: str, positions, role: str, active: bool) -> None:
    """Admin edit. An admin cannot lock themselves out."""
    if user.id == actor.id and (role != "admin" or not active):
        raise AccountError("You cannot remove your own admin role or deactivate yourself.")
    if role not in ROLES:
        raise AccountError("role '%(value)s' is not one of %(roles)s", value=role, roles=", ".join(ROLES))
    dept = department_by_name(department) if department else None
    if department and dept is None:
        raise AccountError("unknown department '%(value)s'", value=department)
    found = positions_by_name(positions)
    before = {"department": user.department.name if user.department else "", "positions": user.position_names,
              "role": user.role, "active": user.active}
    if (dept, set(found.values())) != (user.department, set(user.positions)):
        user.duties_since = date.today()
    user.department, user.positions, user.role = dept, list(found.values()), role
    if user.active and not active:
        user.end_sessions()
    user.active = active
    after = {"department": department, "positions": user.position_names, "role": role, "active": active}
    if before != after:
        audit.record("user.update", f"user:{user.username}", {"before": before, "after": after}, actor=actor)


def filter_users(q: str = "", department: str = "", role: str = "", active: str = "") -> list[User]:
    stmt = sa.select(User).order_by(User.username)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(sa.or_(User.username.ilike(like), User.display_name.ilike(like), User.email.ilike(like)))
    if department:
        dept = department_by_name(department)
        stmt = stmt.where(User.department_id == (dept.id if dept else -1))
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if active in ("1", "0"):
        stmt = stmt.where(User.active == (active == "1"))
    return list(db.session.scalars(stmt))

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
from app.auth import directory
from app.auth.models import NO_PASSWORD, User, password_matches
from app.errors import N_, UserError
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


WRONG_LOGIN = N_("Wrong username or password.")
DIRECTORY_DOWN = N_("The directory service is unavailable at the moment, so passwords cannot be checked. Try again "
                    "in a few minutes; if it lasts, tell IT support.")


def find_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.strip().lower()))


def authenticate(username: str, password: str) -> User:
    """Return the user or raise AccountError; every failure is audited with its reason.

    Local accounts (no directory DN) check their password here; with LDAP_URL set, every other name is asked of
    the directory. Known, unknown and deactivated local accounts all cost one password hash, so timing does not
    tell them apart.
    """
    name = (username or "").strip()
    with read_only():  # the hash runs before the write lock: the audit entry below takes it
        user = find_user(name)
        local = not directory.enabled() or (user is not None and user.ldap_dn is None)
        matches = local and password_matches(user, password or "")
    if not local:
        user = directory_login(user, name, password or "")
    elif not matches:
        audit.record("login.failed", f"user:{name[:64]}",
                     {"reason": "unknown user" if user is None else "wrong password"})
        raise AccountError(WRONG_LOGIN)
    if not user.active:
        audit.record("login.failed", f"user:{user.username}", {"reason": "deactivated"})
        raise AccountError("This account has been deactivated. Ask an administrator.")
    return user


def ask_directory(username: str, password: str) -> directory.Verdict:
    try:
        return directory.check(username, password)
    except directory.DirectoryUnavailable as e:
        current_app.logger.error("directory unavailable: %s", e)
        raise AccountError(DIRECTORY_DOWN, 503) from e


def directory_login(user: User | None, name: str, password: str) -> User:
    """The directory's answer to a login, as a local account: created on the first login, updated on every one.

    Every refusal has the one message, whatever the reason (no telling which names exist). When the directory
    no longer knows the person, or keeps them out by group, their account is deactivated and its sessions end.
    """
    try:
        verdict = ask_directory(name, password)
    except AccountError:
        audit.record("login.failed", f"user:{name[:64]}", {"reason": "directory unavailable"})
        raise
    if verdict.refused:
        audit.record("login.failed", f"user:{name[:64]}", {"reason": verdict.refused, "directory": True})
        if user is not None and user.active and verdict.refused in directory.GONE:
            user.active = False
            user.end_sessions()
            audit.record("user.deactivate", f"user:{user.username}", {"reason": f"directory: {verdict.refused}"})
        raise AccountError(WRONG_LOGIN)
    if user is None or user.username.lower() != verdict.person.username.lower():
        user = find_user(verdict.person.username)  # LDAP_USER_FILTER may also match e.g. the email address
    if user is not None and user.ldap_dn is None:  # the directory may not take over a local account
        audit.record("login.failed", f"user:{name[:64]}", {"reason": "a local account has this name", "directory": True})
        raise AccountError(WRONG_LOGIN)
    return sync_directory_user(user, verdict.person)


def sync_directory_user(user: User | None, person: directory.Person) -> User:
    """Create or update the account from the directory's attributes; audited when anything changed."""
    dept = department_by_name(person.department) if person.department else None
    found = positions_by_name(person.positions)
    after = {"display_name": person.display_name, "email": person.email, "department": dept.name if dept else "",
             "positions": sorted(found), "role": person.role, "dn": person.dn}
    if user is None:
        user = User(username=person.username, display_name=person.display_name, email=person.email, role=person.role,
                    department=dept, positions=list(found.values()), ldap_dn=person.dn, password_hash=NO_PASSWORD)
        db.session.add(user)
        db.session.flush()
        audit.record("user.create", f"user:{user.username}", {"source": "directory", **after}, actor=user)
        user_created.send(current_app._get_current_object(), user=user)
        return user
    before = {"display_name": user.display_name, "email": user.email,
              "department": user.department.name if user.department else "", "positions": sorted(user.position_names),
              "role": user.role, "dn": user.ldap_dn}
    if before != after:
        if (dept, set(found.values())) != (user.department, set(user.positions)):
            user.duties_since = date.today()  # new required reading is due from today, as after an admin's edit
        user.display_name, user.email, user.role, user.ldap_dn = person.display_name, person.email, person.role, person.dn
        user.department, user.positions = dept, list(found.values())
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        audit.record("user.update", f"user:{user.username}", {"source": "directory", **changed}, actor=user)
    return user


def verify_password(user: User, password: str, error: type[UserError] = AccountError) -> bool:
    """The one password check for signatures: the directory's for a directory account (which must still be let
    in), the local hash otherwise. When the directory cannot be asked: the caller's `error`, status 503."""
    if user.ldap_dn is None:
        return user.check_password(password or "")
    if not directory.enabled():
        return False
    try:
        return not ask_directory(user.username, password or "").refused
    except AccountError as e:
        raise error(e.text, e.status) from e


def sign_in(user: User) -> None:
    """Log in, with a new CSRF secret: a token issued before login (or before a password change) stops working."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)  # generate_csrf() caches this request's token in g
    login_user(user)
    audit.record("login", f"user:{user.username}", actor=user)


def change_password(user: User, current: str, new: str, confirm: str) -> None:
    if user.ldap_dn is not None:
        raise AccountError("Your password is kept in the company directory. Change it there.")
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

"""Append-only, hash-chained audit trail. Rows are only ever inserted (triggers refuse the rest).

Each event's hash is an HMAC-SHA256 of its fields and the previous hash, keyed with a secret that is kept outside
the database (config AUDIT_KEY, else instance/audit.key), so whoever can write to the database cannot rewrite
history and recompute the chain. Events from before the key existed keep their plain SHA-256 (scheme 'sha256').
After each commit that appended events, the head (last id and hash, with an HMAC) is written to
instance/audit-head, so deleting the newest rows is noticed too.
"""
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask.cli import AppGroup
from flask_login import current_user
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import db, serialize

GENESIS = "0" * 64
LEGACY, KEYED = "sha256", "hmac-sha256"  # how an event's hash was made
KEY_FILE, HEAD_FILE = "audit.key", "audit-head"
log = logging.getLogger(__name__)


class AuditEvent(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)  # no FK: the trail outlives users
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object: Mapped[str] = mapped_column(sa.String(256))
    detail: Mapped[str] = mapped_column(sa.Text)  # canonical JSON
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    prev_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # unique: the chain cannot fork
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scheme: Mapped[str] = mapped_column(sa.String(16), server_default=LEGACY)  # sha256 (before the key) | hmac-sha256

    def body(self) -> bytes:
        # SQLite hands back naive datetimes; they were stored as UTC. Never let the process time zone in.
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=timezone.utc)
        return json.dumps(
            [self.prev_hash, at.astimezone(timezone.utc).isoformat(), self.actor_id, self.actor,
             self.action, self.object, self.detail, self.ip],
            ensure_ascii=False, separators=(",", ":"),
        ).encode()

    def digest(self, key: bytes | None = None) -> str:
        """The hash this event must carry: keyed events need the key."""
        if self.scheme == LEGACY:
            return hashlib.sha256(self.body()).hexdigest()
        if key is None:
            raise KeyMissing(key_path())
        return hmac.new(key, self.body(), hashlib.sha256).hexdigest()


class KeyMissing(RuntimeError):
    def __init__(self, path: Path):
        super().__init__(f"the audit key is missing ({path}, or set AUDIT_KEY); the trail has keyed events, "
                         "so it cannot be extended or verified without it: restore the key from the backup")


# ---------------------------------------------------------------- the key and the anchor (outside the database)


def key_path() -> Path:
    return Path(current_app.instance_path) / KEY_FILE


def audit_key(create: bool = False) -> bytes | None:
    """AUDIT_KEY from the config, else the instance's key file; created on first use (never when the trail
    already has keyed events: a new key would make every earlier event look forged)."""
    if current_app.config.get("AUDIT_KEY"):
        return str(current_app.config["AUDIT_KEY"]).encode()
    path = key_path()
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        return None
    if db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.scheme == KEYED).limit(1)) is not None:
        raise KeyMissing(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")
    with os.fdopen(fd, "w") as f:  # mkstemp: mode 0600
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if another process created it first: then theirs is the key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


def head_path() -> Path:
    return Path(current_app.instance_path) / HEAD_FILE


def head_mac(key: bytes, event_id: int, event_hash: str) -> str:
    return hmac.new(key, f"audit-head:{event_id}:{event_hash}".encode(), hashlib.sha256).hexdigest()


def read_anchor() -> dict | None:
    try:
        return json.loads(head_path().read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {"id": None}  # unreadable: verify reports it


def write_anchor(event_id: int, event_hash: str, key: bytes) -> None:
    """Move the anchor forward to (event_id, event_hash): under a file lock, never backwards (two workers'
    commits may finish their anchoring in either order), written aside and renamed into place."""
    path = head_path()
    with open(path.with_name(HEAD_FILE + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_anchor()
        if current and isinstance(current.get("id"), int) and current["id"] >= event_id:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-head-")
        with os.fdopen(fd, "w") as f:
            json.dump({"id": event_id, "hash": event_hash, "mac": head_mac(key, event_id, event_hash)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


@sa.event.listens_for(Session, "after_commit")
def _anchor_after_commit(session):
    head = session.info.pop("audit_head", None)
    if head is None:
        return
    try:
        write_anchor(*head)
    except OSError:  # the events are committed; failing the request now would report an error for saved data
        log.exception("could not write the audit head anchor %s", head_path())


@sa.event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session):
    session.info.pop("audit_head", None)


# ---------------------------------------------------------------- writing


def record(action: str, obj: str, detail: dict | None = None, actor=None) -> AuditEvent:
    """Append one event in the caller's transaction. The caller commits; the commit moves the anchor."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    serialize("audit")  # one writer at a time extends the chain
    last = db.session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    key = audit_key(create=True)
    event = AuditEvent(
        at=datetime.now(timezone.utc).replace(microsecond=0),
        actor_id=getattr(actor, "id", None),
        actor=getattr(actor, "username", None) or "system",
        action=action,
        object=obj,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        ip=(request.remote_addr or "") if has_request_context() else "",
        prev_hash=last or GENESIS,
        scheme=KEYED,
    )
    event.hash = event.digest(key)
    db.session.add(event)
    db.session.flush()
    db.session.info["audit_head"] = (event.id, event.hash, key)
    return event


# ---------------------------------------------------------------- checking


def verify() -> tuple[int, AuditEvent | None]:
    """Walk the chain; return (rows checked, first broken row or None). A row is broken when it does not link
    to the one before, its hash is wrong, or it is unkeyed after keyed ones (a downgrade)."""
    key = audit_key()
    prev, n, keyed = GENESIS, 0, False
    for event in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        keyed = keyed or event.scheme == KEYED
        if event.prev_hash != prev or (keyed and event.scheme != KEYED) or event.digest(key) != event.hash:
            return n, event
        prev, n = event.hash, n + 1
    return n, None


# Functions that compare one kind of signature with its audit entries; each returns its problems as lines.
# A feature registers its own (acks: acknowledgements vs ack.sign), so this module knows no feature.
SIGNATURE_CHECKS: list[Callable[[], "SignatureCheck"]] = []


@dataclass
class SignatureCheck:
    name: str  # e.g. "acknowledgements"
    checked: int  # signatures compared
    problems: list[str] = field(default_factory=list)


def signature_check(fn: Callable[[], SignatureCheck]) -> Callable[[], SignatureCheck]:
    SIGNATURE_CHECKS.append(fn)
    return fn


@dataclass
class Report:
    events: int = 0
    broken: AuditEvent | None = None
    lines: list[str] = field(default_factory=list)  # what verify says, in order
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_anchor(report: Report, key: bytes | None) -> None:
    """The table's head against instance/audit-head: the anchored event must still be there, unchanged."""
    head = db.session.execute(sa.select(AuditEvent.id, AuditEvent.hash, AuditEvent.scheme)
                              .order_by(AuditEvent.id.desc()).limit(1)).first()
    anchor = read_anchor()
    if anchor is None:
        if head is not None and head.scheme == KEYED:
            report.problems.append(f"audit head anchor missing ({head_path()}): deleted newest events would go "
                                   "unnoticed; restore the file from the backup")
        return
    if not isinstance(anchor.get("id"), int) or key is None or not hmac.compare_digest(
            str(anchor.get("mac", "")), head_mac(key, anchor["id"], str(anchor.get("hash", "")))):
        report.problems.append(f"audit head anchor {head_path()} is unreadable or not signed with the audit key")
        return
    if head is None or head.id < anchor["id"]:
        last = head.id if head else 0
        report.problems.append(f"audit trail truncated: events after id {last} are missing "
                               f"(the anchor records event id {anchor['id']})")
        return
    anchored = db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.id == anchor["id"]))
    if anchored != anchor["hash"]:
        report.problems.append(f"audit event id {anchor['id']} differs from the anchored head "
                               f"(missing or rewritten)")
        return
    report.lines.append(f"head anchored at event id {anchor['id']}"
                        + (f" ({head.id - anchor['id']} later events not yet anchored)" if head.id > anchor["id"] else ""))


def full_check(signatures: bool = True) -> Report:
    """Everything `flask audit verify` checks: the chain, the anchored head and every registered signature check."""
    report = Report()
    try:
        key = audit_key()
        report.events, report.broken = verify()
    except KeyMissing as e:
        report.problems.append(str(e))
        return report
    if report.broken is None:
        report.lines.append(f"audit trail intact: {report.events} events")
    else:
        b = report.broken
        report.problems.append(f"audit trail BROKEN at event id {b.id} ({b.action} {b.object}); "
                               f"{report.events} events before it are intact")
    check_anchor(report, key)
    for check in SIGNATURE_CHECKS if signatures else []:
        result = check()
        report.lines.append(f"{result.name}: {result.checked} checked against the audit trail, "
                            f"{len(result.problems)} mismatches")
        report.problems.extend(result.problems)
    return report


# ---------------------------------------------------------------- schema helpers for migrations


def append_only(table: str, dialect: str) -> list[str]:
    """The triggers that make a table append-only (the audit trail, signatures); created by migrations."""
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{table.replace('_', ' ')} is append-only'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table.replace('_', ' ')} is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def no_truncate(table: str, dialect: str) -> list[str]:
    """PostgreSQL: row triggers do not fire on TRUNCATE, so refuse it per statement (reuses the table's
    append_only() function). SQLite has no TRUNCATE; its DELETE triggers already cover a bare DELETE."""
    if dialect != "postgresql":
        return []
    return [f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"]


cli = AppGroup("audit", help="The append-only audit trail.")


@cli.command("verify")
@click.option("--limit", default=20, show_default=True, help="Problems listed at most.")
@click.option("--signatures/--no-signatures", default=True, show_default=True,
              help="Also compare every signature with its audit entry.")
def verify_command(limit: int, signatures: bool):
    """Check the chain, the anchored head and every signature against its audit entry; exit 1 on a problem."""
    report = full_check(signatures)
    for line in report.lines:
        click.echo(line)
    for line in report.problems[:limit]:
        click.echo(line)
    if len(report.problems) > limit:
        click.echo(f"… and {len(report.problems) - limit} more problems")
    if not report.ok:
        click.echo(f"audit verify: {len(report.problems)} problem{'' if len(report.problems) == 1 else 's'}")
        raise SystemExit(1)

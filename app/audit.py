"""Append-only, hash-chained audit trail. Rows are only ever inserted (triggers refuse the rest)."""
import hashlib
import json
from datetime import datetime, timezone

import click
import sqlalchemy as sa
from flask import has_request_context, request
from flask.cli import AppGroup
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db, serialize

GENESIS = "0" * 64


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

    def digest(self) -> str:
        body = json.dumps(
            [self.prev_hash, self.at.astimezone(timezone.utc).isoformat(), self.actor_id, self.actor,
             self.action, self.object, self.detail, self.ip],
            ensure_ascii=False, separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


def record(action: str, obj: str, detail: dict | None = None, actor=None) -> AuditEvent:
    """Append one event in the caller's transaction. The caller commits."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    serialize("audit")  # one writer at a time extends the chain
    last = db.session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        at=datetime.now(timezone.utc).replace(microsecond=0),
        actor_id=getattr(actor, "id", None),
        actor=getattr(actor, "username", None) or "system",
        action=action,
        object=obj,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        ip=(request.remote_addr or "") if has_request_context() else "",
        prev_hash=last or GENESIS,
    )
    event.hash = event.digest()
    db.session.add(event)
    db.session.flush()
    return event


def verify() -> tuple[int, AuditEvent | None]:
    """Walk the chain; return (rows checked, first broken row or None)."""
    prev, n = GENESIS, 0
    for event in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        if event.prev_hash != prev or event.digest() != event.hash:
            return n, event
        prev, n = event.hash, n + 1
    return n, None


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


cli = AppGroup("audit", help="The append-only audit trail.")


@cli.command("verify")
def verify_command():
    """Check every link of the hash chain and report the first broken one."""
    n, broken = verify()
    if broken is None:
        click.echo(f"audit trail intact: {n} events")
        return
    click.echo(f"audit trail BROKEN at event id {broken.id} ({broken.action} {broken.object}); {n} events before it are intact")
    raise SystemExit(1)

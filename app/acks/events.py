"""Following the SOP library: audiences at sync, read receipts on view."""
import json

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.acks.models import ReadReceipt, SopAudience
from app.extensions import db
from app.org import Department, Position
from app.clock import utcnow
from app.sops.models import Sop, SopRevision
from app.sops.signals import applied, viewed


def content_audience() -> set[tuple[int, str, int]]:
    """(sop_id, kind, ref_id) for every live SOP's current front matter."""
    depts = dict(db.session.execute(sa.select(Department.name, Department.id)).all())
    positions = dict(db.session.execute(sa.select(Position.name, Position.id)).all())
    rows = db.session.execute(
        sa.select(Sop.id, SopRevision.meta_json).join(SopRevision, Sop.current_revision_id == SopRevision.id)
        .where(Sop.retired_at.is_(None))
    )
    wanted = set()
    for sop_id, meta_json in rows:
        meta = json.loads(meta_json)
        wanted |= {(sop_id, "department", depts[name]) for name in meta.get("departments", []) if name in depts}
        wanted |= {(sop_id, "position", positions[name]) for name in meta.get("positions", []) if name in positions}
    return wanted


@applied.connect
def refresh_audience(app, **_extra) -> None:
    """Rewrite the 'content' audience rows to match the front matter, in the sync's own transaction."""
    wanted = content_audience()
    have = {(r.sop_id, r.kind, r.ref_id): r.id for r in db.session.execute(
        sa.select(SopAudience.id, SopAudience.sop_id, SopAudience.kind, SopAudience.ref_id)
        .where(SopAudience.source == "content"))}
    stale = [row_id for key, row_id in have.items() if key not in wanted]
    if stale:
        db.session.execute(sa.delete(SopAudience).where(SopAudience.id.in_(stale)))
    new = [{"sop_id": s, "kind": k, "ref_id": r, "source": "content", "added_at": utcnow()}
           for s, k, r in sorted(wanted - set(have))]
    if new:
        db.session.execute(sa.insert(SopAudience), new)


def upsert(values: dict):
    """INSERT … ON CONFLICT for the two databases we run on."""
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(ReadReceipt)
    return insert.values(**values)


@viewed.connect
def record_read(app, user_id: int, revision_id: int, **_extra) -> None:
    """One statement: the first view inserts, later views move last_at and count.

    It runs on a connection of its own and commits at once, so the request's session (and the user
    loaded in it) is not expired by a commit and read again.
    """
    now = utcnow()
    stmt = upsert({"user_id": user_id, "revision_id": revision_id, "first_at": now, "last_at": now, "count": 1})
    with db.engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["user_id", "revision_id"],
            set_={"last_at": now, "count": ReadReceipt.count + 1},
        ))

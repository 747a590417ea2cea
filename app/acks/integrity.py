"""Every signature against its audit entry: each acknowledgement has its ack.sign event and each ack.sign event
its acknowledgement (same person, SOP, revision number and SHA-256). Registered with `flask audit verify`."""
import json
from collections import Counter
from itertools import groupby

import sqlalchemy as sa

from app import audit
from app.acks.models import Acknowledgement
from app.audit import AuditEvent
from app.extensions import db
from app.sops.models import Sop, SopRevision


def bytewise(column):
    """Sorted as Python compares strings, whatever the database's collation: the two streams are merged."""
    return sa.collate(column, "C" if db.engine.dialect.name == "postgresql" else "BINARY")


def signatures_by_sop():
    """(object, [(user id, revision number, sha256, acknowledgement id)]) per SOP, in object order."""
    rows = db.session.execute(
        sa.select(Sop.code, Acknowledgement.user_id, SopRevision.number, Acknowledgement.content_sha256,
                  Acknowledgement.id)
        .join(Sop, Sop.id == Acknowledgement.sop_id).join(SopRevision, SopRevision.id == Acknowledgement.revision_id)
        .order_by(bytewise(Sop.code), Acknowledgement.id)).yield_per(5000)
    for code, group in groupby(rows, key=lambda r: r[0]):
        yield f"sop:{code}", [(r[1], r[2], r[3], r[4]) for r in group]


def events_by_sop():
    """(object, [(user id, revision number, sha256, event id)]) of the ack.sign events, in object order."""
    rows = db.session.execute(
        sa.select(AuditEvent.object, AuditEvent.actor_id, AuditEvent.detail, AuditEvent.id)
        .where(AuditEvent.action == "ack.sign").order_by(bytewise(AuditEvent.object), AuditEvent.id)).yield_per(5000)
    for obj, group in groupby(rows, key=lambda r: r[0]):
        items = []
        for _obj, actor_id, detail, event_id in group:
            try:
                d = json.loads(detail)
            except ValueError:
                d = {}
            items.append((actor_id, d.get("revision"), d.get("sha256"), event_id))
        yield obj, items


def compare(obj: str, signed: list, events: list, problems: list[str]) -> None:
    have = Counter(s[:3] for s in signed)
    logged = Counter(e[:3] for e in events)
    for user_id, number, sha, ack_id in signed:
        if logged[(user_id, number, sha)] > 0:
            logged[(user_id, number, sha)] -= 1
        else:
            problems.append(f"signature without its audit entry: acknowledgement id {ack_id} (user id {user_id}, "
                            f"{obj} revision {number}, sha256 {sha[:12]}…)")
    for user_id, number, sha, event_id in events:
        if have[(user_id, number, sha)] > 0:
            have[(user_id, number, sha)] -= 1
        else:
            problems.append(f"ack.sign audit event id {event_id} has no signature (user id {user_id}, {obj} "
                            f"revision {number}, sha256 {str(sha)[:12]}…)")


@audit.signature_check
def acknowledgements() -> audit.SignatureCheck:
    """Merge the two streams by SOP, so memory holds one SOP's signatures at a time."""
    result = audit.SignatureCheck("acknowledgements", 0)
    sigs, events = signatures_by_sop(), events_by_sop()
    s, e = next(sigs, None), next(events, None)
    while s is not None or e is not None:
        if e is None or (s is not None and s[0] < e[0]):
            obj, signed, logged = s[0], s[1], []
        elif s is None or e[0] < s[0]:
            obj, signed, logged = e[0], [], e[1]
        else:
            obj, signed, logged = s[0], s[1], e[1]
        result.checked += len(signed)
        compare(obj, signed, logged, result.problems)
        if signed:
            s = next(sigs, None)
        if logged:
            e = next(events, None)
    return result

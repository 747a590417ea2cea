"""Every document-control signature (编制, 审核, 批准, 复审, 批准作废) against its audit entry, for `flask audit verify`.
Each signature's event names it (`signature` in the detail) with the same signer, meaning and SHA-256."""
import json

import sqlalchemy as sa

from app import audit
from app.audit import AuditEvent
from app.authoring.models import DocSignature
from app.authoring.review import AUDIT_ACTION
from app.extensions import db


@audit.signature_check
def doc_signatures() -> audit.SignatureCheck:
    """Document signatures are few (a handful per revision): both sides fit in memory."""
    result = audit.SignatureCheck("document signatures", 0)
    meaning_of = {action: meaning for meaning, action in AUDIT_ACTION.items()}
    logged = {}
    for event_id, action, actor_id, detail in db.session.execute(
            sa.select(AuditEvent.id, AuditEvent.action, AuditEvent.actor_id, AuditEvent.detail)
            .where(AuditEvent.action.in_(list(meaning_of)))):
        d = json.loads(detail or "{}")
        logged[d.get("signature")] = (event_id, meaning_of[action], actor_id, d.get("sha256"))
    for sig in db.session.scalars(sa.select(DocSignature).order_by(DocSignature.id)):
        result.checked += 1
        event = logged.pop(sig.id, None)
        if event is None:
            result.problems.append(f"signature without its audit entry: doc_signature id {sig.id} "
                                   f"({sig.meaning}, user id {sig.user_id})")
        elif event[1:] != (sig.meaning, sig.user_id, sig.content_sha256):
            result.problems.append(f"doc_signature id {sig.id} differs from its audit event id {event[0]}")
    for signature_id, (event_id, meaning, _actor, _sha) in sorted(logged.items(), key=lambda kv: kv[1][0]):
        result.problems.append(f"{meaning} audit event id {event_id} has no signature (doc_signature id {signature_id})")
    return result

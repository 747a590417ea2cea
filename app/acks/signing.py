"""Signing an SOP revision: re-authentication, one record per (user, revision), an audit entry."""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_request_context, request, session
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app import audit
from app.acks.duties import last_signatures, person_duties
from app.acks.models import Acknowledgement
from app.auth.models import User
from app.auth.service import verify_password
from app.errors import UserError
from app.extensions import db, read_only
from app.clock import utcnow
from app.sops.models import Sop, SopRevision

# What a signature means; stored with every signature in the words the signer saw.
MEANING = _l("I have read and understood this procedure and will follow it.")


class SignError(UserError):
    status = 409


@dataclass
class SignState:
    """What the sign panel shows one person for one SOP."""
    sop: Sop
    duty: object  # Duty | None: None when the SOP is not required of this person
    signature: Acknowledgement | None  # the signature that counts for the current revision
    superseded: Acknowledgement | None  # their last signature, made obsolete by a material revision
    needs_password: bool


def session_key(user: User) -> str:
    return f"{user.id}:{user.session_version}"  # a new login (or logout elsewhere) asks again


def needs_password(user: User) -> bool:
    """Every signing asks for the password, unless configured 'session' and it was given this session."""
    return current_app.config["ACK_REAUTH"] != "session" or session.get("ack_reauth") != session_key(user)


def sign_state(user: User, sop: Sop) -> SignState:
    duty = next(iter(person_duties(user.id, sop_id=sop.id)), None)
    last = last_signatures(user.id, [sop.id]).get(sop.id)
    valid = last is not None and last.basis_id == sop.current.basis_id
    return SignState(sop, duty, last if valid else None, None if valid else last, needs_password(user))


def insert_once(values: dict) -> bool:
    """Insert the signature unless (user, revision) already has one; True when this call inserted it."""
    table = Acknowledgement.__table__
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(table)
    stmt = insert.values(**values).on_conflict_do_nothing(index_elements=["user_id", "revision_id"]).returning(table.c.id)
    return db.session.execute(stmt).scalar() is not None


def record_signature(user: User, sop: Sop, rev: SopRevision, method: str, at: datetime | None = None) -> bool:
    """Insert the signature of rev (unless there is one) with an audit entry; True when it was new."""
    voluntary = not person_duties(user.id, sop_id=sop.id)
    values = {
        "user_id": user.id, "revision_id": rev.id, "sop_id": sop.id, "basis_id": rev.basis_id,
        "printed_name": user.display_name, "signed_at": at or utcnow(), "meaning": str(MEANING),
        "content_sha256": rev.content_hash, "auth_method": method, "voluntary": voluntary,
        "ip": (request.remote_addr or "") if has_request_context() else "",
    }
    if not insert_once(values):
        return False
    audit.record("ack.sign", f"sop:{sop.code}", {
        "revision": rev.number, "version": rev.version, "sha256": rev.content_hash, "method": method,
        "voluntary": voluntary}, actor=user)
    return True


def sign(user: User, sop: Sop, revision_id: int | None, password: str) -> Acknowledgement:
    """Record user's signature of sop's current revision and return it. Idempotent: a second call
    (double click, second tab, retry) returns the first record. The caller commits, also on SignError
    (a wrong password leaves an audit entry).

    Everything up to and including the password check only reads, outside the write transaction: on SQLite
    the write lock is taken for the two inserts, never across the password hash (which takes ~100 ms)."""
    with read_only():
        rev = sop.current
        if sop.retired_at is not None:
            raise SignError("This SOP has been retired. There is nothing to sign.")
        if revision_id is None:
            raise SignError("The form was incomplete. Refresh the page and sign again.", 422)
        if revision_id != rev.id:
            raise SignError("The page you signed from shows an older revision; revision %(n)s has replaced it. "
                            "Read the current revision, then sign again.", n=rev.number)
        existing = db.session.scalar(sa.select(Acknowledgement).where(
            Acknowledgement.user_id == user.id, Acknowledgement.revision_id == rev.id))
        if existing is not None:
            return existing
        method = "password" if needs_password(user) else "session"
        wrong = method == "password" and not verify_password(user, password or "", SignError)
    if wrong:
        audit.record("ack.failed", f"sop:{sop.code}", {"revision": rev.number, "reason": "wrong password"}, actor=user)
        raise SignError("The password is wrong. Nothing was signed.", 401)
    record_signature(user, sop, rev, method)  # a concurrent double click is absorbed by the unique key
    if method == "password" and has_request_context():
        session["ack_reauth"] = session_key(user)
    return db.session.scalar(sa.select(Acknowledgement).where(
        Acknowledgement.user_id == user.id, Acknowledgement.revision_id == rev.id))

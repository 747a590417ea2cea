"""Reader feedback: anyone flags a section (此步骤有误 / 已过时 / 看不懂) with a note; the SOP's owner (or an
author of its department) replies, links the draft that fixes it, and closes it; the reader sees the answer."""
from functools import cache

import sqlalchemy as sa

from app import audit
from app.auth.models import User
from app.authoring.models import FEEDBACK_KINDS, Draft, Feedback
from app.authoring.permissions import AuthoringError, can_author
from app.extensions import db
from app.clock import utcnow
from app.sops.models import Sop, SopRevision

MAX_NOTE = 2000
KIND_LABELS = {"wrong": "此步骤有误", "outdated": "已过时", "unclear": "看不懂"}


def flag(user: User, sop: Sop, revision: SopRevision | None, anchor: str, kind: str, note: str) -> Feedback:
    """A reader flags a section of a revision (the current one when None)."""
    revision = revision or sop.current
    if revision is None or revision.sop_id != sop.id:
        raise AuthoringError("There is no such revision.", 404)
    if kind not in FEEDBACK_KINDS:
        raise AuthoringError("Choose what is wrong with this section.", 422)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise AuthoringError("A note can be at most %(n)s characters.", 422, n=MAX_NOTE)
    anchor = (anchor or "").strip()[:200]
    if anchor and anchor not in {t.get("id") for t in revision.toc}:
        anchor = ""  # not a section of this revision: the whole SOP
    fb = Feedback(sop_id=sop.id, revision_id=revision.id, anchor=anchor, kind=kind, note=note, user_id=user.id,
                  created_at=utcnow())
    db.session.add(fb)
    db.session.flush()
    audit.record("doc.feedback", f"sop:{sop.code}", {"feedback": fb.id, "kind": kind, "anchor": anchor}, actor=user)
    return fb


def may_answer(fb: Feedback, user: User) -> None:
    if not can_author(user, fb.sop.department, fb.sop):
        raise AuthoringError("Only the SOP's owner or an author of its department can answer feedback.", 403)


def get_feedback(feedback_id: int, user: User) -> Feedback:
    """The item, for its reader or someone who may answer it; 404 unknown, 403 anyone else."""
    fb = db.session.get(Feedback, feedback_id)
    if fb is None:
        raise AuthoringError("There is no such feedback.", 404)
    if fb.user_id != user.id:
        may_answer(fb, user)
    return fb


def reply(fb: Feedback, user: User, text: str) -> Feedback:
    may_answer(fb, user)
    text = (text or "").strip()
    if not text:
        raise AuthoringError("Write the answer first.", 422)
    if len(text) > MAX_NOTE:
        raise AuthoringError("A note can be at most %(n)s characters.", 422, n=MAX_NOTE)
    fb.reply, fb.replied_by_id, fb.replied_at = text, user.id, utcnow()
    audit.record("doc.feedback_reply", f"sop:{fb.sop.code}", {"feedback": fb.id}, actor=user)
    return fb


def link(fb: Feedback, user: User, draft: Draft) -> Feedback:
    """Link the item to the draft that fixes it (a draft of the same SOP)."""
    may_answer(fb, user)
    if draft.code != fb.sop.code:
        raise AuthoringError("That draft is for another SOP.", 422)
    fb.draft_id = draft.id
    audit.record("doc.feedback_link", f"sop:{fb.sop.code}", {"feedback": fb.id, "draft": draft.id}, actor=user)
    return fb


def close(fb: Feedback, user: User) -> Feedback:
    may_answer(fb, user)
    if fb.closed_at is None:
        fb.closed_at, fb.closed_by_id = utcnow(), user.id
        audit.record("doc.feedback_close", f"sop:{fb.sop.code}", {"feedback": fb.id}, actor=user)
    return fb


@cache
def queue_statement(include_closed: bool) -> sa.Select:
    """Built once for each case: every to-do count asks it."""
    stmt = sa.select(Feedback).options(sa.orm.joinedload(Feedback.sop).joinedload(Sop.current)) \
        .order_by(Feedback.closed_at.is_not(None), Feedback.created_at)
    return stmt if include_closed else stmt.where(Feedback.closed_at.is_(None))


def queue(owner: User, include_closed: bool = False) -> list[Feedback]:
    """The feedback this user may answer (SOPs they own or author), open items first, oldest first."""
    return [fb for fb in db.session.scalars(queue_statement(include_closed)).unique()
            if can_author(owner, fb.sop.department, fb.sop)]


def mine(user: User) -> list[Feedback]:
    """What this reader flagged, newest first, with the answers."""
    return list(db.session.scalars(sa.select(Feedback).where(Feedback.user_id == user.id)
                                   .order_by(Feedback.created_at.desc())))

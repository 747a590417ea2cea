"""Review and approval: 提交审核 (submit) → 审核 (review) → 批准发布 (approve, publish now or on a date).

Each step is one function; each signature is an append-only DocSignature plus an audit event carrying the
SHA-256 of the exact text signed. Review and approval re-enter the password, checked before anything is
written; a wrong one is refused (401) and audited as `doc.failed` — the caller commits then too, so that
the audit entry stays. Rate limiting of wrong passwords (AUTHORING_SIGN_LIMIT) is the view's decorator."""
import hashlib
from functools import cache
from datetime import date

import sqlalchemy as sa
from flask import has_request_context, request

from app import audit
from app.auth.models import User
from app.auth.service import verify_password
from app.authoring.drafts import check_draft, is_stale, may_edit
from app.authoring.models import Draft, DraftComment, DocSignature
from app.authoring.permissions import (AuthoringError, approvers, can_author, can_view, check_signer, draft_meta,
                                       reviewers)
from app.extensions import db
from app.clock import utcnow
from app.sops.models import Sop, SopRevision
from app.waiting import Event, emit
from app.web import path_for

# The words each signature carries, as the signer saw them (stored with the signature).
MEANING_TEXT = {
    "authored": "编制：我编写了此版本，提交审核",
    "reviewed": "审核：我已审核此版本，内容正确，同意提交批准",
    "approved": "批准发布：我批准此版本发布施行",
    "periodic_review": "复审无需修改：我已复审此规程，内容仍然有效",
    "retire_approved": "批准作废：我批准此规程作废，停止使用",
}
SHORT = {"authored": "编制", "reviewed": "审核", "approved": "批准", "periodic_review": "复审",
         "retire_approved": "批准作废"}
AUDIT_ACTION = {"authored": "doc.submit", "reviewed": "doc.review", "approved": "doc.approve",
                "periodic_review": "doc.periodic_review", "retire_approved": "doc.retire_approve"}
MAX_COMMENT = 4000


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sign(user: User, meaning: str, *, draft: Draft | None = None, sop: Sop | None = None,
         revision: SopRevision | None = None, content_sha256: str, method: str, self_approved: bool = False,
         note: str = "") -> DocSignature:
    """Insert one signature and its audit event (with the SHA-256 of what was signed)."""
    sop = sop or (draft.sop if draft is not None else None)
    signature = DocSignature(
        draft_id=draft.id if draft is not None else None, sop_id=sop.id if sop is not None else None,
        revision_id=revision.id if revision is not None else None, meaning=meaning,
        meaning_text=MEANING_TEXT[meaning], user_id=user.id, printed_name=user.display_name, signed_at=utcnow(),
        content_sha256=content_sha256, auth_method=method, self_approved=self_approved, note=note,
        ip=(request.remote_addr or "") if has_request_context() else "",
    )
    db.session.add(signature)
    db.session.flush()
    obj = f"draft:{draft.id}" if draft is not None else f"sop:{sop.code}"
    audit.record(AUDIT_ACTION[meaning], obj, {
        "sop": draft.code if draft is not None else sop.code, "meaning": meaning, "sha256": content_sha256,
        "method": method, "self_approved": self_approved, "signature": signature.id,
        "revision": revision.number if revision is not None else None}, actor=user)
    return signature


def check_password(user: User, password: str, obj: str, step: str) -> None:
    """Re-authentication for a signature. Wrong: audited `doc.failed`, AuthoringError 401 (caller commits)."""
    if not verify_password(user, password or "", AuthoringError):
        audit.record("doc.failed", obj, {"step": step, "reason": "wrong password"}, actor=user)
        raise AuthoringError("The password is wrong. Nothing was signed.", 401)


def transition(draft: Draft, before: tuple[str, ...], after: str, **values) -> None:
    """Move the draft from one of `before` to `after` with one conditional UPDATE: of two people acting on the
    same draft at once (two approvers, a return and an approval), one wins and the other gets 409."""
    done = db.session.execute(
        sa.update(Draft).where(Draft.id == draft.id, Draft.state.in_(before))
        .values(state=after, updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(draft)
    if done != 1:
        raise AuthoringError("Someone else acted on this draft a moment ago; reload it to see its state.", 409)


def signatures(draft: Draft) -> list[DocSignature]:
    """The draft's signatures, oldest first (编制, 审核, 批准, and again after a return)."""
    return list(db.session.scalars(sa.select(DocSignature).where(DocSignature.draft_id == draft.id)
                                   .order_by(DocSignature.id)))


def revision_signatures(rev: SopRevision) -> dict[str, DocSignature]:
    """编制 / 审核 / 批准 of the draft that produced a revision: the last of each meaning ({} for a file)."""
    if rev.draft_id is None:
        return {}
    return {s.meaning: s for s in db.session.scalars(sa.select(DocSignature).where(
        DocSignature.draft_id == rev.draft_id).order_by(DocSignature.id))}


# --- the steps ----------------------------------------------------------------------------------------

def submit(draft: Draft, user: User) -> Draft:
    """提交审核: draft → in_review. Needs a change note and a text that passes check(); signed 编制 by the
    logged-in author (auth_method 'session')."""
    may_edit(draft, user)
    if not draft.change_note.strip():
        raise AuthoringError("Write a change note: what changed, and why.", 422)
    if draft.kind != "retire":
        problems = check_draft(draft)
        if problems:
            raise AuthoringError("Line %(line)s: %(reason)s", 422, line=problems[0].line, reason=problems[0].reason)
    transition(draft, ("draft",), "in_review", holder_id=None, held_until=None)
    sign(user, "authored", draft=draft, content_sha256=sha256(draft.text), method="session", note=draft.change_note)
    title = draft_meta(draft).get("title")
    emit(Event(kind="draft_review", text=f"SOP草稿待审核：{draft.code}" + (f" {title}" if isinstance(title, str) else "") + "。",
               url=path_for("authoring.draft", draft_id=draft.id), department_id=draft.department_id,
               user_ids=tuple(u.id for u in reviewers(draft) if u.id != user.id), extra={"draft_id": draft.id}))
    return draft


def comment(draft: Draft, user: User, body: str, line: int | None = None, kind: str = "comment") -> DraftComment:
    """A comment on the draft (optionally on one line of its text) by anyone who may see it."""
    if not can_view(user, draft):
        raise AuthoringError("This draft belongs to another department.", 403)
    body = (body or "").strip()
    if not body:
        raise AuthoringError("Write the comment first.", 422)
    if len(body) > MAX_COMMENT:
        raise AuthoringError("A comment can be at most %(n)s characters.", 422, n=MAX_COMMENT)
    if line is not None and not 1 <= line <= draft.text.count("\n") + 1:
        line = None
    note = DraftComment(draft=draft, user_id=user.id, at=utcnow(), kind=kind, line=line, body=body)
    db.session.add(note)
    db.session.flush()
    audit.record("doc.comment", f"draft:{draft.id}", {"kind": kind, "line": line}, actor=user)
    return note


def review_pass(draft: Draft, user: User, password: str) -> Draft:
    """审核: in_review → reviewed, signed with the password by a reviewer of the draft's department."""
    if draft.state != "in_review":
        raise AuthoringError("This draft is not waiting for review.", 409)
    self_signed = check_signer(draft, user, "reviewers")
    check_password(user, password, f"draft:{draft.id}", "review")
    transition(draft, ("in_review",), "reviewed")
    sign(user, "reviewed", draft=draft, content_sha256=sha256(draft.text), method="password",
         self_approved=self_signed)
    return draft


def return_draft(draft: Draft, user: User, text: str) -> Draft:
    """退回修改: in_review / reviewed / approved (not yet published) → draft, with a required comment."""
    if draft.state not in ("in_review", "reviewed", "approved"):
        raise AuthoringError("Only a submitted draft can be returned.", 409)
    allowed = {u.id for u in reviewers(draft) + approvers(draft)} | {draft.author_id}
    if not (user.role == "admin" or user.id in allowed):
        raise AuthoringError("You are not a reviewer or approver of %(dept)s drafts.", 403, dept=draft.department.name)
    if not (text or "").strip():
        raise AuthoringError("Say what must change: a returned draft needs a comment.", 422)
    transition(draft, ("in_review", "reviewed", "approved"), "draft", effective_on=None)
    comment(draft, user, text, kind="return")
    audit.record("doc.return", f"draft:{draft.id}", {"sop": draft.code}, actor=user)
    return draft


def approve(draft: Draft, user: User, password: str, effective_on: date | None = None,
            today: date | None = None) -> Draft:
    """批准发布: reviewed → approved, signed with the password by an approver; published at once when
    effective_on is None or due, else by `flask authoring publish-due` on that date.

    Refused before anything is written: someone who is not an approver, or the author (403, unless
    AUTHORING_ALLOW_SELF_APPROVAL and nobody else may approve: then the signature says self-approved);
    a stale draft (409: rebase first); a wrong password (401, audited). Publishing commits."""
    from app.authoring.publish import publish

    today = today or date.today()
    if draft.state != "reviewed":
        raise AuthoringError("This draft must be reviewed before it is approved.", 409)
    self_signed = check_signer(draft, user, "approvers")
    if is_stale(draft):
        raise AuthoringError("Revision %(n)s has been published since this draft was started. Rebase the draft "
                             "on it first.", 409, n=draft.sop.current.number)
    if draft.kind == "new" and db.session.scalar(sa.select(Sop.id).where(Sop.code == draft.code)) is not None:
        raise AuthoringError("An SOP with the id %(code)s exists already.", 409, code=draft.code)
    if effective_on is not None and effective_on < today:
        effective_on = None  # a date in the past means: now
    check_password(user, password, f"draft:{draft.id}", "approve")
    meaning = "retire_approved" if draft.kind == "retire" else "approved"
    transition(draft, ("reviewed",), "approved", effective_on=effective_on, self_approved=self_signed)
    sign(user, meaning, draft=draft, content_sha256=sha256(draft.text), method="password",
         self_approved=self_signed, note=f"effective {effective_on}" if effective_on else "")
    if effective_on is None or effective_on <= today:
        publish(draft)
    return draft


def withdraw(draft: Draft, user: User) -> Draft:
    """The author (or an author of the department) abandons an unpublished draft."""
    if not (user.id == draft.author_id or can_author(user, draft.department, draft.sop)):
        raise AuthoringError("You may not write %(dept)s SOPs.", 403, dept=draft.department.name)
    if not draft.is_open:
        raise AuthoringError("This draft is closed.", 409)
    transition(draft, ("draft", "in_review", "reviewed", "approved"), "withdrawn", holder_id=None, held_until=None)
    audit.record("doc.withdraw", f"draft:{draft.id}", {"sop": draft.code}, actor=user)
    return draft


def publish_due(today: date) -> list[str]:
    """Publish every approved draft whose effective date has come; one line per draft (cron, daily)."""
    from app.authoring.publish import publish

    lines = []
    due = list(db.session.scalars(sa.select(Draft).where(
        Draft.state == "approved", Draft.effective_on <= today).order_by(Draft.effective_on, Draft.id)))
    for draft in due:
        if is_stale(draft):
            lines.append(f"{draft.code}: not published, revision {draft.sop.current.number} came first; rebase it")
            continue
        try:
            rev = publish(draft)
        except AuthoringError as e:
            db.session.rollback()
            lines.append(f"{draft.code}: not published: {e}")
            continue
        lines.append(f"{draft.code}: " + (f"revision {rev.number} published" if rev is not None else "retired"))
    lines.append(f"{len(due)} approved drafts due")
    return lines


# --- work waiting ------------------------------------------------------------------------------------------

@cache
def pending_drafts() -> sa.Select:
    """Drafts in review or approval: built once (every to-do count asks it)."""
    return sa.select(Draft).where(Draft.state.in_(("in_review", "reviewed"))).order_by(Draft.updated_at)


def waiting_for(user: User) -> dict[str, list[Draft]]:
    """Drafts this user may act on: {'review': …, 'approve': …} (the author's own excluded)."""
    pending = list(db.session.scalars(pending_drafts()))
    out = {"review": [], "approve": []}
    for draft in pending:
        key, people = ("review", reviewers(draft)) if draft.state == "in_review" else ("approve", approvers(draft))
        if (user.role == "admin" or user.id in {u.id for u in people}) and user.id != draft.author_id:
            out[key].append(draft)
    return out

"""Review and approval: 提交审核, comments, 审核通过, 退回修改, 批准发布, rebase, and 作废 (retire) drafts."""
from datetime import date

import sqlalchemy as sa
from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow
from app.authoring import bp, drafts, review
from app.authoring.models import DocSignature, Draft
from app.authoring.permissions import AuthoringError, can_author, check_signer, get_draft
from app.authoring.views import is_editor, save_if_changed, text_from_form, with_draft_files
from app.extensions import db, limiter
from app.htmx import render
from app.sops.diff import meta_diff, table_diff, text_diff
from app.sops.library import get_sop
from app.sops.render import render_markdown
from app.web import small_int


def plain(meta: dict) -> dict:
    """Front matter as the revisions store it (dates as text), without empty fields (a revision stores
    `tags: []` where a draft just has no tags), so the diff shows real changes only."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in meta.items() if v not in (None, "", [])}


def may_sign(d: Draft, key: str) -> tuple[bool, bool]:
    """(may sign this step, would be a self-approval)."""
    try:
        return True, check_signer(d, current_user, key)
    except AuthoringError:
        return False, False


def changes(old_meta: dict, old_md: str, new_meta: dict, new_md: str) -> dict:
    return {"meta": meta_diff(plain(old_meta), plain(new_meta)), "hunks": text_diff(old_md, new_md),
            "tables": table_diff(old_md, new_md)}


def review_context(d: Draft, **extra) -> dict:
    meta, body = drafts.split(d.text)
    current = d.sop.current if d.sop else None
    review_ok, review_self = may_sign(d, "reviewers") if d.state == "in_review" else (False, False)
    approve_ok, approve_self = may_sign(d, "approvers") if d.state == "reviewed" else (False, False)
    html, _toc, has_diagram = render_markdown(body)
    html = with_draft_files(html, d)
    return {
        "draft": d, "meta": meta, "html": html, "has_diagram": has_diagram, "current": current,
        "stale": bool(d.sop and d.is_open and d.base_revision_id != d.sop.current_revision_id),
        "diff": changes(current.meta, current.markdown, meta, body) if current and d.kind != "retire" else None,
        "signatures": review.signatures(d),
        "can_edit": d.is_open and can_author(current_user, d.department, d.sop),
        "can_submit": d.state == "draft" and can_author(current_user, d.department, d.sop),
        "can_review": review_ok, "can_approve": approve_ok, "self_sign": review_self or approve_self,
        "holder": drafts.lease_holder(d, current_user), "today": date.today(), "errors": {},
        "meanings": review.MEANING_TEXT, **extra,
    }


def review_page(d: Draft, status: int = 200, **extra) -> Response:
    """The draft as reviewers and approvers see it: diff against the current revision, comments, actions."""
    return render("authoring/review.html", "authoring/_review.html", status, **review_context(d, **extra))


def done(d: Draft, message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("authoring.draft", draft_id=d.id), 303)


def sign_limit_key() -> str:
    return f"docsign:{current_user.get_id()}"


def signing(view):
    """Wrong passwords at review, approval and periodic review count against one per-user limit."""
    return limiter.limit(lambda: current_app.config["AUTHORING_SIGN_LIMIT"], key_func=sign_limit_key,
                         deduct_when=lambda response: response.status_code == 401)(view)


@bp.post("/drafts/<int:draft_id>/submit")
@allow("staff")
def submit(draft_id: int):
    """提交审核. From the editor it saves what is in the form first, so nothing typed is left behind."""
    d = get_draft(draft_id, current_user)
    if "body" in request.form and is_editor(d):
        try:
            save_if_changed(d, text_from_form(d), request.form.get("change_note", "").strip(),
                            request.form.get("base_version", type=small_int))
        except AuthoringError as e:
            db.session.rollback()
            from app.authoring.views import saved_status
            d = get_draft(draft_id, current_user)
            text = text_from_form(d)
            return saved_status(d, e.status, conflict=e.message(), mine=text, text=text,
                                change_note=request.form.get("change_note", "").strip())
    elif request.form.get("change_note", "").strip() and d.state == "draft":
        drafts.save(d, current_user, d.text, request.form["change_note"].strip(), d.version)
    try:
        review.submit(d, current_user)
    except AuthoringError as e:
        db.session.rollback()
        d = get_draft(draft_id, current_user)
        if is_editor(d):
            from app.authoring.views import editor_context
            return render("authoring/editor.html", "authoring/_editor.html", e.status,
                          **editor_context(d, submit_error=e.message()))
        return review_page(d, e.status, errors={"submit": e.message()})
    db.session.commit()
    return done(d, _("Submitted for review."))


@bp.post("/drafts/<int:draft_id>/comment")
@allow("staff")
def comment(draft_id: int):
    """A comment on the draft (optionally on one line of its text)."""
    d = get_draft(draft_id, current_user)
    body = request.form.get("body", "").strip()
    if not body:
        return review_page(d, 422, errors={"comment": _("Write a comment first.")})
    review.comment(d, current_user, body, line=request.form.get("line", type=small_int))
    db.session.commit()
    flash(_("Comment added."), "success")
    return redirect(url_for("authoring.draft", draft_id=d.id, _anchor="comments"), 303)


@bp.post("/drafts/<int:draft_id>/return")
@allow("staff")
def return_(draft_id: int):
    """退回修改: back to the author, with a comment saying why (required)."""
    d = get_draft(draft_id, current_user)
    text = request.form.get("comment", "").strip()
    if not text:
        return review_page(d, 422, errors={"return": _("Say what needs changing: a comment is required.")})
    try:
        review.return_draft(d, current_user, text)
    except AuthoringError as e:
        db.session.rollback()
        return review_page(get_draft(draft_id, current_user), e.status, errors={"return": e.message()})
    db.session.commit()
    return done(d, _("Returned to the author."))


def signed_step(draft_id: int, step, field: str, message: str, **kwargs) -> Response:
    d = get_draft(draft_id, current_user)
    try:
        step(d, current_user, request.form.get("password", ""), **kwargs)
    except AuthoringError as e:
        db.session.commit()  # keeps the audit entry of a failed attempt (nothing else was written)
        return review_page(get_draft(draft_id, current_user), e.status, errors={field: e.message()})
    db.session.commit()
    return done(d, message)


@bp.post("/drafts/<int:draft_id>/review")
@signing
@allow("staff")
def review_pass(draft_id: int):
    """审核通过, signed with the reviewer's password."""
    return signed_step(draft_id, review.review_pass, "review", _("Review signed."))


@bp.post("/drafts/<int:draft_id>/approve")
@signing
@allow("staff")
def approve(draft_id: int):
    """批准发布, signed with the approver's password; published now or on the chosen effective date."""
    raw = request.form.get("effective_on", "").strip()
    try:
        effective = date.fromisoformat(raw) if raw else None
    except ValueError:
        d = get_draft(draft_id, current_user)
        return review_page(d, 422, errors={"approve": _("The effective date must be a date (YYYY-MM-DD).")})
    return signed_step(draft_id, review.approve, "approve", _("Approved."), effective_on=effective)


@bp.post("/drafts/<int:draft_id>/rebase")
@allow("staff")
def rebase(draft_id: int):
    """Move a stale draft onto the SOP's current revision and show what changed there, to merge by hand."""
    d = get_draft(draft_id, current_user)
    if not can_author(current_user, d.department, d.sop):
        raise AuthoringError("Only the draft's authors can rebase it.", 403)
    result = drafts.rebase(d, current_user)
    db.session.commit()
    return render_template("authoring/rebase.html", draft=d, old=result["base"], new=result["current"],
                           meta=result["meta"], hunks=result["text"], tables=result["tables"])


@bp.post("/sops/<code>/retire")
@allow("staff")
def retire(code: str):
    """作废: start a retire draft, which goes through review and approval like any change."""
    sop = get_sop(code)
    if not can_author(current_user, sop.department, sop) or sop.retired_at:
        raise AuthoringError("You may not retire this SOP.", 403)
    d = drafts.start_draft(current_user, department=sop.department, sop=sop, kind="retire")
    db.session.commit()
    return redirect(url_for("authoring.draft", draft_id=d.id), 303)

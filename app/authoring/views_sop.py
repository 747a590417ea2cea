"""What document control adds to the SOP page: the authors' tools (编辑, 作废, 复审无需修改), the 编制 / 审核 / 批准
block, and readers' feedback per section with the owner's queue.

The SOP page is cached for everyone with the same role, so per-user tools load by htmx (a page of their own
without JavaScript); the signature block and the section forms are the same for everyone and sit in the page."""
from datetime import date, timedelta
from html.parser import HTMLParser

import sqlalchemy as sa
from flask import Response, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from app.access import allow
from app.authoring import bp, drafts, feedback, periodic
from app.authoring.models import OPEN_STATES, DocSignature, Draft, Feedback
from app.authoring.permissions import AuthoringError, can_author, get_draft
from app.authoring.views_review import signing
from app.extensions import db
from app.htmx import render, wants_fragment
from app.sops.library import get_revision, get_sop
from app.sops.models import SopRevision
from app.web import small_int



@bp.app_template_global()
def doc_signatures(sop) -> dict[int, dict[str, DocSignature]]:
    """For each revision of the SOP published from the browser: the last signature of each meaning
    (编制 authored, 审核 reviewed, 批准 approved) of the draft that made it, and periodic reviews of it."""
    rows = db.session.execute(
        sa.select(SopRevision.id, DocSignature).join(DocSignature, sa.or_(
            sa.and_(DocSignature.draft_id == SopRevision.draft_id, SopRevision.draft_id.is_not(None)),
            DocSignature.revision_id == SopRevision.id))
        .where(SopRevision.sop_id == sop.id).order_by(DocSignature.signed_at, DocSignature.id)
        .options(sa.orm.joinedload(DocSignature.user))
    ).all()
    found: dict[int, dict[str, DocSignature]] = {}
    for revision_id, sig in rows:
        found.setdefault(revision_id, {})[sig.meaning] = sig
    return found


class TopLevelHeadings(HTMLParser):
    """Offsets of the h2 elements that are not inside another element (a heading inside an admonition stays
    where it is, so every piece of the cut body is balanced HTML)."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.depth, self.found, self.starts = 0, [], [0]
        for line in html.split("\n"):
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "h2" and self.depth == 0:
            line, col = self.getpos()
            self.found.append((self.starts[line - 1] + col, dict(attrs).get("id") or ""))
        if tag not in self.VOID:
            self.depth += 1

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            self.depth = max(0, self.depth - 1)


@bp.app_template_global()
def sop_sections(html: str) -> list[tuple[str, Markup]]:
    """The rendered body cut before each top-level h2: (anchor, html). Readers flag a section by its anchor."""
    found = TopLevelHeadings(html).found
    cuts = found if found and found[0][0] == 0 else [(0, "")] + found
    parts = []
    for (start, anchor), (end, _next) in zip(cuts, cuts[1:] + [(len(html), "")]):
        if html[start:end].strip():
            parts.append((anchor, Markup(html[start:end])))
    return parts


def tools_context(sop) -> dict:
    author = can_author(current_user, sop.department, sop)
    open_draft = db.session.scalar(sa.select(Draft).where(Draft.code == sop.code, Draft.state.in_(OPEN_STATES)))
    rev = sop.current
    due = rev.review_due
    return {
        "sop": sop, "author": author, "open_draft": open_draft, "today": date.today(),
        "review_soon": author and due is not None and due <= date.today() + timedelta(days=30),
        "next_review": (max(due, date.today()) if due else date.today()) + timedelta(days=365),
        "open_feedback": db.session.scalar(sa.select(sa.func.count(Feedback.id)).where(
            Feedback.sop_id == sop.id, Feedback.closed_at.is_(None))) if author else 0,
        "my_feedback": list(db.session.scalars(sa.select(Feedback).where(
            Feedback.sop_id == sop.id, Feedback.user_id == current_user.id).order_by(Feedback.created_at.desc()))),
        "errors": {},
    }


def tools(sop, status: int = 200, **extra) -> Response:
    return render("authoring/sop_tools.html", "authoring/_sop_tools.html", status, **{**tools_context(sop), **extra})


@bp.get("/sops/<code>/authoring")
@allow("staff")
def sop_tools(code: str):
    """The SOP page's per-user tools: 编辑 / 作废 / 复审无需修改 for its authors, a reader's own feedback and answers."""
    return tools(get_sop(code))


@bp.post("/sops/<code>/still-valid")
@signing
@allow("staff")
def still_valid(code: str):
    """复审无需修改: a signed periodic review that moves the review date without a new revision."""
    sop = get_sop(code)
    raw = request.form.get("next_review_by", "").strip()
    try:
        next_review = date.fromisoformat(raw)
    except ValueError:
        return tools(sop, 422, errors={"still_valid": _("The next review date must be a date (YYYY-MM-DD).")})
    try:
        periodic.confirm_still_valid(sop, current_user, request.form.get("password", ""), next_review)
    except AuthoringError as e:
        db.session.commit()  # keeps the audit entry of a failed attempt
        return tools(sop, e.status, errors={"still_valid": e.message()})
    db.session.commit()
    if wants_fragment():
        return tools(sop, confirmed=True)
    flash(_("Review recorded: still valid. Next review by %(d)s.", d=next_review), "success")
    return redirect(url_for("sops.show", code=code), 303)


# Feedback --------------------------------------------------------------------------------------------------------


@bp.post("/sops/<code>/feedback")
@allow("staff")
def flag(code: str):
    """A reader flags a section: 此步骤有误 / 已过时 / 看不懂, with a note. Works as a plain form."""
    sop = get_sop(code)
    rev = get_revision(sop, request.form.get("rev", type=small_int))
    anchor = request.form.get("anchor", "")[:200]
    try:
        feedback.flag(current_user, sop, rev, anchor, request.form.get("kind", ""), request.form.get("note", ""))
    except AuthoringError as e:
        db.session.rollback()
        return render("authoring/flag.html", "authoring/_flag_done.html", e.status, sop=sop, anchor=anchor,
                      error=e.message())
    db.session.commit()
    if wants_fragment():
        return render("authoring/flag.html", "authoring/_flag_done.html", sop=sop, anchor=anchor, error=None)
    flash(_("Thank you. The SOP's owner will answer; you will find the answer under Drafts › My feedback."), "success")
    return redirect(url_for("sops.show", code=code, _anchor=anchor or None), 303)


@bp.get("/feedback/")
@allow("staff")
def feedback_index():
    """The owner's feedback queue, and the reader's own feedback with the answers."""
    return render("authoring/feedback.html", "authoring/_feedback_list.html", queue=feedback.queue(current_user),
                  mine=feedback.mine(current_user), kinds=kind_labels(), drafts_open=open_drafts_for_queue())


def kind_labels() -> dict[str, str]:
    return {"wrong": _("This step is wrong"), "outdated": _("Outdated"), "unclear": _("Hard to understand")}


def open_drafts_for_queue() -> dict[int, Draft]:
    """An open draft per SOP, to offer as the fix of a feedback item."""
    return {d.sop_id: d for d in db.session.scalars(sa.select(Draft).where(Draft.state.in_(OPEN_STATES),
                                                                           Draft.sop_id.is_not(None)))}


def owned_feedback(fb_id: int) -> Feedback:
    """The item, for someone who may answer it: 404 unknown, 403 anyone else (its reader included)."""
    fb = feedback.get_feedback(fb_id, current_user)
    feedback.may_answer(fb, current_user)
    return fb


def back_to_queue(message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("authoring.feedback_index"), 303)


@bp.post("/feedback/<int:fb_id>/reply")
@allow("staff")
def feedback_reply(fb_id: int):
    """The owner answers; the reader sees the answer."""
    fb = owned_feedback(fb_id)
    feedback.reply(fb, current_user, request.form.get("reply", ""))
    db.session.commit()
    return back_to_queue(_("Answer sent."))


@bp.post("/feedback/<int:fb_id>/link")
@allow("staff")
def feedback_link(fb_id: int):
    """Link the item to the draft that fixes it (the SOP's open draft, started here if there is none)."""
    fb = owned_feedback(fb_id)
    draft_id = request.form.get("draft_id", type=small_int)
    if draft_id:
        d = get_draft(draft_id, current_user)
    else:  # the SOP's open draft, or a new one
        d = drafts.start_draft(current_user, department=fb.sop.department, sop=fb.sop, kind="edit")
    feedback.link(fb, current_user, d)
    db.session.commit()
    flash(_("Linked to draft %(n)s.", n=d.id), "success")
    return redirect(url_for("authoring.draft", draft_id=d.id), 303)


@bp.post("/feedback/<int:fb_id>/close")
@allow("staff")
def feedback_close(fb_id: int):
    """Close the item (answered, or fixed by a published draft)."""
    fb = owned_feedback(fb_id)
    feedback.close(fb, current_user)
    db.session.commit()
    return back_to_queue(_("Closed."))

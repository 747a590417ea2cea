"""Drafts: my to-do list, 新建规程, 编辑, the editor (autosave, live preview), attachments and Word import.

Review and approval are in views_review.py; the SOP page's tools, feedback and periodic review in views_sop.py."""
import io
import json
from datetime import datetime, timezone

from flask import Response, current_app, flash, redirect, render_template, request, send_file, url_for
from markupsafe import escape
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow
from app.authoring import bp, drafts
from app.authoring.models import Draft
from app.authoring.permissions import AuthoringError, can_author, get_draft
from app.authoring.views_form import FIELD_LABELS, form_values, from_form, place
from app.authoring.views_todo import todo
from app.errors import UserError
from app.extensions import db
from app.htmx import notify, render, wants_fragment
from app.org import Department, departments
from app.sops.content import ID_RE
from app.sops.library import get_sop
from app.sops.render import link_attachments, render_markdown
from app.web import error_page, small_int


@bp.errorhandler(AuthoringError)
def refused(e: AuthoringError):
    """A refused step: the portal's error page, or a notice in #flash for htmx."""
    db.session.rollback()
    return error_page(e.status, e.message())


@bp.app_template_filter("utc_iso")
def utc_iso(value: datetime | None) -> str:
    """A stored time as ISO 8601 with its zone (SQLite hands back naive UTC), for <time datetime>."""
    if value is None:
        return ""
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def is_editor(draft: Draft) -> bool:
    """The editor is for the draft's authors while it is a draft (a retire draft has no text to edit)."""
    return draft.state == "draft" and draft.kind != "retire" and (
        draft.author_id == current_user.id or can_author(current_user, draft.department, draft.sop))


def problems_of(draft: Draft, text: str) -> list:
    """What would stop the text from publishing, checked where the draft will live and with its uploads."""
    depts = departments()
    return drafts.check(text, {d.name for d in depts}, {p.name for d in depts for p in d.positions},
                        drafts.target_path(draft), attachments={a.name for a in draft.attachments})


def editor_context(draft: Draft, text: str | None = None, change_note: str | None = None, **extra) -> dict:
    """Everything the editor page shows. `text` is what the person typed when it differs from the saved one."""
    text = draft.text if text is None else text
    meta, body = drafts.split(text)
    html, _toc, has_diagram = render_markdown(body)
    html = with_draft_files(html, draft)
    return {"draft": draft, "meta": meta, "values": form_values(meta), "body": body,
            "placed": place(text, problems_of(draft, text)),
            "change_note": draft.change_note if change_note is None else change_note, "html": html,
            "has_diagram": has_diagram, "holder": drafts.lease_holder(draft, current_user),
            "report": import_lines(draft), "field_labels": FIELD_LABELS, **extra}


def import_lines(draft: Draft) -> list[str]:
    """The import report: what was converted and what was not."""
    if not draft.import_report:
        return []
    try:
        lines = json.loads(draft.import_report)
    except ValueError:
        return [draft.import_report]
    return [str(line) for line in lines] if isinstance(lines, list) else [str(lines)]


def text_from_form(draft: Draft) -> str:
    """The whole file from the editor's form: the front matter fields over the draft's own, and the body."""
    meta, _body = drafts.split(draft.text)
    return drafts.compose(from_form(request.form, meta), request.form.get("body", "").replace("\r\n", "\n"))


# Lists ----------------------------------------------------------------------------------------------------------


@bp.get("/drafts/")
@allow("staff")
def index():
    """我的草稿与待办: my drafts, drafts waiting for my review or approval, due reviews, my feedback queue."""
    return render_template("authoring/index.html", **todo(current_user))


# New, edit, import -----------------------------------------------------------------------------------------------


def authored_departments() -> list[Department]:
    return [d for d in departments() if can_author(current_user, d)]


def new_form(errors: dict | None = None, status: int = 200) -> Response:
    return render("authoring/new.html", "authoring/_new_form.html", status, form=request.form,
                  departments=authored_departments(), errors=errors or {})


@bp.get("/drafts/new")
@allow("staff")
def new():
    """新建规程: department, id and title, from the department's template or a blank page."""
    if not authored_departments():
        raise AuthoringError("You may not write SOPs for any department.", 403)
    return new_form()


@bp.post("/drafts/new")
@allow("staff")
def new_post():
    """Start a draft of a new SOP and open it in the editor."""
    dept = next((d for d in authored_departments() if str(d.id) == request.form.get("department")), None)
    code, title = request.form.get("code", "").strip().upper(), request.form.get("title", "").strip()
    errors = {}
    if dept is None:
        errors["department"] = _("Choose a department you write SOPs for.")
    if not ID_RE.match(code):
        errors["code"] = _("The ID must look like FO-NA-001 (capital letters and digits joined by '-').")
    if not title:
        errors["title"] = _("Give the SOP a title.")
    if errors:
        return new_form(errors, 422)
    blank = request.form.get("start") == "blank"
    text = drafts.new_text(dept, code, title)
    if blank:  # the skeleton (目的 / 适用范围 / 职责 / 操作步骤) instead of the department's template
        text = drafts.compose(drafts.split(text)[0], drafts.SKELETON)
    try:
        draft = drafts.start_draft(current_user, department=dept, kind="new", source="blank" if blank else "template",
                                   text=text)
    except AuthoringError as e:
        db.session.rollback()
        return new_form({"code": e.message()}, e.status)
    db.session.commit()
    return redirect(url_for("authoring.draft", draft_id=draft.id), 303)


@bp.post("/sops/<code>/edit")
@allow("staff")
def edit(code: str):
    """编辑: start a draft from the SOP's current revision, or open the draft already under way."""
    sop = get_sop(code)
    if not can_author(current_user, sop.department, sop):
        raise AuthoringError("You may not edit this SOP.", 403)
    draft = drafts.start_draft(current_user, department=sop.department, sop=sop, kind="edit")
    db.session.commit()
    return redirect(url_for("authoring.draft", draft_id=draft.id), 303)


# The editor ------------------------------------------------------------------------------------------------------


@bp.get("/drafts/<int:draft_id>")
@allow("staff")
def draft(draft_id: int):
    """The editor for the draft's authors while it is a draft; for everyone else (and later) the review page."""
    d = get_draft(draft_id, current_user)
    if not is_editor(d):
        from app.authoring.views_review import review_page
        return review_page(d)
    return render("authoring/editor.html", "authoring/_editor.html", **editor_context(d))


def saved_status(d: Draft, status: int = 200, **ctx) -> Response:
    return render("authoring/editor.html", "authoring/_save_status.html", status,
                  **(editor_context(d, **ctx) if not wants_fragment() else {"draft": d, **ctx}))


def save_if_changed(d: Draft, text: str, note: str, base_version: int | None) -> None:
    """Save unless the draft already holds exactly this text and note (an autosave that landed a moment
    before the Save or Submit click is not a conflict with oneself)."""
    if text == d.text and note == d.change_note and d.updated_by_id == current_user.id:
        return
    drafts.save(d, current_user, text, note, base_version)


@bp.post("/drafts/<int:draft_id>")
@allow("staff")
def save(draft_id: int):
    """Save (the Save button, or autosave every few seconds). Someone else's newer save or open editor is a
    409 that names them; the refused text comes back so nothing typed is lost."""
    d = get_draft(draft_id, current_user)
    if not is_editor(d):
        raise AuthoringError("Only the draft's authors can change it, and only before it is submitted.", 403)
    text, note = text_from_form(d), request.form.get("change_note", "").strip()
    try:
        save_if_changed(d, text, note, request.form.get("base_version", type=small_int))
    except AuthoringError as e:
        db.session.rollback()
        d = get_draft(draft_id, current_user)
        return saved_status(d, e.status, conflict=e.message(), mine=text, text=text, change_note=note)
    db.session.commit()
    if wants_fragment():
        return saved_status(d)
    flash(_("Saved."), "success")
    return redirect(url_for("authoring.draft", draft_id=d.id), 303)


@bp.post("/drafts/<int:draft_id>/preview")
@allow("staff")
def preview(draft_id: int):
    """The live preview: the same renderer and sanitiser as published pages; problems with their lines."""
    d = get_draft(draft_id, current_user)
    if not is_editor(d):
        raise AuthoringError("Only the draft's authors can change it, and only before it is submitted.", 403)
    text = text_from_form(d)
    _meta, body = drafts.split(text)
    html, _toc, _diagram = render_markdown(body)
    return render_template("authoring/_preview.html", draft=d, html=with_draft_files(html, d),
                           placed=place(text, problems_of(d, text)), field_labels=FIELD_LABELS, oob=True)


@bp.post("/drafts/<int:draft_id>/attachments")
@allow("staff")
def attach(draft_id: int):
    """Upload an attachment (pdf, docx, xlsx, png, jpg; size-limited) and list it in the front matter. The
    editor's form comes along, so what was typed is saved with it; a refused file leaves the text in the editor."""
    d = get_draft(draft_id, current_user)
    if not is_editor(d):
        raise AuthoringError("Only the draft's authors can change it, and only before it is submitted.", 403)
    typed = "body" in request.form
    text = text_from_form(d) if typed else d.text
    note = request.form.get("change_note", d.change_note).strip()
    base = request.form.get("base_version", type=small_int) if typed else d.version
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise AuthoringError("Choose a file to upload.", 422)
        data = upload.stream.read(current_app.config["AUTHORING_MAX_ATTACHMENT"] + 1)  # enough to know it is too big
        name = drafts.add_attachment(d, current_user, upload.filename, data, upload.mimetype).name
        meta, body = drafts.split(text)
        meta["attachments"] = [*[n for n in meta.get("attachments") or [] if n != name], name]
        drafts.save(d, current_user, drafts.compose(meta, body), note, base)
    except AuthoringError as e:
        db.session.rollback()
        d = get_draft(draft_id, current_user)
        return render("authoring/editor.html", "authoring/_editor.html", e.status,
                      **editor_context(d, text=text, change_note=note, attach_error=e.message(), base_version=base))
    db.session.commit()
    flash(_("Attached %(name)s.", name=name), "success")
    return redirect(url_for("authoring.draft", draft_id=d.id, _anchor="attachments"), 303)


@bp.get("/drafts/<int:draft_id>/files/<path:name>")
@allow("staff")
def draft_file(draft_id: int, name: str):
    """An uploaded attachment of the draft: images inline (the preview shows them), anything else as a download."""
    d = get_draft(draft_id, current_user)
    found = next((a for a in d.attachments if a.name == name), None)
    if found is None:
        raise AuthoringError("There is no such attachment.", 404)
    inline = found.content_type in ("image/png", "image/jpeg")
    return send_file(io.BytesIO(found.data), mimetype=found.content_type, as_attachment=not inline,
                     download_name=found.name, max_age=0)


def with_draft_files(html: str, draft: Draft) -> str:
    """Images in the text name the draft's uploads (`![](image1.png)`); point them at the draft's file route."""
    return link_attachments(html, [a.name for a in draft.attachments],
                            lambda name: url_for("authoring.draft_file", draft_id=draft.id, name=name))


@bp.get("/drafts/import")
@allow("staff")
def import_page():
    """Import a Word (.docx), Markdown or text file as a new draft."""
    if not authored_departments():
        raise AuthoringError("You may not write SOPs for any department.", 403)
    return render("authoring/import.html", "authoring/_import_form.html", form=request.form,
                  departments=authored_departments(), errors={})


@bp.post("/drafts/import")
@allow("staff")
def import_post():
    """Convert the upload into a draft and open it in the editor with its import report."""
    from app.authoring.importing import import_upload

    dept = next((d for d in authored_departments() if str(d.id) == request.form.get("department")), None)
    upload = request.files.get("file")
    errors, status = {}, 422
    if dept is None:
        errors["department"] = _("Choose a department you write SOPs for.")
    if upload is None or not upload.filename:
        errors["file"] = _("Choose a .docx, .md or .txt file.")
    if not errors:
        try:
            draft = import_upload(current_user, upload.filename, upload.read(), dept,
                                  code=request.form.get("code", "").strip().upper() or None)
        except UserError as e:  # not a Word file, a zip bomb, password-protected, an id in use…
            db.session.rollback()
            errors["file"], status = e.message(), e.status
    if errors:
        return render("authoring/import.html", "authoring/_import_form.html", status, form=request.form,
                      departments=authored_departments(), errors=errors)
    db.session.commit()
    return redirect(url_for("authoring.draft", draft_id=draft.id), 303)


from app.authoring import views_admin, views_review, views_sop  # noqa: E402,F401

"""Sync conflicts: a file changed on disk that disagrees with a revision published from the browser.
An admin keeps the portal's version (the file is rewritten) or takes the file's (a new revision)."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
import sqlalchemy as sa

from app.access import allow
from app.authoring import bp
from app.auth.models import User
from app.authoring.permissions import AuthoringError, editors, grant_editor, revoke_editor
from app.authoring.publish import open_conflicts, resolve_conflict
from app.extensions import db
from app.org import Department
from app.sops.diff import meta_diff, table_diff, text_diff
from app.sops.models import SyncConflict
from app.web import small_int


@bp.get("/admin/conflicts")
@allow("admin")
def conflicts():
    """Open conflicts, each with the differences between the portal's revision and the file on disk."""
    from app.authoring.drafts import split

    shown = []
    for c in open_conflicts():
        try:
            meta, body = split(c.file_text)
        except AuthoringError:
            meta, body = {}, c.file_text
        rev = c.revision
        shown.append((c, {"meta": meta_diff(rev.meta, meta), "hunks": text_diff(rev.markdown, body),
                          "tables": table_diff(rev.markdown, body)}))
    return render_template("authoring/conflicts.html", conflicts=shown)


@bp.post("/admin/conflicts/<int:conflict_id>")
@allow("admin")
def resolve(conflict_id: int):
    """Keep the portal's version or take the file's; both are kept either way."""
    conflict = db.session.get(SyncConflict, conflict_id)
    if conflict is None:
        raise AuthoringError("There is no such conflict.", 404)
    resolve_conflict(conflict, current_user, request.form.get("choice", ""))
    flash(_("Conflict resolved."), "success")
    return redirect(url_for("authoring.conflicts"), 303)


@bp.get("/admin/editors")
@allow("admin")
def editors_page():
    """Editors per department: people an admin lets write drafts of that department's SOPs (beside owners and
    managers)."""
    departments = list(db.session.scalars(sa.select(Department).order_by(Department.name)))
    return render_template("authoring/editors.html", departments=departments,
                           grants={d.id: editors(d) for d in departments})


@bp.post("/admin/editors")
@allow("admin")
def editors_change():
    """Grant (`action=grant`, a username and a department) or revoke an editor; audited either way."""
    username = (request.form.get("username") or "").strip()
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))
    department = db.session.get(Department, request.form.get("department_id", type=small_int) or 0)
    if user is None or department is None:
        flash(_("Unknown user or department: nothing was changed."), "error")
        return redirect(url_for("authoring.editors_page"), 303)
    if request.form.get("action") == "revoke":
        revoke_editor(current_user, user, department)
        flash(_("%(name)s no longer edits %(department)s SOPs.", name=user.display_name, department=department.name),
              "success")
    else:
        grant_editor(current_user, user, department)
        flash(_("%(name)s may now write drafts of %(department)s SOPs.", name=user.display_name,
                department=department.name), "success")
    db.session.commit()
    return redirect(url_for("authoring.editors_page"), 303)

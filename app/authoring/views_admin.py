"""Sync conflicts: a file changed on disk that disagrees with a revision published from the browser.
An admin keeps the portal's version (the file is rewritten) or takes the file's (a new revision)."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow
from app.authoring import bp
from app.authoring.permissions import AuthoringError
from app.authoring.publish import open_conflicts, resolve_conflict
from app.extensions import db
from app.sops.diff import meta_diff, table_diff, text_diff
from app.sops.models import SyncConflict


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

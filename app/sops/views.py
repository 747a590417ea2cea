"""Home, library, SOP page, revision diff and attachments."""
from datetime import date

from flask import current_app, redirect, render_template, request, send_file, url_for
from markupsafe import Markup
from flask_babel import get_locale
from flask_login import current_user

from app.access import allow
from app.sops import bp
from app.sops.signals import viewed
from app.sops.diff import META_LABELS, meta_diff, table_diff, text_diff
from app.org import owner_label
from app.htmx import render
from app.pagecache import cached_page
from app.sops.render import link_attachments
from app.panels import render_home_panels
from app.web import small_int
from app.sops.library import (all_tags, attachment_path, get_revision, get_sop, history, library, recent_revisions,
                              review_overdue, sop_state)


@bp.app_template_filter("meta_label")
def meta_label(key: str) -> str:
    """A front-matter key as the reader's word for it (version → 版本)."""
    return str(META_LABELS.get(key, key))


@bp.app_template_filter("owner")
def owner(value: str | None) -> str:
    """An SOP's owner: the department's name (front-office → 前厅部), else as written."""
    return owner_label(value, str(get_locale() or "zh"))


@bp.get("/healthz")
@allow("public")
def healthz():
    """Liveness probe; also the trivial endpoint the page benchmark compares against."""
    return "ok"


@bp.get("/favicon.ico")
@allow("public")
def favicon():
    """Browsers and bookmark tools ask for /favicon.ico whatever the page links: send them to the icon."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/")
@allow("staff")
def home():
    """Start page: recent changes and SOPs due for review."""
    return render_template("sops/home.html", recent=recent_revisions(), overdue=review_overdue(date.today()),
                           groups=library(), panels=render_home_panels())


@bp.get("/sops/")
@allow("staff")
def index():
    """The library grouped by department; tag and department filters are plain links that htmx enhances."""
    args = {"tag": request.args.get("tag", ""), "department": request.args.get("department", ""),
            "retired": request.args.get("retired") == "1"}
    return render("sops/library.html", "sops/_library.html", groups=library(**args), tags=all_tags(), args=args)


@bp.get("/sops/<code>")
@allow("staff")
def show(code: str):
    """One SOP at its current (or a chosen) revision. The body was rendered at sync; the page around it
    is rendered once per revision, language and role and then served from the page cache."""
    number, today = request.args.get("rev", type=small_int), date.today()
    state = sop_state(code, number)
    viewed.send(current_app._get_current_object(), user_id=current_user.id, revision_id=state.revision_id)
    key = ("sop", code, number, state.current_revision_id, state.retired_at, state.review_by_override, str(get_locale()),
           current_user.role, today)

    def page(**holes) -> str:
        sop = get_sop(code)
        rev = get_revision(sop, number)
        body = link_attachments(rev.html, rev.attachments, lambda name: url_for(
            "sops.attachment", code=sop.code, name=name, rev=rev.number))
        return render_template("sops/show.html", sop=sop, rev=rev, body=Markup(body), revisions=history(sop),
                               today=today, **holes)

    return cached_page(key, page)


@bp.get("/sops/<code>/diff")
@allow("staff")
def diff(code: str):
    """Differences between two revisions (default: the previous and the current one)."""
    sop = get_sop(code)
    revisions = history(sop)
    new = get_revision(sop, request.args.get("to", type=small_int))
    default_old = next((r.number for r in revisions if r.number < new.number), new.number)
    old = get_revision(sop, request.args.get("from", type=small_int) or default_old)
    return render_template(
        "sops/diff.html", sop=sop, old=old, new=new, revisions=revisions, meta=meta_diff(old.meta, new.meta),
        hunks=text_diff(old.markdown, new.markdown), tables=table_diff(old.markdown, new.markdown),
    )


@bp.get("/sops/<code>/files/<path:name>")
@allow("staff")
def attachment(code: str, name: str):
    """An attachment listed by the revision, always as a download (never rendered inline)."""
    sop = get_sop(code)
    rev = get_revision(sop, request.args.get("rev", type=small_int))
    path = attachment_path(rev, name)
    return send_file(path, as_attachment=True, download_name=path.name, max_age=0)

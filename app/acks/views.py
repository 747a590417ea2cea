"""Sign panel, my required reading, the badge, and the managers' reports and exports."""
import re
from datetime import date

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.access import allow
from app.acks import bp
from app.acks.duties import DONE, by_state, duties, last_signatures, owed_count, person_duties
from app.acks.exports import AUTH_METHODS, to_csv, to_xlsx
from app.acks.reports import (department_overview, department_report, get_department, get_person, matrix,
                              person_signatures, signatures, sop_people, visible_departments)
from app.acks.signing import MEANING, SignError, sign, sign_state
from app.auth.models import User
from app.extensions import db, limiter, read_only
from app.htmx import render, wants_fragment
from app.panels import home_panel
from app.sops.diff import meta_diff, table_diff, text_diff
from app.sops.library import get_revision, get_sop
from app.web import download, small_int


@bp.app_template_filter("auth_method")
def auth_method_label(method: str | None) -> str:
    """How someone signed, in the reader's language (password, session, demo)."""
    return str(AUTH_METHODS.get(method, method or ""))


def changes_since(sop, signature) -> dict:
    """What changed between the revision someone last signed and the current one (for the re-sign screen)."""
    if signature is None:
        return {}
    old, new = signature.revision, sop.current
    return {"old": old, "new": new, "meta": meta_diff(old.meta, new.meta), "hunks": text_diff(old.markdown, new.markdown),
            "tables": table_diff(old.markdown, new.markdown)}


SLOT = re.compile(r"item-\d{1,9}")


def panel(sop, error: str | None = None, status: int = 200, announce: str | None = None) -> Response:
    """The sign panel. `slot` (a checklist item) keeps the ids unique when a page holds several panels;
    `announce` is read out by screen readers after an htmx swap (portal.js)."""
    state = sign_state(current_user, sop)
    # Inside a checklist item (deadline=0) the item shows its own due date: one deadline, not two.
    slot = request.values.get("slot", "")
    slot = slot if SLOT.fullmatch(slot) else ""
    return render("acks/sign.html", "acks/_panel.html", status, sop=sop, state=state, error=error, meaning=MEANING,
                  today=date.today(), slot=slot, sfx=f"-{slot}" if slot else "", announce=announce,
                  deadline=request.values.get("deadline") != "0", **changes_since(sop, state.superseded))


@bp.get("/sops/<code>/ack")
@allow("staff")
def sign_page(code: str):
    """The sign panel (loaded into the SOP page by htmx), or a page of its own without JavaScript."""
    return panel(get_sop(code))


def sign_limit_key() -> str:
    return f"sign:{current_user.get_id()}"


@bp.post("/sops/<code>/ack")
@limiter.limit(lambda: current_app.config["ACK_SIGN_LIMIT"], key_func=sign_limit_key,
               deduct_when=lambda response: response.status_code == 401)
@allow("staff")
def sign_post(code: str):
    """Sign the current revision. A second click returns the first signature; a wrong password is refused."""
    with read_only():  # the write lock waits for sign()'s writes (SQLite)
        sop = get_sop(code)
    try:
        sign(current_user, sop, request.form.get("revision_id", type=small_int), request.form.get("password", ""))
    except SignError as e:
        db.session.commit()  # keeps the audit entry of a failed attempt
        with read_only():
            return panel(sop, e.message(), e.status)
    db.session.commit()
    if not wants_fragment():
        flash(_("Signed. Thank you."), "success")
        return redirect(url_for("sops.show", code=code), 303)
    with read_only():  # the signature is saved: drawing the panel must not wait for the write lock
        resp = panel(sop, announce=_("Signed. Thank you."))
    # After the settle: the badge counts again and a checklist item holding this panel is re-read, once focus has
    # moved to the panel's heading inside it (sooner, the item's swap could race the panel's and drop focus).
    resp.headers["HX-Trigger-After-Settle"] = "acks-changed"
    return resp


sign_post.stale_message = _l("This page was open too long and its security token expired. Nothing was signed. "
                             "Refresh the page and sign again.")


@bp.get("/reading")
@allow("staff")
def mine():
    """My required reading: overdue, outstanding and done, with a progress bar."""
    items = person_duties(current_user.id)
    groups = by_state(items)
    resign = last_signatures(current_user.id, [d.sop_id for d in items if d.state != DONE])
    return render_template("acks/mine.html", groups=groups, total=len(items), resign=resign)


@home_panel
def reading_panel() -> str:
    items = person_duties(current_user.id)
    return render_template("acks/_home_panel.html", groups=by_state(items), total=len(items))


@bp.get("/reading/badge")
@allow("staff")
def badge():
    """How many SOPs the signed-in user still has to sign (htmx loads it into the header)."""
    return render_template("acks/_badge.html", owed=owed_count(current_user))


@bp.get("/acks/")
@allow("manager")
def overview():
    """Compliance per department (managers: their own)."""
    return render_template("acks/overview.html", rows=department_overview(visible_departments()))


@bp.get("/acks/departments/<code>")
@allow("manager")
def department(code: str):
    """One department: signed, outstanding and overdue per SOP."""
    dept = get_department(code)
    total, rows = department_report(dept)
    return render_template("acks/department.html", dept=dept, total=total, rows=rows)


@bp.get("/acks/departments/<code>/matrix")
@allow("manager")
def department_matrix(code: str):
    """People × SOPs of one department as a heat map."""
    dept = get_department(code)
    people, columns, cells = matrix(dept)
    return render_template("acks/matrix.html", dept=dept, people=people, columns=columns, cells=cells)


@bp.get("/acks/sops/<code>")
@allow("manager")
def sop_report(code: str):
    """One SOP: counts, and the people behind the chosen count (drill-down swaps only the list)."""
    sop = get_sop(code)
    tally, groups = sop_people(sop)
    status = request.args.get("status") if request.args.get("status") in groups else "overdue"
    signed = {(a.user_id, a.basis_id): a for a in signatures(sop)} if status == DONE else {}
    return render("acks/sop_report.html", "acks/_people.html", sop=sop, tally=tally, groups=groups, shown=status,
                  signed=signed)


@bp.post("/acks/sops/<code>/export")
@allow("manager")
def export(code: str):
    """Every signature of the SOP as CSV or XLSX. A POST, because each export is audited."""
    sop = get_sop(code)
    fmt = request.form.get("format", "xlsx")
    if fmt not in ("csv", "xlsx"):
        fmt = "xlsx"
    acks = signatures(sop)
    # Written before the commit, which would expire every loaded signature and reload each one by one.
    body = to_csv(sop, acks) if fmt == "csv" else to_xlsx(sop, acks)
    audit.record("acks.export", f"sop:{sop.code}", {"format": fmt, "rows": len(acks)})
    db.session.commit()
    return download(body, f"{sop.code}-signatures-{date.today()}.{fmt}")


@bp.get("/acks/sops/<code>/sheet")
@allow("manager")
def sheet(code: str):
    """A printable sign-off sheet (签字表) for one revision: everyone who must sign, with blank lines for ink."""
    sop = get_sop(code)
    rev = get_revision(sop, request.args.get("rev", type=small_int))
    tally, groups = sop_people(sop) if rev.id == sop.current_revision_id else (None, {})
    signed = {a.user_id: a for a in signatures(sop, rev)}
    people = sorted({u.id: u for items in groups.values() for u, _d in items}.values(), key=lambda u: u.username)
    people += [a.user for a in signed.values() if a.user_id not in {u.id for u in people}]
    return render_template("acks/sheet.html", sop=sop, rev=rev, people=people, signed=signed, today=date.today(),
                           meaning=MEANING)


@bp.get("/acks/people/<username>")
@allow("manager")
def person(username: str):
    """Everything one person owes, and every signature they have given."""
    user = get_person(username)
    groups = by_state(person_duties(user.id))
    history = person_signatures(user)
    return render_template("acks/person.html", person=user, groups=groups, history=history)

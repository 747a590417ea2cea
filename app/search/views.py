"""The search page (htmx active search), the JSON API and the zero-result report."""
from flask import flash, jsonify, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow, has_role
from app.acks.duties import duties
from app.auth.models import User
from app.extensions import db
from app.htmx import render
from app.org import departments
from app.search import bp
from app.search.query import search as run_search
from app.search.report import add_synonym, candidate_synonyms, record, zero_results
from app.sops.library import all_tags
from app.web import small_int


def unavailable(response):
    """503, never an empty 200, when the index is being rebuilt or cannot be read. The base page's htmx config
    swaps a 503, so the message replaces the results."""
    response = make_response(response)
    response.status_code = 503
    response.headers["Retry-After"] = "10"
    return response


def search_args() -> dict:
    return {"q": request.args.get("q", "")[:2000], "department": request.args.get("department", ""),
            "tag": request.args.get("tag", ""), "mine": request.args.get("mine") == "1"}


def required_codes(args: dict) -> set[str] | None:
    """With "required reading for me", the SOP ids acks says this user must sign (signed or not)."""
    return {d.code for d in duties(User.id == current_user.id)} if args["mine"] else None


@bp.get("/search")
@allow("staff")
def search():
    """Results as you type (htmx swaps #search-results); a plain GET form without JavaScript."""
    args = search_args()
    results = run_search(args["q"], args["department"], args["tag"], page=request.args.get("page", 1, type=small_int),
                         codes=required_codes(args))
    if results.page == 1 and not results.error:
        record(results.query, results.terms, results.total, results.missing)
        db.session.commit()
    response = render("search/search.html", "search/_results.html", results=results, args=args,
                      departments=departments(), tags=all_tags())
    return unavailable(response) if results.error else response


@bp.get("/api/search")
@allow("staff")
def api():
    """JSON: [{id, title, section, url, score, snippet}] — the same results as the page."""
    args = search_args()
    limit = max(1, min(request.args.get("limit", 10, type=small_int), 50))
    results = run_search(args["q"], args["department"], args["tag"], per_page=limit, codes=required_codes(args))
    if results.error:
        return unavailable(jsonify(error="unavailable", message=_("Search is unavailable at the moment. Please try again in a minute.")))
    record(results.query, results.terms, results.total, results.missing)
    db.session.commit()
    return jsonify([
        {"id": h.code, "title": h.title, "section": h.section, "department": h.department,
         "url": url_for("sops.show", code=h.code) + h.url_fragment, "score": h.score, "snippet": str(h.snippet)}
        for h in results.hits
    ])


@bp.get("/search/report")
@allow("manager")
def report():
    """The most frequent searches that found nothing, per week, with candidate synonyms."""
    weeks = zero_results()
    candidates = {terms: candidate_synonyms(terms) for _week, rows in weeks for _q, _n, terms in rows}
    return render("search/report.html", "search/report.html", weeks=weeks, candidates=candidates,
                  can_add=has_role(current_user, "admin"),
                  typed={"word": request.args.get("word", "")[:100], "synonyms": request.args.get("synonyms", "")[:300]})


@bp.post("/search/report/synonyms")
@allow("admin")
def add_synonym_view():
    """Add a group of synonyms from the report (a missing word and words the SOPs use): audited, written to
    the content's synonym list, in effect at the next search."""
    word, others = request.form.get("word", "")[:100], request.form.get("synonyms", "")[:300]
    try:
        added = add_synonym([word, *others.replace("，", " ").replace(",", " ").split()])
    except ValueError as e:  # back to the report, with the message and the words typed
        flash(str(e), "error")
        return redirect(url_for("search.report", word=word, synonyms=others), 303)
    flash(_("Synonyms added: %(words)s. Searches use them from now on.", words=" = ".join(added)), "success")
    return redirect(url_for("search.report"), 303)

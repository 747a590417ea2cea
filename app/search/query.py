"""A search from start to end: terms, ranked SOPs, the section to land on, snippets, suggestions."""
import logging

from app.search.index import IndexUnavailable, forget_searcher, searcher
from app.search.parsing import MAX_QUERY, filters, proximity_bonus, term_query, terms_of  # noqa: F401
from app.search.present import Hit, Results, partial, snippet, suggest
from app.search.ranking import best_sections, folded_body, ranked
from app.search.synonyms import synonyms
from app.search.whoosh_adapter import Any  # noqa: F401 - tests/test_search.py imports it from here

log = logging.getLogger(__name__)
PER_PAGE = 10


def search(text: str, department: str = "", tag: str = "", page: int = 1, per_page: int = PER_PAGE,
           codes: set[str] | None = None) -> Results:
    """Run a search; never raises for bad input or a broken index (the message is in Results.error)."""
    text = (text or "").strip()[:MAX_QUERY]
    synonyms().reload()  # once per search: a changed file is read again (one stat, not one per term)
    terms = terms_of(text)
    results = Results(query=text, terms=terms, page=max(1, page))
    if not terms:
        return results
    for attempt in (1, 2):
        try:
            s = searcher()
            matched: dict[str, int] = {}
            all_hits, results.total = ranked(s, terms, filters(department, tag, codes), results.page * per_page, text,
                                             matched)
            results.missing, results.found = partial(terms, matched)
            results.pages = -(-results.total // per_page)
            start = (results.page - 1) * per_page
            page_hits = all_hits[start:start + per_page]
            sections = best_sections(s, [h["code"] for h in page_hits], terms, text) if page_hits else {}
            results.hits = []
            for whole in page_hits:
                h = sections.get(whole["code"], whole)
                body = h.get("body", "")
                results.hits.append(Hit(code=h["code"], title=h["title"], section=h.get("section", ""),
                                        anchor=h.get("anchor", ""), department=h["department"],
                                        score=round(whole.score, 3), snippet=snippet(body, terms, folded_body(h))))
            if not results.hits and results.page == 1:
                results.suggestions = suggest(s, terms, text)
            return results
        except IndexUnavailable as e:  # another process is rebuilding it: "unavailable", never "no results"
            log.warning("search unavailable: %s", e)
            results.error = "unavailable"
            return results
        except Exception:  # noqa: BLE001 - a broken index is rebuilt once, then reported
            log.exception("search for %r failed (attempt %d of 2); reopening the index", text, attempt)
            forget_searcher()
            if attempt == 2:
                results.error = "unavailable"
    return results

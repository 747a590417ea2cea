"""Chinese-first search: analysis, index, queries, the search page, the API and the zero-result report.

The rest of the app uses only the functions below (docs/search.md, "The boundary"); everything that reaches
into Whoosh's internals is in app/search/whoosh_adapter.py.
"""
from typing import Callable, Iterable

from flask import Blueprint

from app.sops.signals import applied, synced

bp = Blueprint("search", __name__, cli_group="search")


def search(text: str, department: str = "", tag: str = "", page: int = 1, per_page: int = 10,
           codes: set[str] | None = None):
    """Search the current revisions of active SOPs, optionally within a department, a tag or a set of SOP ids.
    Returns app.search.present.Results (hits with the section to land on, total, pages, suggestions, error);
    never raises for bad input or a broken index."""
    from app.search.query import search as run
    return run(text, department, tag, page=page, per_page=per_page, codes=codes)


def suggest(text: str) -> list[str]:
    """Close words and close SOP titles for what was typed (what the page offers when nothing is found)."""
    from app.search.index import searcher
    from app.search.parsing import MAX_QUERY, terms_of
    from app.search.present import suggest as close
    text = (text or "").strip()[:MAX_QUERY]
    terms = terms_of(text)
    return close(searcher(), terms, text) if terms else []


def index_sops(codes: Iterable[str] | None = None) -> tuple[int, int]:
    """Bring the index in line with the database: re-index the SOPs whose content changed (and the given ids),
    remove retired or deleted ones. Returns (SOPs re-indexed, SOPs removed)."""
    from app.search.index import update
    return update(codes)


def index_sop(code: str) -> tuple[int, int]:
    """Index one SOP's current revision now (removing it if it is retired or gone), and catch up on others."""
    return index_sops([code])


def remove_sop(code: str) -> bool:
    """Take one SOP out of the index now, whatever the database says; True if it was indexed. The next
    index_sops() puts it back if it is still active."""
    from app.search.index import remove
    return remove(code)


def rebuild(progress: Callable[[int, int], None] | None = None) -> int:
    """Build a complete new index from the database and swap it in atomically. Returns sections indexed."""
    from app.search.index import rebuild as run
    return run(progress)


@applied.connect
def count_generation(app, report, **_extra):
    """Inside the sync's (or publication's) transaction: a change to what is indexed moves the search generation,
    which every node's index catches up to (index.catch_up), whichever node made the change."""
    from app.search.models import bump_generation

    if report.created or report.revised or report.retired:
        bump_generation()


@synced.connect
def reindex_after_sync(app, **_extra):
    """After a sync has committed: re-index what changed (by content hash) and re-read the synonyms."""
    from whoosh.index import LockError

    from app.search.index import IndexUnavailable, update
    from app.search.synonyms import synonyms

    try:
        update()
    except (IndexUnavailable, LockError) as e:  # the content is committed; the next sync catches the index up
        app.logger.warning("search index not updated (%s); it follows at the next sync or `flask search rebuild`", e)
    synonyms().reload(force=True)


from app.search import cli, views  # noqa: E402,F401

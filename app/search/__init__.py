"""Chinese-first search: analysis, index, queries, the search page, the API and the zero-result report."""
from flask import Blueprint

from app.sops.signals import synced

bp = Blueprint("search", __name__, cli_group="search")


@synced.connect
def reindex_after_sync(app, **_extra):
    """After a sync has committed: re-index what changed (by content hash) and re-read the synonyms."""
    from whoosh.index import LockError

    from app.search.index import IndexUnavailable, update
    from app.search.query import synonyms

    try:
        update()
    except (IndexUnavailable, LockError) as e:  # the content is committed; the next sync catches the index up
        app.logger.warning("search index not updated (%s); it follows at the next sync or `flask search rebuild`", e)
    synonyms().reload(force=True)


from app.search import cli, views  # noqa: E402,F401

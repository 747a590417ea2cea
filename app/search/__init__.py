"""Chinese-first search: analysis, index, queries, the search page, the API and the zero-result report."""
from flask import Blueprint

from app.sops.signals import synced

bp = Blueprint("search", __name__, cli_group="search")


@synced.connect
def reindex_after_sync(app, **_extra):
    """After a sync has committed: re-index what changed (by content hash) and re-read the synonyms."""
    from app.search.index import update
    from app.search.query import synonyms

    update()
    synonyms().reload(force=True)


from app.search import cli, views  # noqa: E402,F401

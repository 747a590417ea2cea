"""Synonym groups: words a query also searches for."""
from pathlib import Path

from flask import current_app

from app.search.analysis import fold
from app.search.builtin_synonyms import combine


class Synonyms:
    """The built-in synonyms (builtin_synonyms.py) with content/search/synonyms.txt added: one group of
    equivalent words per line ('中毒 病毒 木马'), '!词' withdraws a built-in one; re-read when the file changes."""

    def __init__(self):
        self.mtime, self.groups = None, {}

    def path(self) -> Path:
        return Path(current_app.config["CONTENT_DIR"]) / "search" / "synonyms.txt"

    def reload(self, force: bool = False) -> None:
        path = self.path()
        mtime = path.stat().st_mtime if path.exists() else None
        if mtime == self.mtime and not force:
            return
        content = path.read_text(encoding="utf-8") if mtime is not None else ""
        self.mtime, self.groups = mtime, combine(content, fold)

    def expand(self, term: str) -> set[str]:
        return self.groups.get(term, set()) | {term}


def synonyms() -> Synonyms:
    return current_app.extensions.setdefault("search_synonyms", Synonyms())

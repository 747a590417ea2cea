"""Synonym groups: words a query also searches for."""
from pathlib import Path

from flask import current_app

from app.search.analysis import fold


class Synonyms:
    """content/search/synonyms.txt: one group of equivalent words per line ('中毒 病毒 木马'); re-read when it changes."""

    def __init__(self):
        self.mtime, self.groups = None, {}

    def path(self) -> Path:
        return Path(current_app.config["CONTENT_DIR"]) / "search" / "synonyms.txt"

    def reload(self, force: bool = False) -> None:
        path = self.path()
        mtime = path.stat().st_mtime if path.exists() else None
        if mtime == self.mtime and not force:
            return
        groups: dict[str, set[str]] = {}
        if mtime is not None:
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0]
                members = {fold(w) for w in line.replace(";", " ").replace("，", " ").replace(",", " ").split() if w}
                for w in members:
                    groups.setdefault(w, set()).update(members)
        self.mtime, self.groups = mtime, groups

    def expand(self, term: str) -> set[str]:
        return self.groups.get(term, set()) | {term}


def synonyms() -> Synonyms:
    return current_app.extensions.setdefault("search_synonyms", Synonyms())

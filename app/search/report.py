"""Zero-result report: what staff searched for and did not find, per week, with candidate synonyms."""
import difflib
import os
import re
import tempfile
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from app import audit

from app.extensions import db
from app.search.analysis import bigrams, fold
from app.search.models import SearchLog, monday
from app.search.index import searcher
from app.search.synonyms import synonyms


def record(text: str, terms: list[str], results: int, missing: list[str] | None = None) -> None:
    """Log one search (the caller commits). No user id is stored. A search whose distinctive words found
    nothing (missing) is logged as finding nothing for them, so the gap reaches the zero-result report even
    when its common words found something."""
    if missing:
        terms, results = missing, 0
    if terms:
        db.session.add(SearchLog(week=monday(date.today()), query=fold(text)[:200], terms=" ".join(terms)[:400],
                                 results=results))


def zero_results(weeks: int = 8, per_week: int = 20) -> list[tuple[date, list[tuple[str, int, str]]]]:
    """[(week, [(query, times, terms)])] for the last `weeks` weeks, most frequent first."""
    since = monday(date.today()) - timedelta(weeks=weeks - 1)
    rows = db.session.execute(
        sa.select(SearchLog.week, SearchLog.query, sa.func.count().label("n"), sa.func.min(SearchLog.terms))
        .where(SearchLog.results == 0, SearchLog.week >= since)
        .group_by(SearchLog.week, SearchLog.query).order_by(SearchLog.week.desc(), sa.desc("n"), SearchLog.query)
    ).all()
    out: dict[date, list] = {}
    for week, query, n, terms in rows:
        if len(out.setdefault(week, [])) < per_week:
            out[week].append((query, n, terms))
    return list(out.items())


def candidate_synonyms(terms: str, limit: int = 5) -> list[str]:
    """Indexed words that look like a missing term, most alike first, then most common.

    Alike means: sharing a character pair with a Chinese term (连不上 → 连不上网, 上网不了), or spelled almost
    the same as a Latin one (teamviewr → teamviewer). Sharing any pair was not enough: every Latin word
    shares some two letters with another (a missing "cash" offered "cache" and "teamviewer"), and the most
    common such words came first. A manager who sees 连不上 → 无法访问 can add the pair below the report.
    """
    s = searcher()
    found: dict[str, tuple[float, int]] = {}
    for term in terms.split():
        latin = term.isascii()
        pairs = {g for g, _a, _b in bigrams(term) if len(g) == 2}
        for word in s.lexicon("text"):
            word = word.decode() if isinstance(word, bytes) else word
            if word == term or len(word) < 2 or word.isascii() != latin:
                continue
            alike = difflib.SequenceMatcher(None, term, word).ratio()
            if (latin and alike >= 0.8) or (not latin and alike >= 0.4 and any(p in word for p in pairs)):
                found[word] = (alike, s.doc_frequency("text", word))
    return [w for w, _key in sorted(found.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:limit]]


SYNONYM_WORD = re.compile(r"^[^\s#!,，;；]{1,30}$")


def add_synonym(words: list[str]) -> list[str]:
    """Append one group of synonyms to content/search/synonyms.txt (written whole to a temporary file and
    renamed over it), audit it, and re-read the groups; other processes re-read the file at their next search
    (its mtime changes). Returns the words written; raises ValueError with a message for bad input."""
    words = list(dict.fromkeys(w.strip() for w in words if w.strip()))
    if len(words) < 2 or len({fold(w) for w in words}) < 2:
        raise ValueError(_("Give two different words that mean the same thing."))
    if not all(SYNONYM_WORD.match(w) for w in words):
        raise ValueError(_("A word has at most 30 characters, without spaces, commas or # and !."))
    path = synonyms().path()
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    text = old + ("" if not old or old.endswith("\n") else "\n") + " ".join(words) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".synonyms.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    audit.record("search.synonym_added", f"synonyms:{words[0]}", {"words": words})
    db.session.commit()
    synonyms().reload(force=True)
    return words

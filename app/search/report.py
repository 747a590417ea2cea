"""Zero-result report: what staff searched for and did not find, per week, with candidate synonyms."""
from datetime import date, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.search.analysis import bigrams, fold
from app.search.models import SearchLog, monday
from app.search.index import searcher


def record(text: str, terms: list[str], results: int) -> None:
    """Log one search (the caller commits). No user id is stored."""
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
    """Indexed words that share a character pair with a missing term, most common first.

    An owner who sees 连不上 → 无法访问, 打不开 can add the line '连不上 打不开 无法访问' to synonyms.txt.
    """
    s = searcher()
    found: dict[str, int] = {}
    for term in terms.split():
        pairs = {g for g, _a, _b in bigrams(term)} or {term}
        for word in s.lexicon("text"):
            word = word.decode() if isinstance(word, bytes) else word
            if word != term and len(word) >= 2 and any(p in word for p in pairs):
                found[word] = s.doc_frequency("text", word)
    return [w for w, _n in sorted(found.items(), key=lambda kv: -kv[1])[:limit]]

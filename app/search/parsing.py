"""From what staff type to Whoosh queries: terms, synonyms, adjacent words, filters."""
from whoosh import query as Q

from app.chinese import simplified
from app.search.analysis import bigrams, fold, words
from app.search.synonyms import synonyms
from app.search.whoosh_adapter import Any, Best

WORD_FIELDS = ("title", "section", "text")
MAX_QUERY = 200  # characters considered; a longer query is cut, not refused
SYNONYM_WEIGHT = 0.5  # a synonym finds documents, but the word typed ranks higher


def terms_of(text: str) -> list[str]:
    """The distinct search terms in text, in order (question words dropped); whole words first."""
    seen, out = set(), []
    for word, _s, _e in words(text[:MAX_QUERY]):
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def term_query(term: str, searcher, prefix: str = "") -> Q.Query:
    """One term (and its synonyms) as a word in any word field, or as a run of character pairs.

    A word the index knows is matched as a word, plus a phrase of pairs in title and headings, so a hit in
    both kinds of field ranks highest. A word the index does not know (segmented differently, part of a
    word) is matched by its character pairs in all the text.
    """
    alternatives = []
    for t in sorted(synonyms().expand(term)):
        boost = 1.0 if t == term else SYNONYM_WEIGHT
        grams = [g for g, _s, _e in bigrams(t)]
        fields = [prefix + f for f in WORD_FIELDS]
        known = any(searcher.doc_frequency(f, t) for f in fields)
        if known:
            alternatives += [Q.Term(f, t, boost=boost) for f in fields]
        if len(t) == 1:
            alternatives.append(Q.Prefix(prefix + "gram", t, boost=boost))
        elif grams:
            title_gram = prefix + "title_gram"
            alternatives.append(Q.Phrase(title_gram, grams, boost=boost) if len(grams) > 1
                                else Q.Term(title_gram, grams[0], boost=boost))
            if not known:
                alternatives.append(Q.And([Q.Term(prefix + "gram", g) for g in grams], boost=boost))
    return Best(alternatives)


def filters(department: str = "", tag: str = "", codes: set[str] | None = None) -> Q.Query | None:
    """Department, tag, and a set of SOP ids (e.g. the user's required reading; empty matches nothing)."""
    parts = []
    if department:
        parts.append(Q.Term("department", department))
    if tag:
        parts.append(Q.Term("tags", simplified(tag)))
    if codes is not None:
        parts.append(Q.Or([Q.Term("code", c) for c in sorted(codes)]) if codes else Q.NullQuery)
    return Q.And(parts) if parts else None


def adjacent_phrases(text: str) -> list[str]:
    """Pairs of words typed next to each other (热线交接 → 热线交接; 会员系统连不上 → 会员系统, 系统连不上)."""
    kept = [(w, s, e) for w, s, e in words(text[:MAX_QUERY])]
    folded = fold(text[:MAX_QUERY])
    phrases = []
    for (_w1, s1, e1), (_w2, s2, e2) in zip(kept, kept[1:]):
        if e1 == s2:
            phrases.append(folded[s1:e2])
    return list(dict.fromkeys(phrases))


def proximity_bonus(text: str, prefix: str = "") -> Q.Query | None:
    """Extra score for a title or heading holding the typed words side by side."""
    bonus = []
    for phrase in adjacent_phrases(text):
        grams = [g for g, _s, _e in bigrams(phrase)]
        if len(grams) > 1:
            bonus.append(Q.Phrase(prefix + "title_gram", grams, boost=3.0))
    return Any(bonus) if bonus else None

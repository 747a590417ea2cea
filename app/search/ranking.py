"""Ranking: which SOPs match, in what order, and which section of each to land on."""
import math
import re

from whoosh import query as Q

from app.search.analysis import fold, words
from app.search.parsing import SYNONYM_WEIGHT, adjacent_phrases, proximity_bonus, term_query
from app.search.pinyin import is_latin_query, query_keys, word_pinyin
from app.search.synonyms import synonyms
from app.search.whoosh_adapter import Any, scores
from app.sops.content import ID_RE

HEADING_WEIGHT = 3  # a term in a section's heading counts as much as three in its text


class WholeHit(dict):
    """A whole-SOP document's stored fields and its score."""

    def __init__(self, searcher, docnum: int, score: float):
        super().__init__(searcher.stored_fields(docnum))
        self.score = score


def ranked(searcher, terms: list[str], flt, limit: int, text: str = "", matched: dict | None = None) -> tuple[list, int]:
    """(whole-SOP hits, number of SOPs matched). SOPs matching every term come first, then those matching
    most of them; words typed side by side in a title or heading score extra; an exact SOP id comes first.
    Only the whole-SOP documents' sop_* fields are read here, so the posting lists are short."""
    clauses = [term_query(t, searcher, "sop_") for t in terms]
    if ID_RE.match(text.strip().upper()):
        clauses = [Any([Q.Term("doc_id", text.strip().upper(), boost=50.0), Q.And(clauses)])]
    bonus = proximity_bonus(text, "sop_")
    # Each part is scored once into a dict, and the parts are combined here: the same sums as Whoosh's
    # And / Or / AndMaybe / Require (a test compares them), without its matcher trees walking every
    # document again for each combination.
    parts = [scores(searcher, c) for c in clauses]
    if matched is not None and len(parts) == len(terms):  # term → SOPs it matched (whatever the filters)
        matched.update((t, len(p)) for t, p in zip(terms, parts))
    extra = scores(searcher, bonus) if bonus is not None else {}
    allowed = set(searcher.docs_for_query(flt)) if flt is not None else None

    phrases = adjacent_phrases(text)

    def ordered(docs, covered=lambda d: 0.0) -> list[tuple[float, float, int]]:
        """(coverage, score, document) for docs that pass the filter: the most of the query first, then by
        score, then document number (Whoosh's order)."""
        if allowed is not None:
            docs = [d for d in docs if d in allowed]
        return sorted(((covered(d), sum(p.get(d, 0.0) for p in parts) + extra.get(d, 0.0), d) for d in docs),
                      key=lambda csd: (-csd[0], -csd[1], csd[2]))

    def top(ranking: list[tuple[float, float, int]], n: int) -> list[WholeHit]:
        """The first n of a ranking, after the phrase bonus is added to its head (n + RERANK of them)."""
        head = [(coverage, WholeHit(searcher, d, score)) for coverage, score, d in ranking[:n + RERANK]]
        for _c, h in head:
            body = folded_body(h)
            h.score += PHRASE_WEIGHT * sum(1 for phrase in phrases if phrase in body)
        return [h for _c, h in sorted(head, key=lambda ch: (-ch[0], -ch[1].score))[:n]]  # stable on ties

    counted = strict = ordered(set.intersection(*(set(p) for p in parts)) if parts else ())
    hits = top(strict, limit)
    if len(parts) > 1 and len(hits) < limit:
        # Those matching part of the query: the more distinctive the terms they hold, the higher. A term's
        # weight is its IDF among SOPs (from the SOPs its clause matched), so an SOP holding the one rare word
        # of a question (退款) ranks above those holding its common words (要求, 处理) in a title.
        n = max(1, len(whole_sop_docnums(searcher)))
        idf = [math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for p in parts]
        counted = loose = ordered(set().union(*parts),
                                  lambda d: round(sum(w for p, w in zip(parts, idf) if d in p), 6))
        seen = {h["code"] for h in hits}
        hits += [h for h in top(loose, limit * 2) if h["code"] not in seen][: limit - len(hits)]
    if not is_latin_query(text):
        return hits, len(counted)
    # Typed in Latin letters: also pinyin of titles, headings and tags. Below SOPs that hold the typed
    # words as words (TeamViewer, PMS), above those matching only fragments of them (ys inside "keys").
    keys = query_keys(text)
    pinyin = scores(searcher, Any([Q.Term("sop_pinyin", k) for k in keys]))
    if allowed is not None:
        pinyin = {d: v for d, v in pinyin.items() if d in allowed}
    if not pinyin:
        return hits, len(counted)
    by_pinyin = [WholeHit(searcher, d, v * PINYIN_WEIGHT)
                 for d, v in sorted(pinyin.items(), key=lambda dv: (-dv[1], dv[0]))[:limit]]
    as_words = all(any(searcher.doc_frequency(f, t) for f in SOP_WORD_FIELDS) for t in terms)
    first, then = (hits, by_pinyin) if as_words else (by_pinyin, hits)
    seen = {h["code"] for h in first}
    merged = first + [h for h in then if h["code"] not in seen]
    return merged[:limit], len({d for _c, _s, d in counted} | set(pinyin))


# Words typed side by side (测试需求, 呼叫中心) and found side by side in an SOP's text: the SOP speaks of
# the thing asked, not of its words in different places. Read from the stored folded text of the best
# ranked SOPs only (RERANK beyond the page), so it costs a few substring searches, not an index query.
PHRASE_WEIGHT = 6.0
RERANK = 20
PINYIN_WEIGHT = 0.5  # a pinyin match is a guess at the characters meant: it shows, below what was typed
SOP_WORD_FIELDS = ("sop_title", "sop_section", "sop_text")


def whole_sop_docnums(searcher) -> set[int]:
    """The whole-SOP documents' numbers, read once per searcher (a refreshed searcher is a new object)."""
    if not hasattr(searcher, "sop_docnums"):
        searcher.sop_docnums = set(searcher.document_numbers(kind="sop"))
    return searcher.sop_docnums


def folded_body(fields: dict) -> str:
    """A hit's body folded: stored at indexing (for a whole SOP since issue #14; folded now in an older index)."""
    return fields.get("folded") or fold(fields.get("body", ""))


def best_sections(searcher, codes: list[str], terms: list[str], text: str) -> dict:
    """For the SOPs on this page, the section that matches the query best (code → stored fields).

    The SOPs are already ranked; this only picks where to land in each, among a few dozen sections, so it
    reads their stored text instead of running another index query (that query was half the search time).
    Each term scores once, in the heading (x3) or the text, at the weight of the best of its synonyms that
    occurs; words typed side by side in the heading earn a bonus. Ties go to the earlier section."""
    expansions = [[(t, 1.0 if t == term else SYNONYM_WEIGHT) for t in synonyms().expand(term)] for term in terms]
    phrases = adjacent_phrases(text)
    keys = set(query_keys(text)) if is_latin_query(text) else set()
    whole = whole_sop_docnums(searcher)
    best: dict[str, tuple[float, dict]] = {}
    for code in codes:
        # One short posting list per SOP; asking for kind=section as well would intersect with every section.
        for docnum in searcher.document_numbers(code=code):
            if docnum in whole:
                continue
            fields = searcher.stored_fields(docnum)
            heading, body = fold(fields.get("section", "")), folded_body(fields)
            score = sum(max(w * (HEADING_WEIGHT * (t in heading) + (t in body)) for t, w in options)
                        for options in expansions)
            score += HEADING_WEIGHT * sum(1 for phrase in phrases if phrase in heading)
            if keys:
                score += HEADING_WEIGHT * sum(1 for w, _s, _e in words(heading) if set(word_pinyin(w) or ()) & keys)
            rank = (score > 0 and not is_preamble(heading), score)
            if score > 0 and rank > best.get(code, ((False, 0.0), None))[0]:
                best[code] = (rank, fields)
    return {code: fields for code, (_rank, fields) in best.items()}


# Headings of a section that says what an SOP is for and to whom it applies (目的, 适用范围, Purpose, Scope …).
# Such a section names the SOP's subject in passing (会员页面打不开 in 目的), so it matches the query about
# as well as the section that answers it: it is the landing place only when no other section matches.
PREAMBLE = re.compile(r"^[\s\d.、:：()（）一二三四五六七八九十]*(目的|范围|适用范围|适用对象|目的(与|和|及)(适用)?范围|"
                      r"purpose|scope|purpose and scope|applicability|objectives?)\s*$")


def is_preamble(heading: str) -> bool:
    """heading (folded, or in Simplified script) is a purpose or scope heading."""
    return bool(PREAMBLE.match(heading.strip().lower()))

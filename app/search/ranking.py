"""Ranking: which SOPs match, in what order, and which section of each to land on.

Work that depends only on the index and the words (a term's scores, an SOP's sections, a whole SOP's stored
fields) is kept per searcher in a bounded memo: a searcher is replaced when the index changes, and with it the
memo, so nothing is served from an older index. The scores are the same floats either way.
"""
import heapq
import math
import re
from collections import OrderedDict

from whoosh import query as Q

from app.search.analysis import fold, words
from app.search.parsing import SYNONYM_WEIGHT, adjacent_phrases, proximity_bonus, term_query
from app.search.pinyin import is_latin_query, query_keys, word_pinyin
from app.search.synonyms import synonyms
from app.search.whoosh_adapter import Any, scores
from app.sops.content import ID_RE

HEADING_WEIGHT = 3  # a term in a section's heading counts as much as three in its text
# Entries kept per searcher, by kind. Worst cases, at 1,000 SOPs: a term's scores hold one float per whole SOP
# (~90 KB), an SOP's sections ~30 KB, a whole SOP's stored fields ~16 KB: at most about 25 MB per worker.
MEMO_SIZES = {"term": 128, "bonus": 128, "sections": 256, "doc": 256}


class Memo(OrderedDict):
    """A least-recently-used map with a bounded number of entries."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key, compute):
        try:
            self.move_to_end(key)
            return self[key]
        except KeyError:
            value = self[key] = compute()
            if len(self) > self.size:
                self.popitem(last=False)
            return value


def memo(searcher, kind: str) -> Memo:
    """This searcher's memo for one kind of work (a new searcher, after the index changed, starts empty)."""
    memos = searcher.__dict__.setdefault("search_memo", {})
    if kind not in memos:
        memos[kind] = Memo(MEMO_SIZES[kind])
    return memos[kind]


def term_scores(searcher, term: str, prefix: str) -> dict[int, float]:
    """Every whole-SOP document matching the term or its synonyms, with its score (memoised per searcher;
    the key holds the synonyms, so a changed synonym file scores again)."""
    key = (prefix, term, frozenset(synonyms().expand(term)))
    return memo(searcher, "term").get_or(key, lambda: scores(searcher, term_query(term, searcher, prefix)))


def stored(searcher, docnum: int) -> dict:
    return memo(searcher, "doc").get_or(docnum, lambda: searcher.stored_fields(docnum))


class WholeHit(dict):
    """A whole-SOP document's stored fields and its score."""

    def __init__(self, searcher, docnum: int, score: float):
        super().__init__(stored(searcher, docnum))
        self.score = score


def ranked(searcher, terms: list[str], flt, limit: int, text: str = "", matched: dict | None = None) -> tuple[list, int]:
    """(whole-SOP hits, number of SOPs matched). SOPs matching every term come first, then those matching
    most of them; words typed side by side in a title or heading score extra; an exact SOP id comes first.
    Only the whole-SOP documents' sop_* fields are read here, so the posting lists are short."""
    # Each part is scored once into a dict, and the parts are combined here: the same sums as Whoosh's
    # And / Or / AndMaybe / Require (a test compares them), without its matcher trees walking every
    # document again for each combination.
    code = text.strip().upper()
    if ID_RE.match(code):
        def id_first() -> dict[int, float]:
            clauses = [term_query(t, searcher, "sop_") for t in terms]
            return scores(searcher, Any([Q.Term("doc_id", code, boost=50.0), Q.And(clauses)]))
        parts = [memo(searcher, "bonus").get_or((code, *(frozenset(synonyms().expand(t)) for t in terms)), id_first)]
    else:
        parts = [term_scores(searcher, t, "sop_") for t in terms]
    if matched is not None and len(parts) == len(terms):  # term → SOPs it matched (whatever the filters)
        matched.update((t, len(p)) for t, p in zip(terms, parts))
    phrases = adjacent_phrases(text)
    extra = memo(searcher, "bonus").get_or(tuple(phrases), lambda: bonus_scores(searcher, text)) if phrases else {}
    allowed = set(searcher.docs_for_query(flt)) if flt is not None else None

    def ordered(docs, covered=lambda d: 0.0) -> list[tuple[float, float, int]]:
        """(coverage, score, document) for docs that pass the filter: the most of the query first, then by
        score, then document number (Whoosh's order)."""
        if allowed is not None:
            docs = [d for d in docs if d in allowed]
        return [(covered(d), sum(p.get(d, 0.0) for p in parts) + extra.get(d, 0.0), d) for d in docs]

    def top(ranking: list[tuple[float, float, int]], n: int) -> list[WholeHit]:
        """The first n of a ranking, after the phrase bonus is added to its head (n + RERANK of them). The head
        is taken by heap, not by sorting every match: the same n + RERANK, in the same order."""
        head = [(coverage, WholeHit(searcher, d, score)) for coverage, score, d in
                heapq.nsmallest(n + RERANK, ranking, key=lambda csd: (-csd[0], -csd[1], csd[2]))]
        for _c, h in head:
            body = folded_body(h)
            h.score += PHRASE_WEIGHT * sum(1 for phrase in phrases if phrase in body)
        return [h for _c, h in sorted(head, key=lambda ch: (-ch[0], -ch[1].score))[:n]]  # stable on ties

    matched = strict = ordered(set(parts[0]).intersection(*parts[1:]) if parts else ())
    counted = len(strict)
    hits = top(strict, limit)
    if len(parts) > 1 and len(hits) < limit:
        # Those matching part of the query: the more distinctive the terms they hold, the higher. A term's
        # weight is its IDF among SOPs (from the SOPs its clause matched), so an SOP holding the one rare word
        # of a question (退款) ranks above those holding its common words (要求, 处理) in a title.
        n = max(1, len(whole_sop_docnums(searcher)))
        idf = [math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for p in parts]
        matched = loose = ordered(set().union(*parts), lambda d: round(sum(w for p, w in zip(parts, idf) if d in p), 6))
        counted = len(loose)
        seen = {h["code"] for h in hits}
        hits += [h for h in top(loose, limit * 2) if h["code"] not in seen][: limit - len(hits)]
    if not is_latin_query(text):
        return hits, counted
    # Typed in Latin letters: also pinyin of titles, headings and tags. Below SOPs that hold the typed
    # words as words (TeamViewer, PMS), above those matching only fragments of them (ys inside "keys").
    keys = query_keys(text)
    pinyin = memo(searcher, "bonus").get_or(
        ("pinyin", *keys), lambda: scores(searcher, Any([Q.Term("sop_pinyin", k) for k in keys])))
    if allowed is not None:
        pinyin = {d: v for d, v in pinyin.items() if d in allowed}
    if not pinyin:
        return hits, counted
    by_pinyin = [WholeHit(searcher, d, v * PINYIN_WEIGHT)
                 for d, v in sorted(pinyin.items(), key=lambda dv: (-dv[1], dv[0]))[:limit]]
    as_words = all(any(searcher.doc_frequency(f, t) for f in SOP_WORD_FIELDS) for t in terms)
    first, then = (hits, by_pinyin) if as_words else (by_pinyin, hits)
    seen = {h["code"] for h in first}
    merged = first + [h for h in then if h["code"] not in seen]
    return merged[:limit], len({d for _c, _s, d in matched} | set(pinyin))


def bonus_scores(searcher, text: str) -> dict[int, float]:
    bonus = proximity_bonus(text, "sop_")
    return scores(searcher, bonus) if bonus is not None else {}


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


def sop_sections(searcher, code: str, whole: set[int]) -> list[tuple[dict, str, str]]:
    """An SOP's sections in document order: (stored fields, folded heading, folded body), memoised."""
    def read():
        # One short posting list per SOP; asking for kind=section as well would intersect with every section.
        out = []
        for docnum in searcher.document_numbers(code=code):
            if docnum not in whole:
                fields = searcher.stored_fields(docnum)
                out.append((fields, fold(fields.get("section", "")), folded_body(fields)))
        return out
    return memo(searcher, "sections").get_or(code, read)


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
        for fields, heading, body in sop_sections(searcher, code, whole):
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

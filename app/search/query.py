"""Turning what staff type into results: terms, synonyms, all-terms-first ranking, snippets, suggestions."""
import difflib
import html
import logging
import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from markupsafe import Markup
from whoosh import query as Q
from whoosh import scoring
from whoosh.matching import mcore

from app.search.analysis import bigrams, fold, words
from app.search.builtin_synonyms import combine
from app.search.index import IndexUnavailable, field_lengths, live_build, open_index, prepare
from app.sops.content import ID_RE

log = logging.getLogger(__name__)
WORD_FIELDS = ("title", "section", "text")
MAX_QUERY = 200  # characters considered; a longer query is cut, not refused
PER_PAGE = 10


@dataclass
class Hit:
    code: str
    title: str
    section: str
    anchor: str
    department: str
    score: float
    snippet: Markup

    @property
    def url_fragment(self) -> str:
        return f"#{self.anchor}" if self.anchor else ""


@dataclass
class Results:
    query: str
    terms: list[str]
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 0
    suggestions: list[str] = field(default_factory=list)
    error: str = ""


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


def terms_of(text: str) -> list[str]:
    """The distinct search terms in text, in order (question words dropped); whole words first."""
    seen, out = set(), []
    for word, _s, _e in words(text[:MAX_QUERY]):
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


class SparseUnionMatcher(mcore.Matcher):
    """The union of sub-matchers, read once into sorted lists of documents and summed scores.

    Whoosh's ArrayUnionMatcher sums the same scores into 2,048-slot arrays that it allocates, clears and
    scans slot by slot in Python across the whole index. Our posting lists are short (whole-SOP documents
    among ten times as many sections), so that scanning cost more than scoring the matches."""

    def __init__(self, submatchers: list, boost: float = 1.0, scored: bool = True, tiebreak: float | None = None):
        totals: dict[int, float] = {}
        if tiebreak is None:
            for m in submatchers:
                while m.is_active():
                    doc = m.id()
                    totals[doc] = totals.get(doc, 0.0) + (m.score() * boost if scored else 1.0)
                    m.next()
        else:  # the best alternative, plus tiebreak times the others (Lucene's dis_max)
            best: dict[int, float] = {}
            for m in submatchers:
                while m.is_active():
                    doc, score = m.id(), (m.score() * boost if scored else 1.0)
                    totals[doc] = totals.get(doc, 0.0) + score
                    if score > best.get(doc, 0.0):
                        best[doc] = score
                    m.next()
            totals = {doc: best.get(doc, 0.0) + tiebreak * (total - best.get(doc, 0.0)) for doc, total in totals.items()}
        self._ids = sorted(doc for doc, score in totals.items() if score > 0)  # as ArrayUnionMatcher: score > 0
        self._scores = [totals[doc] for doc in self._ids]
        self._n, self._i, self._max = len(self._ids), 0, max(self._scores, default=0.0)

    def copy(self):
        twin = SparseUnionMatcher([])
        twin._ids, twin._scores, twin._n, twin._i, twin._max = self._ids, self._scores, self._n, self._i, self._max
        return twin

    def is_active(self) -> bool:
        return self._i < self._n

    def id(self) -> int:
        return self._ids[self._i]

    def score(self) -> float:
        return self._scores[self._i]

    def next(self) -> None:
        self._i += 1

    def skip_to(self, id: int) -> None:
        self._i = bisect_left(self._ids, id, self._i)

    def all_ids(self):
        return iter(self._ids[self._i:])

    def items(self) -> zip:
        """(document, score) for every match left, without stepping through them one call at a time."""
        return zip(self._ids[self._i:], self._scores[self._i:])

    def supports(self, astype) -> bool:
        return False  # no posting values, only scores (as ArrayUnionMatcher)

    def supports_block_quality(self) -> bool:
        return False

    def max_quality(self) -> float:
        return self._max  # an upper bound for what is left, as Whoosh asks; asked often, so not recomputed


class Any(Q.Or):
    """Or over many alternatives (fields × synonyms × terms), every match read once into SparseUnionMatcher:
    much faster in pure Python than Whoosh's binary tree of union matchers or its array matcher."""

    tiebreak = None

    def _matcher(self, subs, searcher, context):
        scored = context.weighting is not None if context else True
        return SparseUnionMatcher([sub.matcher(searcher, context) for sub in subs], self.boost, scored, self.tiebreak)


class Best(Any):
    """One term's alternatives (fields × synonyms) scored as its best match plus TIEBREAK of the others.

    Summed, a common word in a long first-line title scored in the title's words, its character pairs and
    its synonyms at once, and outweighed the rare word that answers in the body text."""
    tiebreak = 0.3


SYNONYM_WEIGHT = 0.5  # a synonym finds documents, but the word typed ranks higher


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
        parts.append(Q.Term("tags", tag))
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


def ranked(searcher, terms: list[str], flt, limit: int, text: str = "") -> tuple[list, int]:
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
    extra = scores(searcher, bonus) if bonus is not None else {}
    allowed = set(searcher.docs_for_query(flt)) if flt is not None else None

    def ordered(docs, covered=lambda d: 0.0) -> list[tuple[float, float, int]]:
        """(coverage, score, document) for docs that pass the filter: the most of the query first, then by
        score, then document number (Whoosh's order)."""
        if allowed is not None:
            docs = [d for d in docs if d in allowed]
        return sorted(((covered(d), sum(p.get(d, 0.0) for p in parts) + extra.get(d, 0.0), d) for d in docs),
                      key=lambda csd: (-csd[0], -csd[1], csd[2]))

    phrases = adjacent_phrases(text)

    def top(ranking: list[tuple[float, float, int]], n: int) -> list["WholeHit"]:
        """The first n of a ranking, after the phrase bonus is added to its head (limit + RERANK of them)."""
        head = [(coverage, WholeHit(searcher, d, score)) for coverage, score, d in ranking[:n + RERANK]]
        for _c, h in head:
            body = folded_body(h)
            h.score += PHRASE_WEIGHT * sum(1 for phrase in phrases if phrase in body)
        return [h for _c, h in sorted(head, key=lambda ch: (-ch[0], -ch[1].score))[:n]]  # stable on ties

    counted = strict = ordered(set.intersection(*(set(p) for p in parts)) if parts else ())
    hits = top(strict, limit)
    if len(parts) > 1 and len(hits) < limit:
        # Those matching part of the query: the more distinctive the terms they match, the higher. A term's
        # weight is its IDF among SOPs (from the SOPs its clause matched), so an SOP holding the one rare word
        # of a question (退款) ranks above those holding its common words (要求, 处理) in a title.
        n = max(1, len(whole_sop_docnums(searcher)))
        idf = [math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for p in parts]
        counted = loose = ordered(set().union(*parts),
                                  lambda d: round(sum(w for p, w in zip(parts, idf) if d in p), 6))
        seen = {h["code"] for h in hits}
        hits += [h for h in top(loose, limit * 2) if h["code"] not in seen][: limit - len(hits)]
    return hits, len(counted)


# Words typed side by side (测试需求, 呼叫中心) and found side by side in an SOP's text: the SOP speaks of
# the thing asked, not of its words in different places. Read from the stored folded text of the best
# ranked SOPs only (RERANK beyond the page), so it costs a few substring searches, not an index query.
PHRASE_WEIGHT = 6.0
RERANK = 20


class WholeHit(dict):
    """A whole-SOP document's stored fields and its score."""

    def __init__(self, searcher, docnum: int, score: float):
        super().__init__(searcher.stored_fields(docnum))
        self.score = score


def scores(searcher, q: Q.Query) -> dict[int, float]:
    """Every document q matches, with its score (document numbers across all segments)."""
    context = searcher.context(weighting=searcher.weighting)
    out = {}
    for leaf, offset in searcher.leaf_searchers():
        m = q.matcher(leaf, context)
        if isinstance(m, SparseUnionMatcher):
            out.update((doc + offset, score) for doc, score in m.items())
            continue
        while m.is_active():
            out[m.id() + offset] = m.score()
            m.next()
    return out


def whole_sop_docnums(searcher) -> set[int]:
    """The whole-SOP documents' numbers, read once per searcher (a refreshed searcher is a new object)."""
    if not hasattr(searcher, "sop_docnums"):
        searcher.sop_docnums = set(searcher.document_numbers(kind="sop"))
    return searcher.sop_docnums


HEADING_WEIGHT = 3  # a term in a section's heading counts as much as three in its text


def best_sections(searcher, codes: list[str], terms: list[str], text: str) -> dict:
    """For the SOPs on this page, the section that matches the query best (code → stored fields).

    The SOPs are already ranked; this only picks where to land in each, among a few dozen sections, so it
    reads their stored text instead of running another index query (that query was half the search time).
    Each term scores once, in the heading (x3) or the text, at the weight of the best of its synonyms that
    occurs; words typed side by side in the heading earn a bonus. Ties go to the earlier section."""
    expansions = [[(t, 1.0 if t == term else SYNONYM_WEIGHT) for t in synonyms().expand(term)] for term in terms]
    phrases = adjacent_phrases(text)
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
            rank = (score > 0 and not is_preamble(heading), score)
            if score > 0 and rank > best.get(code, ((False, 0.0), None))[0]:
                best[code] = (rank, fields)
    return {code: fields for code, (_rank, fields) in best.items()}


# Headings of a section that says what an SOP is for and to whom it applies (目的, 适用范围, Purpose, Scope …).
# Such a section names the SOP's subject in passing (会员页面打不开 in 目的), so it matches the query about
# as well as the section that answers it: it is the landing place only when no other section matches.
PREAMBLE = re.compile(r"^[\s\d.、:：()（）一二三四五六七八九十]*(目的|范围|适用范围|适用对象|目的(与|和|及)(适用)?范围|"
                      r"purpose|scope|purpose and scope|applicability|objective)s?\s*$")


def is_preamble(heading: str) -> bool:
    """heading (folded) is a purpose or scope heading."""
    return bool(PREAMBLE.match(heading.strip()))


def folded_body(fields: dict) -> str:
    """A hit's body folded: stored at indexing for sections, folded now for a whole SOP."""
    return fields.get("folded") or fold(fields.get("body", ""))


def snippet(text: str, terms: list[str], folded_text: str | None = None, width: int = 90) -> Markup:
    """A window of the original text (in its own script) around the first match, matches in <mark>.
    folded_text is fold(text) when the caller has it (folding keeps every character in place)."""
    original = text.replace("\n", " ")
    folded = (folded_text if folded_text is not None else fold(text)).replace("\n", " ")
    needles = sorted({t for term in terms for t in synonyms().expand(term)}, key=len, reverse=True)
    spans = []
    for needle in needles:
        start = folded.find(needle)
        while start != -1 and needle:
            if not any(s < start + len(needle) and start < e for s, e in spans):
                spans.append((start, start + len(needle)))
            start = folded.find(needle, start + 1)
    spans.sort()
    first = spans[0][0] if spans else 0
    lo = max(0, first - width // 3)
    hi = min(len(original), lo + width)
    out, pos = [], lo
    for s, e in spans:
        if s < lo or e > hi:
            continue
        out += [html.escape(original[pos:s]), "<mark>", html.escape(original[s:e]), "</mark>"]
        pos = e
    out.append(html.escape(original[pos:hi]))
    return Markup(("…" if lo > 0 else "") + "".join(out) + ("…" if hi < len(original) else ""))


def suggest(searcher, terms: list[str], text: str) -> list[str]:
    """Close words from the index vocabulary and close titles, for a query that found nothing."""
    out: list[str] = []
    for term in terms:
        try:
            out += [s for s in searcher.corrector("text").suggest(term, limit=3, maxdist=1) if s != term]
        except Exception:  # noqa: BLE001 - a suggestion is a nicety, never an error
            pass
    titles = {fold(f["title"]): f["title"] for f in searcher.documents(kind="sop")}
    out += [titles[t] for t in difflib.get_close_matches(fold(text), list(titles), n=3, cutoff=0.4)]
    return list(dict.fromkeys(out))[:6]


class DocumentIdf(scoring.BM25F):
    """Whoosh's BM25F with one IDF per term across the fields of a document (SAME_IDF)."""

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        if hasattr(scorer, "idf") and fieldname in SAME_IDF:
            parent = searcher.get_parent()
            scorer.idf = min(parent.idf(f, text) for f in SAME_IDF[fieldname])
        return scorer


class Weighting(DocumentIdf):
    """DocumentIdf, scoring the same, with each field's document lengths read once per searcher into a
    list: looking a length up through the column reader, posting by posting, was a quarter of a query."""

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        if hasattr(scorer, "dfl"):
            scorer.dfl = field_lengths(searcher, fieldname, 1).__getitem__  # 1 when empty, as Whoosh's scorer asks
        return scorer


# How rare a term is, is a property of the document, not of one field: BM25F per field would find 要求 rare
# among titles (few titles hold it) although half the bodies do, and a common word in a long first-line
# title would outscore the rare word that answers. Every field of a group scores a term with the group's
# lowest IDF (the field where the term is most common).
_WORD_GROUPS = (("title", "section", "text"), ("sop_title", "sop_section", "sop_text"))
SAME_IDF = {f: g for g in _WORD_GROUPS for f in g}
SAME_IDF.update({"title_gram": ("title_gram", "gram"), "sop_title_gram": ("sop_title_gram", "sop_gram"),
                 "gram": ("gram",), "sop_gram": ("sop_gram",)})


def searcher():
    """A per-process index handle, refreshed when another process has committed or swapped in a rebuild."""
    prepare()
    cache = current_app.extensions.setdefault("search_index", {})
    old = cache.get("searcher")
    # Reopen, never Searcher.refresh(): refresh reuses the segment readers it had, with their old deletion sets, so
    # an SOP deleted (retired, or re-indexed) since stays findable in this process. A rebuild swapped in (or a
    # deleted index) may even keep the generation number, so the build is compared too.
    if old is not None and (cache.get("build") != live_build()
                            or old._ix.latest_generation() != old.reader().generation()):
        forget_searcher()
    if "searcher" not in cache:
        cache["searcher"] = open_index().searcher(weighting=Weighting())
        cache["build"] = live_build()
    return cache["searcher"]


def forget_searcher() -> None:
    s = current_app.extensions.get("search_index", {}).pop("searcher", None)
    if s is not None:
        s.close()


def search(text: str, department: str = "", tag: str = "", page: int = 1, per_page: int = PER_PAGE,
           codes: set[str] | None = None) -> Results:
    """Run a search; never raises for bad input or a broken index (the message is in Results.error)."""
    text = (text or "").strip()[:MAX_QUERY]
    synonyms().reload()  # once per search: a changed file is read again (one stat, not one per term)
    terms = terms_of(text)
    results = Results(query=text, terms=terms, page=max(1, page))
    if not terms:
        return results
    for attempt in (1, 2):
        try:
            s = searcher()
            all_hits, results.total = ranked(s, terms, filters(department, tag, codes), results.page * per_page, text)
            results.pages = -(-results.total // per_page)
            start = (results.page - 1) * per_page
            page_hits = all_hits[start:start + per_page]
            sections = best_sections(s, [h["code"] for h in page_hits], terms, text) if page_hits else {}
            results.hits = []
            for whole in page_hits:
                h = sections.get(whole["code"], whole)
                body = h.get("body", "")
                results.hits.append(Hit(code=h["code"], title=h["title"], section=h.get("section", ""),
                                        anchor=h.get("anchor", ""), department=h["department"],
                                        score=round(whole.score, 3), snippet=snippet(body, terms, folded_body(h))))
            if not results.hits and results.page == 1:
                results.suggestions = suggest(s, terms, text)
            return results
        except IndexUnavailable as e:  # another process is rebuilding it: "unavailable", never "no results"
            log.warning("search unavailable: %s", e)
            results.error = "unavailable"
            return results
        except Exception as e:  # noqa: BLE001 - a broken index is rebuilt once, then reported
            log.warning("search failed (%s); reopening the index", str(e))
            forget_searcher()
            if attempt == 2:
                results.error = "unavailable"
    return results

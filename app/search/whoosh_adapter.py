"""Everything that reaches into Whoosh's internals, in one file.

The rest of app/search/ uses Whoosh's public API (schema, index, searcher, query objects) and these pieces:

- ListTokenizer: a tokenizer whose tokens are a list (text, start, end), which RebuildWriter reads directly.
- PoolWriter: SegmentWriter writing the same segment several times faster (terms counted from
  ListTokenizer's list, TermPool instead of PostingPool, each field's document lengths read once, a term's
  postings written a block at a time); RebuildWriter: the same, for a new, empty index only.
- WholeFileStorage: FileStorage reading each index file whole into memory, never memory-mapped.
- SparseUnionMatcher / Any: Or over many alternatives, read once into sorted lists (replaces Or._matcher).
- Best: a term's alternatives scored as Lucene's dis_max (the best, plus a tiebreak share of the others).
- DocumentIdf: BM25F with one IDF per term across a group of fields (replaces the scorer's idf).
- Weighting: DocumentIdf with each field's document lengths read once per searcher (replaces the scorer's dfl).
- scores(): every document a query matches, with its score, across segments.

Each piece has an equivalence test against stock Whoosh (tests/test_search_adapter.py and tests/test_search.py).
check_whoosh() runs at import: when a Whoosh upgrade renames or removes what a piece overrides, importing this
module raises WhooshChanged naming it, instead of the speed-up silently dropping out.
"""
from array import array
from bisect import bisect_left
from collections import Counter
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from whoosh import formats
from whoosh import query as Q
from whoosh import scoring
from whoosh.analysis import Token, Tokenizer
from whoosh.codec.base import FieldWriter
from whoosh.codec.whoosh3 import W3FieldWriter, W3LeafMatcher, W3PostingsWriter
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.matching import mcore
from whoosh.matching.wrappers import FilterMatcher
from whoosh.query.compound import CompoundQuery
from whoosh.system import pack_uint
from whoosh.writing import SegmentWriter


class WhooshChanged(ImportError):
    """The installed Whoosh no longer has something app/search/whoosh_adapter.py overrides."""


def whoosh_version() -> str:
    try:
        return version("Whoosh-Reloaded")
    except PackageNotFoundError:  # pragma: no cover - another distribution of the same package
        import whoosh
        return ".".join(map(str, whoosh.__version__))


def _names(func) -> set[str]:
    """The attribute and global names a function's code uses (its own code only)."""
    return set(func.__code__.co_names)


def _all_names(func) -> set[str]:
    """_names(), with those of the generator expressions and comprehensions inside it."""
    codes, names = [func.__code__], set()
    while codes:
        code = codes.pop()
        names |= set(code.co_names)
        codes += [c for c in code.co_consts if hasattr(c, "co_names")]
    return names


def check_whoosh() -> None:
    """Raise WhooshChanged if any internal this module relies on is gone or renamed."""
    required = {  # what → a check (an exception while checking counts as missing)
        "SegmentWriter._flush_segment": lambda: callable(getattr(SegmentWriter, "_flush_segment", None)),
        "SegmentWriter.per_document_reader": lambda: callable(getattr(SegmentWriter, "per_document_reader", None)),
        "SegmentWriter.__init__ sets pool, perdocwriter, fieldwriter": lambda:
            {"pool", "perdocwriter", "fieldwriter"} <= _names(SegmentWriter.__init__),
        "SegmentWriter._flush_segment reads pool.iter_postings into fieldwriter.add_postings": lambda:
            {"pool", "iter_postings", "add_postings", "perdocwriter", "fieldwriter"}
            <= _names(SegmentWriter._flush_segment),
        "SegmentWriter adds postings through pool.add": lambda: "add" in _names(SegmentWriter.add_document),
        "SegmentWriter.add_document (boosts, field.index, perdocwriter, columns) as RebuildWriter's": lambda:
            {"_check_state", "_doc_boost", "_check_fields", "_field_boost", "start_doc", "index", "scorable",
             "separate_spelling", "vector", "add_field", "column_type", "to_column_value", "add_column_value",
             "cancel_doc", "finish_doc", "_added", "docnum"} <= _names(SegmentWriter.add_document),
        "Frequency.word_values: weight = frequency × field_boost, value pack_uint(frequency)": lambda:
            {"field_boost", "pack_uint"} <= _all_names(formats.Frequency.word_values),
        "Positions.word_values: positions from t.pos, value encode(positions)": lambda:
            {"field_boost", "encode", "pos"} <= _names(formats.Positions.word_values),
        "W3FieldWriter start_field/start_term/finish_term/finish_field, _postwriter": lambda:
            "_postwriter" in _names(W3FieldWriter.start_term) and all(callable(getattr(W3FieldWriter, m, None))
                                                                    for m in ("start_field", "finish_term", "finish_field")),
        "W3PostingsWriter.add_posting fills a block (_ids, _weights, _values, lengths, _maxweight)": lambda:
            {"_blocklimit", "_write_block", "_ids", "_weights", "_values", "_maxweight", "_minlength", "_maxlength"}
            <= _names(W3PostingsWriter.add_posting) and callable(getattr(W3PostingsWriter, "_new_block", None)),
        "FieldWriter.add_postings(schema, lengths, items) asks lengths.doc_field_length": lambda:
            FieldWriter.add_postings.__code__.co_varnames[:4] == ("self", "schema", "lengths", "items")
            and "doc_field_length" in _names(FieldWriter.add_postings),
        "FileStorage._fpath": lambda: callable(getattr(FileStorage, "_fpath", None)),
        "FileStorage(path, supports_mmap=...)": lambda: "supports_mmap" in FileStorage.__init__.__code__.co_varnames,
        "BufferFile(bytes, name=...)": lambda: "name" in BufferFile.__init__.__code__.co_varnames,
        "CompoundQuery.matcher calls _matcher(subs, searcher, context)": lambda:
            "_matcher" in _names(CompoundQuery.matcher)
            and Q.Or._matcher.__code__.co_varnames[:4] == ("self", "subs", "searcher", "context"),
        "WeightLengthScorer.setup sets dfl and score reads it": lambda:
            "dfl" in _names(scoring.WeightLengthScorer.setup) and "dfl" in _names(scoring.WeightLengthScorer.score),
        "BM25F.scorer returns a WeightLengthScorer": lambda: issubclass(scoring.BM25FScorer, scoring.WeightLengthScorer),
        "SegmentReader.postings wraps deletions in FilterMatcher(child)": lambda:
            "FilterMatcher" in _names(__import__("whoosh.reading", fromlist=["SegmentReader"]).SegmentReader.postings)
            and "deleted_docs_set" in _names(__import__("whoosh.reading", fromlist=["SegmentReader"]).SegmentReader.postings),
        "W3LeafMatcher blocks (_read_ids, _read_weights, _ids, _weights, _i, _next_block)": lambda:
            all(callable(getattr(W3LeafMatcher, m, None)) for m in ("_read_ids", "_read_weights", "_next_block"))
            and {"_ids", "_weights", "_i", "_blocklength"} <= _names(W3LeafMatcher._goto) | _names(W3LeafMatcher.is_active),
        "WeightLengthScorer.score is _score(weight, dfl(id))": lambda:
            {"_score", "dfl", "weight", "id"} <= _names(scoring.WeightLengthScorer.score),
        "BM25FScorer reads self.idf when scoring": lambda: "idf" in _names(scoring.BM25FScorer._score),
        "mcore.Matcher": lambda: all(callable(getattr(mcore.Matcher, m, None)) for m in (
            "is_active", "id", "score", "next", "skip_to", "all_ids", "supports", "supports_block_quality",
            "max_quality", "copy")),
    }
    missing = []
    for what, check in required.items():
        try:
            ok = check()
        except Exception:  # noqa: BLE001 - whatever broke, it is reported below by name
            ok = False
        if not ok:
            missing.append(what)
    if missing:
        raise WhooshChanged(
            f"Whoosh {whoosh_version()} changed internals that app/search/whoosh_adapter.py overrides: "
            + "; ".join(missing) + ". Adapt that module (and run tests/test_search_adapter.py) before upgrading.")


check_whoosh()


# --- writing a new index -------------------------------------------------------------------------

class ListTokenizer(Tokenizer):
    """A tokenizer whose tokens are split(value): a list of (text, startchar, endchar), positions counted from 0.

    Through Whoosh, each token is a Token object stepped through generators and counted in a dict;
    RebuildWriter counts the texts of the list instead."""

    split = staticmethod(lambda value: [])

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, (text, start, end) in enumerate(self.split(value)):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token


def field_terms(field, value) -> list:
    """(term bytes, frequency, weight, value bytes) for each term of value, as field.index(value) gives them:
    counted from the list for a ListTokenizer field storing frequencies or positions, else field.index."""
    ana, fmt = field.analyzer, field.format
    if not (isinstance(value, str) and isinstance(ana, ListTokenizer)
            and type(fmt) in (formats.Frequency, formats.Positions)):
        return field.index(value)
    texts = [text for text, _start, _end in ana.split(value)]
    fb = fmt.field_boost
    if type(fmt) is formats.Frequency:  # each token's boost is 1.0: the weights Whoosh sums are float(freq)
        return [(text.encode("utf-8"), n, *_frequency_values(n, fb)) for text, n in Counter(texts).items()]
    poses: dict[str, list[int]] = {}
    for pos, text in enumerate(texts):
        poses.setdefault(text, []).append(pos)
    return [(text.encode("utf-8"), len(p), _frequency_values(len(p), fb)[0], fmt.encode(p)) for text, p in poses.items()]


@lru_cache(maxsize=4096)
def _frequency_values(n: int, fb: float) -> tuple[float, bytes]:
    """Whoosh's weight and Frequency value for a term n times in a field: one object each, shared by postings."""
    return float(n) * fb, pack_uint(n)


class TermPool:
    """Stands in for Whoosh's PostingPool when the index is new: postings kept per term as they arrive.

    PostingPool sorts every (field, term, docnum, weight, value) tuple, pickling runs to temporary files and
    merging them back. In a new index a term's postings arrive in document order, so sorting the terms
    alone gives the same stream. Postings are stored flat (docnum, weight, value, ...), with equal weights
    and values shared: a rebuild peaks at about the memory PostingPool's 128 MB runs take.
    """

    def __init__(self):
        self.terms: dict[tuple[str, bytes], list] = {}
        self.shared: dict = {}

    def add(self, item):
        fieldname, tbytes, docnum, weight, vbytes = item
        posts = self.terms.get((fieldname, tbytes))
        if posts is None:
            posts = self.terms[fieldname, tbytes] = []
        posts += docnum, self.shared.setdefault(weight, weight), self.shared.setdefault(vbytes, vbytes)

    def add_terms(self, fieldname: str, docnum: int, items, fieldboost: float, scorable: bool) -> int:
        """One document's terms in one field, weighted as SegmentWriter does; returns the field's length.
        Equal values are shared, as add() shares them: a block pickles a value it holds twice only once."""
        terms, shared, length = self.terms, self.shared, 0
        for tbytes, freq, weight, vbytes in items:
            if fieldboost != 1.0:  # x * 1.0 == x: the same weight (field_terms shares equal ones)
                weight *= fieldboost
            if scorable:
                length += freq
            key = fieldname, tbytes
            posts = terms.get(key)
            if posts is None:
                terms[key] = [docnum, weight, shared.setdefault(vbytes, vbytes)]
            else:
                posts += docnum, weight, shared.setdefault(vbytes, vbytes)
        return length

    def iter_postings(self):
        for key in sorted(self.terms):
            fieldname, tbytes = key
            posts = iter(self.terms[key])
            for docnum, weight, vbytes in zip(posts, posts, posts):
                yield fieldname, tbytes, docnum, weight, vbytes

    def cleanup(self):
        self.terms.clear()


def field_lengths(reader, fieldname: str, default: int = 0) -> list[int]:
    """Every document's length in one field, read once and kept on reader (a searcher, which a refresh
    replaces, or a new segment's per-document reader): looked up posting by posting, each length is a seek
    and a read in a column file."""
    cache = reader.__dict__.setdefault("field_lengths", {})
    if (fieldname, default) not in cache:
        cache[fieldname, default] = [reader.doc_field_length(n, fieldname, default)
                                     for n in range(reader.doc_count_all())]
    return cache[fieldname, default]


class FieldLengths:
    """The lengths the codec asks for once per posting, from field_lengths()."""

    def __init__(self, pdr):
        self.pdr = pdr

    def doc_field_length(self, docnum: int, fieldname: str) -> int:
        return field_lengths(self.pdr, fieldname)[docnum]


def write_postings(fieldwriter: W3FieldWriter, schema, pdr, pool: TermPool) -> None:
    """FieldWriter.add_postings(schema, FieldLengths(pdr), pool.iter_postings()), a term's postings a block at a
    time: each block filled as W3PostingsWriter.add_posting fills it, posting by posting."""
    lastfn = None
    for key in sorted(pool.terms):
        fieldname, tbytes = key
        if fieldname != lastfn:
            if lastfn is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(fieldname, schema[fieldname])
            lastfn, lengths = fieldname, field_lengths(pdr, fieldname)
        fieldwriter.start_term(tbytes)
        pw = fieldwriter._postwriter
        posts, limit = pool.terms[key], pw._blocklimit
        docs, weights, values = posts[0::3], posts[1::3], posts[2::3]
        for i in range(0, len(docs), limit):
            if i:
                pw._write_block()  # add_posting writes a full block when the next posting comes
            ids, ws = docs[i:i + limit], weights[i:i + limit]
            pw._ids, pw._weights = array("I", ids), array("f", ws)
            pw._values = [v for v in values[i:i + limit] if v]
            pw._maxweight = max(0, *ws)  # add_posting: starts at 0, raised by each greater weight
            ls = [n for n in map(lengths.__getitem__, ids) if n]
            pw._minlength, pw._maxlength = (min(ls), max(ls)) if ls else (None, 0)
        fieldwriter.finish_term()
    if lastfn is not None:
        fieldwriter.finish_field()


class PoolWriter(SegmentWriter):
    """Whoosh's SegmentWriter writing the same segment several times faster, on a new or an existing index.

    A ListTokenizer field's terms are counted from its list (field_terms), postings go through TermPool, each
    field's document lengths are read once, and a term's postings are written a block at a time
    (write_postings). TermPool needs each term's postings in document order: SegmentWriter numbers added
    documents in turn, then the documents of the segments it merges at commit, reader by reader, each reader
    term by term in its own order. Tests write with both writers (new index; several segments with deletions,
    merged) and compare every term's postings, statistics, stored fields and lengths.
    """

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        # Term vectors and spelling words go through Whoosh's own add_document; the app's schema has neither.
        self._stock_add = any(f.vector or f.separate_spelling() for _n, f in self.schema.items())
        if not self._stock_add:
            self.pool = TermPool()

    def add_document(self, **fields):  # SegmentWriter's, with field_terms and TermPool.add_terms
        if self._stock_add:
            return super().add_document(**fields)
        self._check_state()
        perdocwriter, schema, docnum = self.perdocwriter, self.schema, self.docnum
        docboost = self._doc_boost(fields)
        fieldnames = sorted(name for name in fields if not name.startswith("_"))
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    length = self.pool.add_terms(fieldname, docnum, field_terms(field, value),
                                                 self._field_boost(fields, fieldname, docboost), field.scorable)
                customval = fields.get(f"_stored_{fieldname}", value)
                perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)
                column = field.column_type
                if column and customval is not None:
                    perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self):  # SegmentWriter's, with write_postings
        if self._stock_add:
            return super()._flush_segment()
        self.perdocwriter.close()
        pdr = self.per_document_reader()
        if isinstance(self.fieldwriter, W3FieldWriter):
            write_postings(self.fieldwriter, self.schema, pdr, self.pool)
        else:  # another codec: its own add_postings
            self.fieldwriter.add_postings(self.schema, FieldLengths(pdr), self.pool.iter_postings())
        self.fieldwriter.close()
        pdr.close()


class RebuildWriter(PoolWriter):
    """PoolWriter for a new, empty index (the rebuild), refusing one with documents."""

    def __init__(self, ix, **kwargs):
        if not ix.is_empty():
            raise ValueError("RebuildWriter only writes a new index")
        super().__init__(ix, **kwargs)


# --- reading ---------------------------------------------------------------------------------------

class WholeFileStorage(FileStorage):
    """Whoosh's FileStorage, reading each index file whole into memory when a reader opens it, never mmap.

    Whoosh memory-maps segment files by default: a file truncated under a running worker killed it with
    SIGBUS at the next read past the new end. Read into memory, a file is either complete or refused at once
    with an error (and then rebuilt), and it costs about the index's size per worker.
    """

    def __init__(self, path: str):
        super().__init__(path, supports_mmap=False)

    def open_file(self, name, **kwargs):
        with open(self._fpath(name), "rb") as f:
            return BufferFile(f.read(), name=name)


# --- matching and scoring ------------------------------------------------------------------------

def scored_items(m, boost: float, scored: bool):
    """(document, score × boost) for each match of m; 1.0 for each when unscored."""
    if isinstance(m, TermScores):  # a term's postings, read and scored a block at a time
        return ((doc, score * boost) for doc, score in m.items())
    return stepped_items(m, boost, scored)


def stepped_items(m, boost: float, scored: bool):
    while m.is_active():
        yield m.id(), (m.score() * boost if scored else 1.0)
        m.next()


class SparseUnionMatcher(mcore.Matcher):
    """The union of sub-matchers, read once into sorted lists of documents and summed scores.

    Whoosh's ArrayUnionMatcher sums the same scores into 2,048-slot arrays that it allocates, clears and
    scans slot by slot in Python across the whole index. Our posting lists are short (whole-SOP documents
    among ten times as many sections), so that scanning cost more than scoring the matches."""

    def __init__(self, submatchers: list, boost: float = 1.0, scored: bool = True, tiebreak: float | None = None):
        totals: dict[int, float] = {}
        best: dict[int, float] = {}
        for m in submatchers:
            for doc, score in scored_items(m, boost, scored):
                totals[doc] = totals.get(doc, 0.0) + score
                if tiebreak is not None and score > best.get(doc, 0.0):
                    best[doc] = score
        if tiebreak is not None:  # the best alternative, plus tiebreak times the others (Lucene's dis_max)
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


class TermScores:
    """A Term's matches on one segment with their scores, read a block of postings at a time.

    What Whoosh's Term matcher scores posting by posting through three wrapped matchers (deletions, boost,
    scorer): the same scorer's _score(weight, length), the same lengths, the same boost, so the same floats
    (tests/test_search_adapter.py compares them, on segments with deleted documents too)."""

    def __init__(self, ids: list[int], scores: list[float]):
        self.ids, self.scores = ids, scores

    def items(self) -> zip:
        return zip(self.ids, self.scores)

    @classmethod
    def read(cls, q: Q.Term, searcher, context) -> "TermScores | None":
        """q's matches on a segment's searcher, or None where Whoosh's own matcher is needed (unscored, a
        field without lengths, another posting format)."""
        weighting = context.weighting if context else searcher.weighting
        if type(q) is not Q.Term or weighting is None or q.minquality or q.fieldname not in searcher.schema:
            return None
        try:
            text = searcher.schema[q.fieldname].to_bytes(q.text)
        except ValueError:
            return cls([], [])
        reader = searcher.reader()
        if (q.fieldname, text) not in reader:
            return cls([], [])
        scorer = weighting.scorer(searcher, q.fieldname, text)
        if not isinstance(scorer, scoring.WeightLengthScorer):
            return None
        m = reader.postings(q.fieldname, text, scorer=scorer)
        deleted = frozenset()
        if isinstance(m, FilterMatcher):
            m, deleted = m.child, reader.deleted_docs_set
        if not isinstance(m, W3LeafMatcher):
            return None
        dfl, score, boost = scorer.dfl, scorer._score, q.boost
        ids, scores = [], []
        while m.is_active():  # a block at a time
            if m._ids is None:
                m._read_ids()
            if m._weights is None:
                m._read_weights()
            for doc, weight in zip(m._ids[m._i:], m._weights[m._i:]):
                if doc not in deleted:
                    ids.append(doc)
                    scores.append(score(weight, dfl(doc)) * boost)
            m._next_block()
        return cls(ids, scores)


class Any(Q.Or):
    """Or over many alternatives (fields × synonyms × terms), every match read once into SparseUnionMatcher:
    much faster in pure Python than Whoosh's binary tree of union matchers or its array matcher. A plain
    Term alternative is read a block at a time (TermScores)."""

    tiebreak = None

    def _matcher(self, subs, searcher, context):
        scored = context.weighting is not None if context else True
        return SparseUnionMatcher([(TermScores.read(sub, searcher, context) if scored else None)
                                   or sub.matcher(searcher, context) for sub in subs], self.boost, scored, self.tiebreak)


class Best(Any):
    """One term's alternatives (fields × synonyms) scored as its best match plus `tiebreak` times the others
    (Lucene's dis_max; Whoosh's DisjunctionMax ignores its tiebreak).

    Summed, a common word in a long first-line title scored in the title's words, its character pairs and
    its synonyms at once, and outweighed the rare word that answers in the body text."""
    tiebreak = 0.3




class DocumentIdf(scoring.BM25F):
    """Whoosh's BM25F with one IDF per term across the fields of a group (same_idf: field → its group; the
    app's searcher uses index.SAME_IDF, and without it this is Whoosh's BM25F)."""

    def __init__(self, same_idf: dict[str, tuple[str, ...]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.same_idf = same_idf or {}

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        if isinstance(scorer, scoring.BM25FScorer) and fieldname in self.same_idf:  # check_whoosh: it has idf
            parent = searcher.get_parent()
            scorer.idf = min(parent.idf(f, text) for f in self.same_idf[fieldname] if f in parent.schema)
        return scorer


class Weighting(DocumentIdf):
    """DocumentIdf, scoring the same, with each field's document lengths read once per searcher into a
    list: looking a length up through the column reader, posting by posting, was a quarter of a query."""

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        if isinstance(scorer, scoring.WeightLengthScorer):  # a scorable field (check_whoosh: it has dfl)
            scorer.dfl = field_lengths(searcher, fieldname, 1).__getitem__  # 1 when empty, as Whoosh's scorer asks
        return scorer


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

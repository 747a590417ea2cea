"""app/search/whoosh_adapter.py against stock Whoosh on a small index, its import-time check, the package's
interface (search, suggest, index_sop, remove_sop) and the logged tracebacks."""
import logging
import random
import re
import subprocess
import sys

import pytest
from whoosh import index as whoosh_index
from whoosh import query as Q
from whoosh import scoring
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.writing import SegmentWriter

from app.search import whoosh_adapter as adapter
from tests.conftest import ROOT

WORDS = "night audit shift handover member system guest invoice refund cash drawer report room key card " \
        "printer network password backup server laundry linen minibar deposit".split()


def small_schema() -> Schema:
    return Schema(id=ID(stored=True, unique=True), kind=ID(stored=True), title=TEXT(field_boost=4.0, stored=True),
                  text=TEXT(), note=STORED())


def small_docs(n: int = 400, seed: int = 7) -> list[dict]:
    """n documents over a 24-word vocabulary: common words have posting lists longer than one block (128)."""
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        weights = [1 / (k + 1) for k in range(len(WORDS))]
        title = " ".join(rnd.choices(WORDS, weights, k=rnd.randint(1, 4)))
        text = " ".join(rnd.choices(WORDS, weights, k=rnd.randint(3, 60)))
        docs.append({"id": f"d{i}", "kind": "sop" if i % 10 == 0 else "section", "title": title, "text": text,
                     "note": f"note {i}"})
    return docs


class Spaces(adapter.ListTokenizer):
    split = staticmethod(lambda value: [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", value)])


def list_schema() -> Schema:
    """small_schema's fields, analysed by a ListTokenizer: positions (title) and frequencies (text)."""
    return Schema(id=ID(stored=True, unique=True), kind=ID(stored=True, sortable=True),
                  title=TEXT(analyzer=Spaces(), field_boost=4.0, stored=True),
                  text=TEXT(analyzer=Spaces(), phrase=False), note=STORED())


def build(path, writer_class=SegmentWriter, segments: int = 1, deleted: int = 0, schema=None):
    """A small index in `segments` segments; with `deleted`, every `deleted`-th document is then deleted."""
    path.mkdir(parents=True, exist_ok=True)
    ix = whoosh_index.create_in(str(path), schema or small_schema())
    docs = small_docs()
    size = -(-len(docs) // segments)
    for n in range(segments):
        writer = writer_class(ix) if n == 0 else ix.writer()
        for doc in docs[n * size:(n + 1) * size]:
            writer.add_document(**doc)
        writer.commit(merge=False)
    if deleted:
        writer = ix.writer()
        for doc in docs[::deleted]:
            writer.delete_by_term("id", doc["id"])
        writer.commit(merge=False)
    return ix


def contents(ix) -> tuple:
    """Every term's postings and statistics, every stored field and every field length."""
    terms = {}
    with ix.reader() as r:
        for fieldname, text in r.all_terms():
            info, m, posts = r.term_info(fieldname, text), r.postings(fieldname, text), []
            while m.is_active():
                posts.append((m.id(), m.weight(), m.value()))
                m.next()
            terms[fieldname, text] = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(),
                                      info.max_weight(), info.min_id(), info.max_id(), posts)
        docs = range(r.doc_count_all())
        stored = [r.stored_fields(n) for n in docs]
        lengths = {f: [r.doc_field_length(n, f) for n in docs] for f in ix.schema.scorable_names()}
    return terms, stored, lengths


QUERIES = [
    Q.Or([Q.Term(f, w) for f in ("title", "text") for w in ("night", "audit", "refund")]),
    Q.Or([Q.Term("text", "linen"), Q.Term("title", "minibar", boost=0.5), Q.Term("text", "deposit", boost=2.0)]),
    Q.Or([Q.Term("title", "guest")]),
    Q.Or([Q.Term("text", "nothing-like-it"), Q.Term("title", "member")], boost=1.5),
]


def ranking(searcher, q) -> dict[int, float]:
    return {h.docnum: round(h.score, 9) for h in searcher.search(q, limit=None)}


# --- each piece against stock Whoosh --------------------------------------------------------------

def test_rebuild_writer_writes_what_segment_writer_writes(tmp_path):
    ours, stock = build(tmp_path / "ours", adapter.RebuildWriter), build(tmp_path / "stock", SegmentWriter)
    got, expected = contents(ours), contents(stock)
    assert max(len(v[-1]) for v in got[0].values()) > 128  # posting lists longer than one block
    assert got == expected


@pytest.mark.parametrize("schema", [small_schema, list_schema])
def test_rebuild_writer_counts_list_tokenizer_terms_as_whoosh_does(tmp_path, schema):
    ours = build(tmp_path / "ours", adapter.RebuildWriter, schema=schema())
    assert contents(ours) == contents(build(tmp_path / "stock", SegmentWriter, schema=schema()))


@pytest.mark.parametrize("schema", [small_schema, list_schema])
def test_pool_writer_updates_and_merges_segments_as_segment_writer_does(tmp_path, schema):
    """Deletions, new documents and the merges at commit (the small segments, then all of them)."""
    def update(path, writer_class):
        ix = build(path, segments=2, deleted=7, schema=schema())
        results = []
        for n in range(9):  # as re-indexing one SOP at a time: small segments, merged now and then
            writer = writer_class(ix)
            for doc in small_docs()[n * 20:n * 20 + 9:4]:
                writer.delete_by_term("id", doc["id"])
            for doc in small_docs(4, seed=11 + n):
                writer.add_document(**{**doc, "id": f"new{n}-{doc['id']}"})
            writer.commit(optimize=n == 8)
            results.append((len(ix._segments()), contents(ix)))
        return results

    ours, stock = update(tmp_path / "ours", adapter.PoolWriter), update(tmp_path / "stock", SegmentWriter)
    counts = [n for n, _c in stock]
    assert any(b < a for a, b in zip(counts, counts[1:])) and counts[-1] == 1  # merged small ones, then all
    assert ours == stock


def test_rebuild_writer_refuses_an_index_with_documents(tmp_path):
    with pytest.raises(ValueError, match="new index"):
        adapter.RebuildWriter(build(tmp_path / "ix"))


def test_whole_file_storage_reads_the_index_file_storage_reads(tmp_path):
    build(tmp_path / "ix", segments=2)
    ours = adapter.WholeFileStorage(str(tmp_path / "ix")).open_index()
    stock = FileStorage(str(tmp_path / "ix")).open_index()
    assert contents(ours) == contents(stock)
    with ours.searcher() as a, stock.searcher() as b:
        assert all(ranking(a, q) == ranking(b, q) for q in QUERIES)


SHAPES = pytest.mark.parametrize("segments, deleted", [(1, 0), (2, 0), (2, 7)])


@SHAPES
def test_any_matches_and_scores_as_whoosh_or(tmp_path, segments, deleted):
    ix = build(tmp_path / "ix", segments=segments, deleted=deleted)
    with ix.searcher(weighting=adapter.Weighting()) as s:
        for q in QUERIES:
            expected = ranking(s, q)
            assert ranking(s, adapter.Any(q.subqueries, boost=q.boost)) == expected
        # unscored (a filter): the same documents
        q = QUERIES[0]
        assert set(s.docs_for_query(adapter.Any(q.subqueries))) == set(s.docs_for_query(q))


def test_sparse_union_matcher_steps_and_skips_as_a_matcher_should(tmp_path):
    ix = build(tmp_path / "ix")
    with ix.searcher() as s:
        q = QUERIES[0]
        ids = sorted(ranking(s, q))
        m = adapter.Any(q.subqueries).matcher(s, s.context(weighting=s.weighting))
        assert isinstance(m, adapter.SparseUnionMatcher) and list(m.copy().all_ids()) == ids
        later = ids[len(ids) // 2]
        m.skip_to(later)
        assert m.id() == later and list(m.all_ids()) == ids[len(ids) // 2:]
        assert m.max_quality() >= max(score for _doc, score in m.items())
        while m.is_active():
            m.next()
        assert not m.is_active()


@SHAPES
def test_weighting_scores_as_whoosh_bm25f(tmp_path, segments, deleted):
    ix = build(tmp_path / "ix", segments=segments, deleted=deleted)
    with ix.searcher(weighting=adapter.Weighting()) as ours, ix.searcher(weighting=scoring.BM25F()) as stock:
        for q in QUERIES + [Q.And([Q.Term("text", "night"), Q.Term("title", "audit")]), Q.Term("kind", "sop")]:
            got, expected = ranking(ours, q), ranking(stock, q)
            assert got == expected and got


@SHAPES
def test_best_scores_the_best_alternative_plus_a_tiebreak_share_of_the_others(tmp_path, segments, deleted):
    """Lucene's dis_max, from each alternative as stock Whoosh scores it (Whoosh's DisjunctionMax has no tiebreak)."""
    ix = build(tmp_path / "ix", segments=segments, deleted=deleted)
    with ix.searcher(weighting=adapter.Weighting()) as s:
        for q in QUERIES:
            each = [ranking(s, sub) for sub in q.subqueries]
            docs = set().union(*each)
            best = {d: max(e.get(d, 0.0) for e in each) for d in docs}
            expected = {d: round(q.boost * (best[d] + adapter.Best.tiebreak * (sum(e.get(d, 0.0) for e in each) - best[d])), 6)
                        for d in docs}
            got = {d: round(score, 6) for d, score in ranking(s, adapter.Best(q.subqueries, boost=q.boost)).items()}
            assert got == {d: v for d, v in expected.items() if v > 0} and got
        assert ranking(s, adapter.Best(QUERIES[0].subqueries)) != ranking(s, QUERIES[0])  # not a sum


def test_document_idf_gives_each_field_of_a_group_the_lowest_idf_of_the_group(tmp_path):
    """"refund" is rarer among titles than among texts: with title and text in one group, a title match
    scores with the text's IDF, and everything else is Whoosh's BM25F."""
    ix = build(tmp_path / "ix")
    with ix.searcher() as s:
        title_idf, text_idf = s.idf("title", "refund"), s.idf("text", "refund")
    assert title_idf > text_idf
    group = {"title": ("title", "text"), "text": ("title", "text")}
    with ix.searcher(weighting=adapter.DocumentIdf(group)) as ours, \
            ix.searcher(weighting=scoring.BM25F()) as stock:
        q = Q.Term("title", "refund")
        stock_scores = ranking(stock, q)
        assert {d: round(v * text_idf / title_idf, 6) for d, v in stock_scores.items()} == \
            {d: round(v, 6) for d, v in ranking(ours, q).items()}
        assert ranking(ours, Q.Term("text", "refund")) == ranking(stock, Q.Term("text", "refund"))
        document_idf = ranking(ours, q)
    with ix.searcher(weighting=adapter.Weighting(group)) as cached:  # the lengths cache scores the same
        assert ranking(cached, q) == document_idf


@SHAPES
def test_scores_are_the_scores_whoosh_search_gives(tmp_path, segments, deleted):
    ix = build(tmp_path / "ix", segments=segments, deleted=deleted)
    with ix.searcher(weighting=adapter.Weighting()) as s:
        assert len(s.leaf_searchers()) == segments
        for q in QUERIES + [adapter.Any(QUERIES[1].subqueries), Q.Phrase("text", ["night", "audit"])]:
            got = {doc: round(score, 9) for doc, score in adapter.scores(s, q).items()}
            assert got == ranking(s, q) and got


@SHAPES
def test_term_scores_read_by_block_are_the_term_matchers_scores(tmp_path, segments, deleted):
    """TermScores reads a term's postings a block at a time: the documents and scores Whoosh's Term matcher
    gives posting by posting (with a boost, over several blocks, skipping deleted documents)."""
    ix = build(tmp_path / "ix", segments=segments, deleted=deleted)
    with ix.searcher(weighting=adapter.Weighting()) as s:
        context = s.context(weighting=s.weighting)
        checked = 0
        for leaf, _offset in s.leaf_searchers():
            for q in [Q.Term(f, w, boost=b) for f in ("title", "text") for w in WORDS[:6] + ["absent"]
                      for b in (1.0, 0.5)]:
                fast, m, expected = adapter.TermScores.read(q, leaf, context), q.matcher(leaf, context), []
                while m.is_active():
                    expected.append((m.id(), m.score()))
                    m.next()
                assert list(fast.items()) == expected
                checked += len(expected)
        assert checked > 2000
        assert deleted == 0 or any(leaf.reader().has_deletions() for leaf, _o in s.leaf_searchers())
        assert adapter.TermScores.read(Q.Term("id", "d1"), s.leaf_searchers()[0][0], context) is None  # no lengths


# --- loud failure when Whoosh changes ---------------------------------------------------------------

def test_the_installed_whoosh_has_everything_the_adapter_overrides():
    adapter.check_whoosh()  # raises WhooshChanged otherwise


@pytest.mark.parametrize("target, attr, named", [
    ("whoosh.writing.SegmentWriter", "_flush_segment", "SegmentWriter._flush_segment"),
    ("whoosh.scoring.WeightLengthScorer", "setup", "WeightLengthScorer.setup sets dfl"),
    ("whoosh.query.Or", "_matcher", "CompoundQuery.matcher calls _matcher"),
    ("whoosh.filedb.filestore.FileStorage", "_fpath", "FileStorage._fpath"),
])
def test_importing_the_adapter_fails_loudly_when_whoosh_renames_an_internal(target, attr, named):
    """A Whoosh without what the adapter overrides: importing it (and so the app) fails with the name of what
    is missing, instead of a speed-up dropping out unseen."""
    module, cls = target.rsplit(".", 1)
    code = (f"import importlib; c = getattr(importlib.import_module({module!r}), {cls!r})\n"
            f"for k in [c, *c.__mro__]:\n"
            f"    if {attr!r} in vars(k): delattr(k, {attr!r})\n"
            f"setattr(c, {attr + '_renamed'!r}, None)\n"
            "import app.search.whoosh_adapter")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "WhooshChanged" in proc.stderr and named in proc.stderr, proc.stderr[-2000:]


# --- the interface the rest of the app uses ---------------------------------------------------------

@pytest.fixture
def indexed(app):
    from app import search
    search.rebuild()
    return app


def test_remove_sop_and_index_sop(indexed):
    from app import search
    assert search.search("夜审").hits[0].code == "FO-NA-001"
    assert search.remove_sop("FO-NA-001") is True
    assert "FO-NA-001" not in [h.code for h in search.search("夜审").hits]
    assert search.remove_sop("FO-NA-001") is False  # nothing left to remove
    assert search.index_sop("FO-NA-001") == (1, 0)
    assert search.search("夜审").hits[0].code == "FO-NA-001"


def test_suggest_offers_close_words_and_titles(indexed):
    from app import search
    assert "teamviewer" in search.suggest("teamviewr")
    assert "夜审操作规程" in search.suggest("嗯夜宙操侮规桯")
    assert search.suggest("  ") == []


def test_a_failing_search_is_logged_with_its_traceback_and_reported_unavailable(indexed, monkeypatch, caplog):
    from app import search
    from app.search import query

    def broken(*_args, **_kwargs):
        raise RuntimeError("segment vanished")

    monkeypatch.setattr(query, "ranked", broken)
    with caplog.at_level(logging.ERROR, logger="app.search.query"):
        r = search.search("夜审")
    assert r.error == "unavailable" and not r.hits
    failures = [rec for rec in caplog.records if rec.name == "app.search.query" and rec.exc_info]
    assert len(failures) == 2 and all(rec.exc_info[0] is RuntimeError for rec in failures)
    assert "segment vanished" in caplog.text and "Traceback" in caplog.text


def test_a_failing_suggestion_is_logged_and_titles_are_still_offered(indexed, monkeypatch, caplog):
    from app import search
    from app.search.index import searcher

    def broken(*_args, **_kwargs):
        raise KeyError("no spelling graph")

    monkeypatch.setattr(searcher(), "corrector", broken)
    with caplog.at_level(logging.ERROR, logger="app.search.present"):
        offered = search.suggest("嗯夜宙操侮规桯")
    assert "夜审操作规程" in offered
    assert any(rec.exc_info and rec.exc_info[0] is KeyError for rec in caplog.records)


def test_a_search_asked_again_answers_the_same_from_the_memo(indexed):
    """The second time, a term's scores, the SOPs' sections and stored fields come from the searcher's memo:
    the same hits, scores, sections and snippets; a new searcher (after any index change) starts empty."""
    from app import search
    from app.search.index import forget_searcher, searcher
    from app.search.ranking import memo
    first = [search.search(q) for q in ("会员系统连不上怎么办", "FO-NA-001", "夜审 交接", "流程")]
    assert len(memo(searcher(), "term")) >= 5 and memo(searcher(), "sections")
    again = [search.search(q) for q in ("会员系统连不上怎么办", "FO-NA-001", "夜审 交接", "流程")]
    assert again == first and all(r.hits for r in first)
    forget_searcher()
    assert not memo(searcher(), "term") and [search.search(q) for q in ("夜审 交接",)] == first[2:3]

"""The Whoosh index: schema, atomic rebuild, incremental update by content hash, self-repair.

The index is derived data. It can be rebuilt from the database's current revisions at any time;
it is never built at import time. A rebuild is written beside the live index and swapped in by
replacing a symlink, so readers never see a half-built index. One process rebuilds at a time
(an flock on instance/search-index.lock); the others wait for it, or report the index unavailable.
Index files are read into memory when opened, never memory-mapped (WholeFileStorage).
"""
import fcntl
import gc
import logging
import os
import shutil
import time
import traceback
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

import sqlalchemy as sa
from flask import current_app
from whoosh import index
from whoosh.analysis import Analyzer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.writing import LockError

from app.extensions import db
from app.search.analysis import BigramTokenizer, WordTokenizer, clear_caches, init_jieba
from app.search.documents import documents
from app.search.whoosh_adapter import PoolWriter, RebuildWriter, WholeFileStorage, Weighting
from app.sops.models import Sop, SopRevision

log = logging.getLogger(__name__)
WRITER_TIMEOUT = 30.0  # seconds to wait for another process's writer; never AsyncWriter (no fixed order)


def words_analyzer() -> Analyzer:
    return WordTokenizer()


def gram_analyzer() -> Analyzer:
    return BigramTokenizer()


def schema() -> Schema:
    return Schema(
        doc_id=ID(unique=True, stored=True),  # "FO-NA-001" (whole SOP) or "FO-NA-001#anchor" (a section)
        code=ID(stored=True, sortable=True),  # the SOP's id: one hit per SOP (collapse), delete_by_term on update
        kind=ID(stored=True),  # sop | section
        anchor=STORED(),  # the section's heading anchor on the SOP page
        hash=ID(sortable=True),  # content hash of the revision indexed, compared on update
        title=TEXT(analyzer=words_analyzer(), field_boost=4.0, stored=True, phrase=False),
        section=TEXT(analyzer=words_analyzer(), field_boost=2.0, stored=True, phrase=False),  # the heading
        body=STORED(),  # plain text of the section (or whole SOP), for snippets
        folded=STORED(),  # fold(body) of a section: results match terms and mark snippets without folding again
        # Words of the body, mermaid node/edge labels, attachment names, id, department, positions, tags.
        text=TEXT(analyzer=words_analyzer(), phrase=False),
        department=ID(stored=True),  # filter
        tags=KEYWORD(commas=True, stored=True),  # filter
        gram=TEXT(analyzer=gram_analyzer(), phrase=False),  # character bigrams of everything above
        title_gram=TEXT(analyzer=gram_analyzer(), field_boost=3.0),  # bigrams of title + heading, with positions
        # The same fields for whole-SOP documents, kept apart so that ranking SOPs reads short posting lists.
        sop_title=TEXT(analyzer=words_analyzer(), field_boost=4.0, phrase=False),
        sop_section=TEXT(analyzer=words_analyzer(), field_boost=2.0, phrase=False),  # all headings
        sop_text=TEXT(analyzer=words_analyzer(), phrase=False),
        sop_gram=TEXT(analyzer=gram_analyzer(), phrase=False),
        sop_title_gram=TEXT(analyzer=gram_analyzer(), field_boost=3.0),
        # Pinyin (full and initials) of the words of the title (twice), headings and tags: pinyin.py.
        sop_pinyin=KEYWORD(scorable=True),
    )



# How rare a term is, is a property of the document, not of one field: BM25F per field would find 要求 rare
# among titles (few titles hold it) although half the bodies do, and a common word in a long first-line
# title would outscore the rare word that answers. Every field of a group scores a term with the group's
# lowest IDF (the field where the term is most common).
_WORD_GROUPS = (("title", "section", "text"), ("sop_title", "sop_section", "sop_text"))
SAME_IDF = {f: g for g in _WORD_GROUPS for f in g}
# Pinyin counts by how often an SOP's title, headings and tags use the word (ys: 夜审 in the night audit's title,
# tags and headings), not diluted by how many headings the SOP has.
FIELD_B = {"sop_pinyin_B": 0.0}
SAME_IDF.update({"title_gram": ("title_gram", "gram"), "sop_title_gram": ("sop_title_gram", "sop_gram"),
                 "gram": ("gram",), "sop_gram": ("sop_gram",)})

class IndexUnavailable(RuntimeError):
    """Another process is rebuilding the index and it was not ready in time: say so, never "no results"."""


def index_dir() -> Path:
    return Path(current_app.config.get("SEARCH_INDEX_DIR") or Path(current_app.instance_path) / "search-index")


def live_build() -> str | None:
    """The build the index symlink points at now (None without one): a searcher opened on another is stale."""
    try:
        return os.readlink(index_dir())
    except OSError:
        return None


@contextmanager
def rebuild_lock(wait: float | None, shared: bool = False):
    """An inter-process lock on instance/search-index.lock (flock, released when the process dies).

    A rebuild holds it exclusively, so one process rebuilds and the others wait for its result; incremental
    writers hold it shared, so that a rebuild never swaps out the build they are writing into. `wait=None`
    waits as long as it takes; otherwise IndexUnavailable after `wait` seconds.
    """
    link = index_dir()
    link.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(link.with_name(link.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if wait is None:
            fcntl.flock(fd, mode)
        else:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexUnavailable(f"the search index is being rebuilt (waited {wait:g} s)") from None
                    time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def prepare() -> None:
    init_jieba(current_app.instance_path)


def active_sops(codes: Iterable[str] | None = None) -> list[Sop]:
    stmt = (sa.select(Sop).where(Sop.retired_at.is_(None), Sop.current_revision_id.is_not(None))
            .options(sa.orm.joinedload(Sop.current), sa.orm.joinedload(Sop.department)).order_by(Sop.code))
    if codes is not None:
        stmt = stmt.where(Sop.code.in_(list(codes)))
    return list(db.session.scalars(stmt).unique())


def rebuild(progress: Callable[[int, int], None] | None = None) -> int:
    """Build a complete new index beside the live one, then swap it in atomically. Returns sections indexed.
    Waits for a rebuild another process is running, then builds again (the caller asked for a fresh one)."""
    with rebuild_lock(None):
        return build_and_swap(progress)


def build_and_swap(progress: Callable[[int, int], None] | None = None) -> int:
    """The rebuild itself; the caller holds rebuild_lock exclusively."""
    prepare()
    link = index_dir()
    link.parent.mkdir(parents=True, exist_ok=True)
    target = link.with_name(f"{link.name}.{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().hex[:8]}")
    target.mkdir()
    ix = index.create_in(str(target), schema())
    sops = active_sops()
    count = 0
    with RebuildWriter(ix, timeout=WRITER_TIMEOUT) as writer:
        for n, sop in enumerate(sops, start=1):
            for doc in documents(sop):
                writer.add_document(**doc)
                count += doc["kind"] == "section"
            if progress:
                progress(n, len(sops))
    clear_caches()  # the lines a rebuild segmented: a worker that rebuilt keeps only what its queries use
    swap(link, target)
    return count


def swap(link: Path, target: Path) -> None:
    """Point the symlink at target in one rename, then remove older builds (keeping the previous one)."""
    old = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():  # a plain directory from an older layout
        shutil.rmtree(link)
    tmp = link.with_name(link.name + ".swap")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target.name)
    os.replace(tmp, link)
    for stale in link.parent.glob(f"{link.name}.*"):
        if stale.is_dir() and stale not in (target, old):
            shutil.rmtree(stale, ignore_errors=True)


def open_live(check_segments: bool = True):
    """Open the build the symlink points at and every segment in it (unless the caller reads them all next);
    raise if it is missing or unreadable."""
    path = index_dir()
    if not index.exists_in(str(path)):
        raise index.EmptyIndexError("no index")
    ix = WholeFileStorage(str(path)).open_index()  # reads the table of contents: a corrupt one fails here
    if set(ix.schema.names()) != set(schema().names()):
        raise index.IndexError("built by an older version, with other fields")
    if check_segments:
        reader = ix.reader()  # reads every segment whole: a truncated file fails here, not in a search
        reader.doc_count()
        reader.close()
    return ix


def try_open():
    """(index, "") or (None, why it cannot be read)."""
    with warnings.catch_warnings():  # Whoosh leaves a file open when it cannot parse it: close it quietly
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return open_live(), ""
        except index.EmptyIndexError as e:  # no index yet (first start, or deleted): the caller builds one
            reason = str(e) or type(e).__name__
        except Exception as e:  # noqa: BLE001 - any failure to read means: rebuild (with the traceback logged)
            # The traceback as text: a record holding the exception would keep Whoosh's open file alive past
            # the gc.collect() below, and it would be closed later, outside this block, with a ResourceWarning.
            log.error("search index at %s cannot be read:\n%s", index_dir(), traceback.format_exc())
            reason = str(e) or type(e).__name__
        gc.collect()
    return None, reason


def open_index(wait: float | None = None):
    """Open the live index. A missing or unreadable one is rebuilt from the database, with a log line, by one
    process: the others wait up to `wait` seconds (default SEARCH_REBUILD_WAIT) and open what it built, or
    raise IndexUnavailable."""
    ix, reason = try_open()
    if ix is not None:
        return ix
    with rebuild_lock(current_app.config["SEARCH_REBUILD_WAIT"] if wait is None else wait):
        ix, reason = try_open()  # another process may have rebuilt it while this one waited
        if ix is not None:
            return ix
        log.warning("search index at %s is missing or unreadable (%s); rebuilding from the database", index_dir(), reason)
        build_and_swap()
        return open_live()


def update(codes: Iterable[str] | None = None) -> tuple[int, int]:
    """Re-index the SOPs whose indexed content hash differs from the current one (or the given codes).

    Returns (SOPs re-indexed, SOPs removed). Writers wait up to WRITER_TIMEOUT for each other.
    """
    prepare()
    open_index(WRITER_TIMEOUT)  # repairs a missing or broken index first
    with rebuild_lock(WRITER_TIMEOUT, shared=True):  # no rebuild swaps the build out while this writes to it
        return update_live(codes)


def open_writer(ix):
    """A writer on the live index, waiting up to WRITER_TIMEOUT for another process's writer, and saying so
    before it waits (the log line is what an operator, and a test, can see)."""
    try:
        return PoolWriter(ix, timeout=0)  # ix.writer()'s SegmentWriter, writing the same segment faster
    except LockError:
        log.warning("search index is being written by another process; waiting up to %g s", WRITER_TIMEOUT)
        return PoolWriter(ix, timeout=WRITER_TIMEOUT)


def update_live(codes: Iterable[str] | None) -> tuple[int, int]:
    ix = open_live(check_segments=False)  # the searcher below reads every segment
    with ix.searcher() as searcher:
        code_col, hash_col = (searcher.reader().column_reader(f) for f in ("code", "hash"))
        indexed = {code_col[n]: hash_col[n] for n in searcher.document_numbers(kind="sop")}
    current = dict(db.session.execute(
        sa.select(Sop.code, SopRevision.content_hash).join(SopRevision, Sop.current_revision_id == SopRevision.id)
        .where(Sop.retired_at.is_(None))).all())
    stale = {c for c, h in current.items() if indexed.get(c) != h} | (set(codes or ()) & set(current))
    gone = set(indexed) - set(current)
    if not stale and not gone:
        return 0, 0
    with open_writer(ix) as writer:
        for code in stale | gone:
            writer.delete_by_term("code", code)
        for sop in active_sops(stale):
            for doc in documents(sop):
                writer.add_document(**doc)
    return len(stale), len(gone)


def searcher():
    """A per-process searcher on the live index, reopened when another process has committed or swapped in a
    rebuild."""
    prepare()
    cache = current_app.extensions.setdefault("search_index", {})
    catch_up(cache)
    old = cache.get("searcher")
    # Reopen, never Searcher.refresh(): refresh reuses the segment readers it had, with their old deletion sets, so
    # an SOP deleted (retired, or re-indexed) since stays findable in this process. A rebuild swapped in (or a
    # deleted index) may even keep the generation number, so the build is compared too.
    if old is not None and (cache.get("build") != live_build()
                            or cache["index"].latest_generation() != old.reader().generation()):
        forget_searcher()
    if "searcher" not in cache:
        ix = open_index()
        cache.update(index=ix, searcher=ix.searcher(weighting=Weighting(SAME_IDF, **FIELD_B)), build=live_build())
    return cache["searcher"]


def catch_up(cache: dict) -> None:
    """Bring this node's index up to the database's search generation when another node has published since this
    process last looked: one small query per search. The generation is read before the update, so the index holds at
    least what that generation committed. A failed update is tried again at the next search. SQLite means one
    machine, whose processes share one index that every sync and publication updates itself: nothing to do."""
    from app.search.models import current_generation

    if db.engine.dialect.name == "sqlite":
        return
    generation = current_generation()
    if cache.get("generation") == generation:
        return
    try:
        update()
    except (IndexUnavailable, LockError) as e:
        log.warning("search index not caught up with generation %s (%s); trying again at the next search",
                    generation, e)
        return
    cache["generation"] = generation


def forget_searcher() -> None:
    cache = current_app.extensions.get("search_index", {})
    cache.pop("index", None)
    s = cache.pop("searcher", None)
    if s is not None:
        s.close()


def remove(code: str) -> bool:
    """Delete one SOP's documents (whole SOP and sections) from the live index; True if there were any."""
    open_index(WRITER_TIMEOUT)
    with rebuild_lock(WRITER_TIMEOUT, shared=True):
        ix = open_live()
        with open_writer(ix) as writer:
            return writer.delete_by_term("code", code) > 0

"""What the pinyin field adds to the search index, on a folder kept by `bench/search.py --keep`.

    PYTHONPATH=. .venv/bin/python bench/search_pinyin_cost.py /tmp/sop-bench-search-XXXX

Measures, in CPU time: pinyin_terms() for every active SOP (the extra work documents() does for the field), and
writing an index that holds only that field (same field type, same values) with RebuildWriter, whose size on
disk is the field's share of the index (its terms, postings and lengths). Beside them: the live index's size
and the bench's full-rebuild CPU time, for scale. Figures are printed, never asserted.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import pages as pages_bench  # noqa: E402


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1048576


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="a folder kept by bench/search.py --keep")
    args = ap.parse_args()
    env = pages_bench.bench_env(args.folder / "instance")
    env.update(SOP_DIR=str(args.folder / "content" / "sops"), CONTENT_DIR=str(args.folder / "content"))
    os.environ.update(env)

    from whoosh import index as whoosh_index
    from whoosh.fields import Schema

    from app import create_app
    from app.search.analysis import words
    from app.search.documents import sections
    from app.search.index import active_sops, index_dir, prepare, schema
    from app.search.pinyin import pinyin_terms
    from app.search.whoosh_adapter import RebuildWriter

    app = create_app()
    with app.app_context():
        prepare()
        sops = active_sops()
        sources = [f"{s.current.title}\n{s.current.title}\n{' '.join(p.heading for p in sections(s.current))}\n"
                   f"{' '.join(s.current.meta['tags'])}" for s in sops]  # as documents() builds sop_pinyin
        words("预热")  # jieba loaded
        c0 = time.process_time()
        values = [pinyin_terms(text, words) for text in sources]
        terms_cpu = time.process_time() - c0
        with tempfile.TemporaryDirectory() as tmp:
            ix = whoosh_index.create_in(tmp, Schema(sop_pinyin=schema()["sop_pinyin"]))
            c0 = time.process_time()
            with RebuildWriter(ix) as writer:
                for value in values:
                    writer.add_document(sop_pinyin=value)
            write_cpu = time.process_time() - c0
            with ix.reader() as r:
                n_terms = sum(1 for _ in r.lexicon("sop_pinyin"))
            field_mb = size_mb(Path(tmp))
        live_mb = size_mb(index_dir().resolve())
    print(f"SOPs: {len(sops)}; pinyin terms: {n_terms} distinct, {sum(len(v.split()) for v in values)} in all")
    print(f"pinyin_terms() for every SOP: {terms_cpu:.2f} s CPU; indexing the field alone: {write_cpu:.2f} s CPU "
          f"(RebuildWriter)")
    print(f"the field alone on disk: {field_mb:.2f} MB; the live index: {live_mb:.1f} MB "
          f"({100 * field_mb / live_mb:.1f}%)")


if __name__ == "__main__":
    main()

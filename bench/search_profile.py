"""Profile the in-process query path on a folder kept by `bench/search.py --keep`, beside its FTS5 file.

    PYTHONPATH=. .venv/bin/python bench/search_profile.py /tmp/sop-bench-search-XXXX [--rounds 5] [--profile 25]

CPU time of this process (time.process_time), not wall time: on a shared, loaded machine it moves much less
from run to run, and FTS5 is measured the same way in the same run. Prints p50/p95 per query for search()
(overall, each query the first time on a new searcher, and again) and for the bench's FTS5 query (when the kept folder has search_speed_fts5.db), their ratio, and with
--profile N the N most expensive functions (cumulative) of search() under cProfile. Figures are printed,
never asserted.
"""
import argparse
import cProfile
import os
import pstats
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import pages as pages_bench  # noqa: E402
from bench.search import fts_search, load_queries  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, queries, rounds) -> list[float]:
    out = []
    for _ in range(rounds):
        for q in queries:
            t0 = time.process_time()
            fn(q)
            out.append((time.process_time() - t0) * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="a folder kept by bench/search.py --keep")
    ap.add_argument("--queries", type=int, default=20, help="as bench/search.py (default 20)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", type=int, default=0, help="print the N most expensive functions")
    args = ap.parse_args()
    env = pages_bench.bench_env(args.folder / "instance")
    env.update(SOP_DIR=str(args.folder / "content" / "sops"), CONTENT_DIR=str(args.folder / "content"))
    os.environ.update(env)
    queries, source = load_queries(args.queries)

    from app import create_app
    from app.search import search
    from app.search.index import forget_searcher

    app = create_app()
    with app.app_context():
        search("warmup")  # warm-up (a word no query has): jieba, the searcher, synonyms
        if args.profile:  # each query the first time, on a new searcher (nothing memoised yet)
            forget_searcher()
            search("warmup")
            prof = cProfile.Profile()
            prof.enable()
            for q in queries:
                search(q, per_page=10)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
        forget_searcher()
        search("warmup")
        cold = timed(lambda q: search(q, per_page=10), queries, 1)
        warm = timed(lambda q: search(q, per_page=10), queries, args.rounds - 1)
        ours = cold + warm
        line = (f"search() CPU ms over {len(ours)} queries ({source}), {args.rounds} rounds: "
                f"p50 {pct(ours, 50):.2f}  p95 {pct(ours, 95):.2f}\n"
                f"  first time each query (new searcher): p50 {pct(cold, 50):.2f}  p95 {pct(cold, 95):.2f}; "
                f"again: p50 {pct(warm, 50):.2f}  p95 {pct(warm, 95):.2f}")
        fts_file = args.folder / "search_speed_fts5.db"
        if fts_file.exists():
            con = sqlite3.connect(fts_file)
            for q in queries:
                fts_search(con, q)
            fts = timed(lambda q: fts_search(con, q), queries, args.rounds)
            line += (f"\nFTS5     CPU ms: p50 {pct(fts, 50):.2f}  p95 {pct(fts, 95):.2f}"
                     f"\nratio ours/FTS5: p50 {pct(ours, 50) / pct(fts, 50):.1f}x  p95 {pct(ours, 95) / pct(fts, 95):.2f}x")
        print(line)
        slow = sorted(((statistics.median(ours[i::len(queries)]), q) for i, q in enumerate(queries)), reverse=True)
        print("slowest (median CPU ms): " + ", ".join(f"{q} {ms:.1f}" for ms, q in slow[:6]))


if __name__ == "__main__":
    main()

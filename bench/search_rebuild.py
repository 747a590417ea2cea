"""The full rebuild alone, on bench/search.py's corpus: wall and CPU time, optionally under cProfile.

    PYTHONPATH=. .venv/bin/python bench/search_rebuild.py [FOLDER] [--runs 3] [--profile 30] [--cold]

FOLDER is a folder kept by `bench/search.py --keep`, or a new folder, where the same corpus (--sections,
default 10000) is generated and synced first. With --eval, a new folder is filled instead from the second corpus in
../shared/search-eval (real manuals, cut by its own seed_to_sops.py; nothing is copied into the repository): text
that does not repeat, unlike the generated corpus, whose recurring sentences flatter the segmentation cache. Each run is rebuild() in this process, as bench/search.py times
it: after documents() for every SOP (as the bench does before its rebuild) unless --cold, which times a rebuild
in a new process as `flask search rebuild` does (a child process per run). Figures are printed, never asserted.
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import pages as pages_bench  # noqa: E402
from bench import search as search_bench  # noqa: E402


EVAL = ROOT.parent / "shared" / "search-eval"


def eval_corpus(folder: Path) -> None:
    """The search-eval SOPs in folder/content/sops, with an org.yaml naming their departments (as its run.py does)."""
    sops = folder / "content" / "sops"
    subprocess.run([sys.executable, str(EVAL / "seed_to_sops.py"), str(EVAL / "seeds"), str(sops)], check=True,
                   stdout=subprocess.DEVNULL)
    depts = sorted({line.split(":", 1)[1].strip() for f in sops.rglob("*.md")
                    for line in f.read_text(encoding="utf-8").splitlines()[:12] if line.startswith("department:")})
    (folder / "content" / "org.yaml").write_text("departments:\n" + "".join(
        f"  - code: D{i}\n    name: {d}\n    positions: []\n" for i, d in enumerate(depts)), encoding="utf-8")


def prepare_folder(folder: Path, sections: int, from_eval: bool = False) -> dict:
    env = pages_bench.bench_env(folder / "instance")
    env.update(SOP_DIR=str(folder / "content" / "sops"), CONTENT_DIR=str(folder / "content"))
    if not (folder / "instance" / "portal.db").exists():
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if from_eval:
            eval_corpus(folder)
        else:
            search_bench.make_corpus(folder, sections, 1024)
        pages_bench.run_flask(["db", "upgrade"], env)
        os.environ.update(env)
        from app import create_app
        from app.sops.sync import sync
        from app.extensions import db
        with create_app().app_context():
            sync()
            db.session.commit()
        print(f"corpus generated and synced in {folder} in {time.perf_counter() - t0:.0f} s")
    return env


def one_run(warm: bool, profile: int) -> tuple[int, float, float]:
    from app.search import rebuild
    from app.search.documents import documents
    from app.search.index import active_sops, prepare

    prepare()
    if warm:
        for sop in active_sops():
            documents(sop)
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    n = rebuild()
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    from app.search.index import index_dir
    mb = sum(f.stat().st_size for f in index_dir().resolve().rglob("*") if f.is_file()) / 1048576
    print(f"index on disk: {mb:.1f} MB")
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(profile)
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(profile)
        print(out.getvalue())
    return n, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, nargs="?", help="a folder kept by bench/search.py --keep, or a new one")
    ap.add_argument("--sections", type=int, default=10_000, help="sections when generating (default 10000)")
    ap.add_argument("--runs", type=int, default=3, help="rebuilds timed (default 3)")
    ap.add_argument("--profile", type=int, default=0, help="cProfile the runs, printing the top N functions")
    ap.add_argument("--cold", action="store_true", help="each rebuild in a new process, nothing cached")
    ap.add_argument("--eval", action="store_true", help="a new folder gets ../shared/search-eval's SOPs instead")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    folder = args.folder or Path("/tmp/sop-bench-rebuild-eval" if args.eval else f"/tmp/sop-bench-rebuild-{args.sections}")
    env = prepare_folder(folder, args.sections, args.eval)
    if args.child:
        os.environ.update(env)
        from app import create_app
        with create_app().app_context():
            n, wall, cpu = one_run(False, args.profile)
        print(f"RESULT {n} {wall} {cpu}")
        return
    results = []
    for k in range(args.runs):
        if args.cold:
            cmd = [sys.executable, __file__, str(folder), "--child", "--profile", str(args.profile)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            print(out.rsplit("RESULT", 1)[0], end="")
            n, wall, cpu = out.rsplit("RESULT", 1)[1].split()
            n, wall, cpu = int(n), float(wall), float(cpu)
        else:
            os.environ.update(env)
            from app import create_app
            with create_app().app_context():
                n, wall, cpu = one_run(True, args.profile)
        results.append((wall, cpu))
        print(f"run {k + 1}: {n} sections in {wall:.1f} s = {n / wall:.0f} sections/s; CPU {cpu:.1f} s = "
              f"{n / cpu:.0f} sections per CPU second; load average {os.getloadavg()[0]:.2f}")
    wall, cpu = statistics.median(w for w, _ in results), statistics.median(c for _, c in results)
    print(f"median of {len(results)}: {n / wall:.0f} sections/s ({wall:.1f} s), {n / cpu:.0f} per CPU second "
          f"({cpu:.1f} s CPU)")


if __name__ == "__main__":
    main()

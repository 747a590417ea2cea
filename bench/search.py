"""Search benchmark: index build, re-index, HTTP latency, worker memory and start-up, beside an FTS5 baseline.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/search.py [--sections 10000] [--queries 20] [--seconds 10]

Everything happens in a temporary folder (generated SOP tree, fresh SQLite instance, index, FTS5
file), so the developer's instance/ and content/ are never touched; gunicorn is always stopped.

  1. Corpus: bench/sync.py's generator varies the demo SOPs; each generated section is then padded
     with paragraphs made of that SOP's own sentences (re-ordered, with store notes) so the mean
     indexed section (heading + plain body, UTF-8) is about --section-bytes. Enough files are
     generated for about --sections sections; they are synced in-process (the sync signal that would
     build the index is not sent) and the demo users are created.
  2. Full rebuild: rebuild() in-process, as `flask search rebuild` runs it → sections/s.
  3. Re-index one changed SOP: a file is changed, synced in-process (not timed), then update() is
     timed (--update-runs files, one at a time). A whole `flask sops sync` subprocess after one more
     change is timed for reference (interpreter start, app import, reading every file, index update).
  4. HTTP: GET /api/search?q=…&limit=10 through gunicorn (gunicorn.conf.py, --workers sync workers,
     loopback), logged in as fo.staff, cycling through the relevance-set queries
     (tests/search_relevance.yaml, else a built-in list; by default --queries 20 of them, taken in turn
     from each kind, to keep the run under ~3 minutes). wrk with a Lua script that cycles through the
     paths when wrk is installed, else a stdlib Python generator. --concurrency defaults to one
     connection per worker (latency without queueing). Workers are warmed first: --workers concurrent
     connections each send every query once, so each worker has memoised what those queries read
     (app/search/ranking.py): the HTTP figures are for queries asked again; the in-process table shows
     each query the first time (on a new searcher) and asked again apart.
  5. VmRSS of each gunicorn worker (children of the master) after the load.
  6. Start-up: gunicorn restarted; time to /healthz, then the very first /api/search request.
  7. FTS5 baseline: an SQLite FTS5 table (tokenize='trigram') over the same section documents
     (title, section heading, body); build time, and the same queries in-process (MATCH on the query
     quoted as an FTS5 string; LIKE '%q%' for queries under 3 characters), beside our search()
     in-process.

Figures are printed, never asserted.
"""
import argparse
import http.client
import json
import math
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import pages as pages_bench  # noqa: E402  gunicorn, login, wrk helpers
from bench import sync as sync_bench  # noqa: E402  the SOP generator

HOST = pages_bench.HOST
RELEVANCE = ROOT / "tests" / "search_relevance.yaml"
FALLBACK_QUERIES = [
    "夜审", "熱線交接", "会员系统连不上怎么办", "投诉处理", "PMS", "TeamViewer", "服务器怎么关机", "电脑中毒了怎么办",
    "月末结账", "备用金", "退房", "入住登记", "开发票", "VIP接待", "交接班", "排班表", "客户回访", "OA审批流程",
    "应收账款", "远程协助",
]
TARGETS = {"rebuild": 150.0, "update_ms": 300.0, "http_p95_ms": 20.0, "rss_mb": 300.0, "first_s": 2.0,
           "p50_ratio": 10.0, "p95_ratio": 1.0}  # in-process ours / FTS5 in the same run
SENTENCE = re.compile(r"[^。！？；\n]{6,}[。！？；]")


# ---------------------------------------------------------------- corpus


def sections_per_demo(text: str) -> int:
    """Headed sections as app.search.documents.sections() splits them (## and ### outside code fences)."""
    from app.search.documents import FENCE, HEADING

    count, fence = 0, None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if m and fence is None:
            fence = m.group(1)
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
        elif HEADING.match(line):
            count += 1
    return count


def files_for(sections: int) -> int:
    """How many generated files (cycling through the demos as bench/sync.py does) give ≈ sections."""
    demos = sorted((sync_bench.DEMO / "sops").rglob("*.md"))
    per = [sections_per_demo(d.read_text(encoding="utf-8")) for d in demos]
    total, n = 0, 0
    while total < sections:
        total += per[n % len(per)]
        n += 1
    return n


def pad(text: str, n: int, rng: random.Random, target: int) -> str:
    """Grow each section of a generated SOP to about target bytes (heading + plain text, UTF-8) with paragraphs
    made of this SOP's own sentences in a new order, so the vocabulary stays that of the SOP."""
    from app.search.documents import FENCE, HEADING, plain

    closing = text.index("\n---\n", 3) + len("\n---\n")
    front, body = text[:closing], text[closing:]
    lines = body.split("\n")
    spans, fence, mermaid = [], None, False  # [heading line, end line, text lines]
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if m and fence is None:
            fence, mermaid = m.group(1), "mermaid" in line
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            elif not mermaid and spans:
                spans[-1][2].append(line)
            continue
        h = HEADING.match(line)
        if h:
            if spans:
                spans[-1][1] = i
            spans.append([i, len(lines), [h.group(2).strip()]])
        elif spans:
            spans[-1][2].append(line)
    pool = [s.strip() for s in SENTENCE.findall(plain("\n".join(l for s in spans for l in s[2][1:])))]
    if len(pool) < 6:
        pool += sync_bench.NOTES
    store = sync_bench.STORES[n % len(sync_bench.STORES)]
    for start, end, text_lines in reversed(spans):  # bottom-up, so earlier line numbers stay valid
        size = len(plain("\n".join(text_lines)).encode())
        want = target * rng.uniform(0.7, 1.1)  # sections already over target stay as they are
        extra, k = [], 1
        while size < want:
            para = f"{store}补充说明{k}：" + "".join(rng.sample(pool, min(len(pool), rng.randint(2, 4)))) \
                + rng.choice(sync_bench.NOTES)
            extra += ["", para]
            size += len(para.encode()) + 1
            k += 1
        if extra:
            lines[end:end] = extra + [""]
    return front + "\n".join(lines)


def make_corpus(tmp: Path, sections: int, section_bytes: int) -> tuple[Path, list[Path]]:
    count = files_for(sections)
    sops, files = sync_bench.generate(tmp, count)
    if (sync_bench.DEMO / "search").is_dir():  # synonyms.txt: queries expand as in production
        shutil.copytree(sync_bench.DEMO / "search", tmp / "content" / "search")
    rng = random.Random(10_000)
    for n, path in enumerate(files, start=1):
        path.write_text(pad(path.read_text(encoding="utf-8"), n, rng, section_bytes), encoding="utf-8")
    return sops, files


def load_queries(limit: int) -> tuple[list[str], str]:
    """The relevance set's queries (else the built-in list). With limit > 0, that many of them, taken in turn
    from each `kind` (question, keyword, traditional, ...) in file order, so every kind is represented."""
    items, note = [], ""
    if RELEVANCE.exists():
        try:
            import yaml

            data = yaml.safe_load(RELEVANCE.read_text(encoding="utf-8")) or {}
            items = [(str(i["q"]), str(i.get("kind", ""))) for i in data.get("queries") or []
                     if isinstance(i, dict) and i.get("q")]
            note = "" if items else f"{RELEVANCE.name} has no queries"
        except Exception as e:  # noqa: BLE001 - a half-written file falls back to the built-in list
            note = f"{RELEVANCE.name} unreadable: {type(e).__name__}"
    else:
        note = f"{RELEVANCE.name} not found"
    if items:
        source = f"{RELEVANCE.relative_to(ROOT)}"
    else:
        items, source = [(q, "") for q in FALLBACK_QUERIES], f"built-in list ({note})"
    items = list(dict.fromkeys(items))
    if 0 < limit < len(items):
        by_kind: dict[str, list[str]] = {}
        for q, kind in items:
            by_kind.setdefault(kind, []).append(q)
        chosen, turn = [], 0
        while len(chosen) < limit:
            for qs in by_kind.values():
                if turn < len(qs) and len(chosen) < limit:
                    chosen.append(qs[turn])
            turn += 1
        return chosen, f"{source}: {limit} of {len(items)} queries, every kind in turn (--queries 0 for all)"
    return [q for q, _k in items], f"{source}: all {len(items)} queries"


def search_path(q: str, limit: int = 10) -> str:
    return f"/api/search?q={quote(q, safe='')}&limit={limit}"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in the unit of values."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


# ---------------------------------------------------------------- FTS5 baseline


def fts_build(path: Path, docs: list[dict]) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    con.execute("CREATE VIRTUAL TABLE sec USING fts5(code UNINDEXED, anchor UNINDEXED, title, section, body, "
                "tokenize='trigram')")
    with con:
        con.executemany("INSERT INTO sec(code, anchor, title, section, body) VALUES (?, ?, ?, ?, ?)",
                        [(d["code"], d["anchor"], d["title"], d["section"], d["body"]) for d in docs])
    return con


def fts_search(con: sqlite3.Connection, q: str, limit: int = 10) -> list:
    """Top sections by bm25 with a snippet (ours builds snippets too); LIKE scan when q is under 3 characters."""
    if len(q) >= 3:
        return con.execute(
            "SELECT code, anchor, snippet(sec, 4, '<mark>', '</mark>', '…', 24) FROM sec WHERE sec MATCH ? "
            "ORDER BY rank LIMIT ?", ('"' + q.replace('"', '""') + '"', limit)).fetchall()
    like = f"%{q}%"
    return con.execute("SELECT code, anchor, substr(body, 1, 90) FROM sec WHERE title LIKE ? OR section LIKE ? "
                       "OR body LIKE ? LIMIT ?", (like, like, like, limit)).fetchall()


def fts_update(con: sqlite3.Connection, code: str, docs: list[dict]) -> None:
    with con:
        con.execute("DELETE FROM sec WHERE code = ?", (code,))
        con.executemany("INSERT INTO sec(code, anchor, title, section, body) VALUES (?, ?, ?, ?, ?)",
                        [(d["code"], d["anchor"], d["title"], d["section"], d["body"]) for d in docs])


# ---------------------------------------------------------------- HTTP load

PATHS_LUA = """{cookie}
local paths = {{
{paths}
}}
local next_path = 0

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end
"""


def measure_wrk(wrk: str, port: int, paths: list[str], cookie: str, args, tmp: Path) -> dict:
    """pages.py's wrk script (non-200 counting, p95 from done()) with a request() that cycles through paths."""
    script = tmp / "search_speed.lua"
    header = PATHS_LUA.format(cookie=f'wrk.headers["Cookie"] = {json.dumps(cookie)}',
                              paths="\n".join(f"  {json.dumps(p)}," for p in paths))
    script.write_text(pages_bench.LUA.format(header=header).replace("bench/pages.py", "bench/search.py"))
    url = f"http://{HOST}:{port}/"
    threads = args.wrk_threads or max(1, min(args.concurrency, (os.cpu_count() or 2) // 2))
    if args.warmup > 0:
        pages_bench.run_wrk(wrk, url, script, args.warmup, args.concurrency, threads)
    out = pages_bench.run_wrk(wrk, url, script, args.seconds, args.concurrency, threads)
    m = re.search(r"^BENCH (.*)$", out, re.M)
    if not m:
        sys.exit(f"no summary from wrk's done():\n{out}")
    f = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    dist = {int(p): float(v) * pages_bench.UNITS[u]
            for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    return {"generator": f"wrk -t{threads} -c{args.concurrency}", "requests": f["requests"],
            "rps": f["requests"] / (f["duration_us"] / 1e6), "p50": dist.get(50, f["p50_us"] / 1e3),
            "p95": f["p95_us"] / 1e3, "p99": dist.get(99, f["p99_us"] / 1e3),
            "errors": f["non200"] + f["connect"] + f["read"] + f["write"] + f["timeout"]}


def warm(port: int, paths: list[str], cookie: str, workers: int) -> int:
    """Each query once per worker: `workers` concurrent connections each send every path (so both workers
    are busy at once and each gets requests). Returns the number of non-200 answers."""
    bad = [0]

    def run() -> None:
        for p in paths:
            if pages_bench.get(port, p, {"Cookie": cookie}, timeout=30)[0] != 200:
                bad[0] += 1

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bad[0]


def worker_rss(master: int) -> list[tuple[int, float, float, float]]:
    """(pid, VmRSS, RssAnon, RssFile) in MB of the master's children (RssFile: mapped files, e.g. the index)."""
    try:
        kids = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        kids = []
        for d in Path("/proc").iterdir():
            try:
                status = (d / "status").read_text() if d.name.isdigit() else ""
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{master}$", status, re.M):
                kids.append(int(d.name))
    out = []
    for pid in sorted(kids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = {k: int(v) / 1024 for k, v in re.findall(r"^(VmRSS|RssAnon|RssFile):\s+(\d+) kB", status, re.M)}
        if "VmRSS" in kb:
            out.append((pid, kb["VmRSS"], kb.get("RssAnon", float("nan")), kb.get("RssFile", float("nan"))))
    return out


def _spin(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - t0


def parallel_speedup(n: int = 5_000_000) -> float:
    """CPU throughput of two processes at once relative to one (2.0 = two real cores; ~1.0 = one core's worth)."""
    import multiprocessing

    one = _spin(n)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        two = max(pool.map(_spin, [n, n]))
    return 2 * one / two


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", type=int, default=10_000, help="sections in the index, about (default 10000)")
    ap.add_argument("--section-bytes", type=int, default=1024, help="mean section size to aim for (default 1024)")
    ap.add_argument("--update-runs", type=int, default=3, help="changed SOPs re-indexed one by one (default 3)")
    ap.add_argument("--queries", type=int, default=20,
                    help="relevance-set queries used, spread over its kinds (default 20; 0 = all)")
    ap.add_argument("--rounds", type=int, default=5, help="in-process timings per query at most (default 5)")
    ap.add_argument("--query-budget", type=float, default=10,
                    help="seconds for our in-process timed rounds: as many rounds (≥ 1) as fit (default 10)")
    ap.add_argument("--seconds", type=float, default=10, help="measured HTTP load duration (default 10)")
    ap.add_argument("--warmup", type=float, default=0,
                    help="extra HTTP warm-up load seconds, after one request per query per worker (default 0)")
    ap.add_argument("--concurrency", type=int, default=2,
                    help="open connections (default 2 = one per worker: latency without queueing)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--max-requests", type=int, default=None, help="override gunicorn's max_requests")
    ap.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--wrk-threads", type=int, default=0, help="wrk threads (default: cores/2, at least 1)")
    ap.add_argument("--client-procs", type=int, default=0, help="Python generator processes (default: cores)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = ap.parse_args()
    wrk = pages_bench.wrk_binary() if args.loadgen in ("auto", "wrk") else None
    if args.loadgen == "wrk" and not wrk:
        sys.exit("--loadgen wrk: wrk is not installed")
    queries, source = load_queries(args.queries)
    started = time.perf_counter()

    tmp = Path(tempfile.mkdtemp(prefix="sop-bench-search-"))
    servers: list[subprocess.Popen] = []  # every gunicorn master started; all stopped below, whatever happens
    try:
        res = run(args, tmp, queries, source, wrk, servers.append)
    finally:
        for proc in servers:
            pages_bench.stop_gunicorn(proc)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(res, args, queries, wrk, time.perf_counter() - started)


def run(args, tmp: Path, queries: list[str], source: str, wrk, track) -> dict:
    res: dict = {"source": source, "speedup": parallel_speedup()}
    instance = tmp / "instance"

    # 1. corpus ------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    sops, files = make_corpus(tmp, args.sections, args.section_bytes)
    sizes = [f.stat().st_size for f in files]
    print(f"corpus: {len(files)} SOP files generated under {sops} in {time.perf_counter() - t0:.1f} s "
          f"({sum(sizes) / 1048576:.1f} MB, mean {statistics.mean(sizes) / 1024:.1f} KB per file)")
    env = pages_bench.bench_env(instance)
    env.update(SOP_DIR=str(sops), CONTENT_DIR=str(sops.parent))
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    os.environ.update(env)  # the in-process app sees the same instance as the subprocesses
    t0 = time.perf_counter()
    pages_bench.run_flask(["db", "upgrade"], env)
    print(f"database: SQLite {instance / 'portal.db'}, migrated in {time.perf_counter() - t0:.1f} s")

    from app import create_app
    from app.demo import load_users
    from app.extensions import db
    from app.search.documents import documents
    from app.search import index_sops as update
    from app.search import rebuild, search
    from app.search.index import active_sops, forget_searcher, index_dir  # what the bench measures
    from app.sops.sync import sync

    app = create_app()
    with app.app_context():
        t0 = time.perf_counter()
        report = sync()  # in-process, without the `synced` signal: no index is built as a side effect
        load_users()
        db.session.commit()
        print(f"synced in-process in {time.perf_counter() - t0:.1f} s: {report.lines()[-1]}")
        for line in report.lines()[:-1][:5]:
            print(f"  {line}")

        t0 = time.perf_counter()
        sop_rows = active_sops()
        codes = [sop.code for sop in sop_rows]
        docs = [d for sop in sop_rows for d in documents(sop)]
        res["docs_s"] = time.perf_counter() - t0
        section_docs = [d for d in docs if d["kind"] == "section"]
        sizes = [len(f"{d['section']}\n{d['body']}".encode()) for d in section_docs]
        res.update(sops=len(sop_rows), sections=len(section_docs), section_mean=statistics.mean(sizes),
                   section_median=statistics.median(sizes), section_min=min(sizes), section_max=max(sizes))
        print(f"sections: {len(section_docs)} in {len(sop_rows)} SOPs; heading + body {res['section_mean']:.0f} B "
              f"mean, {res['section_median']:.0f} B median, {min(sizes)}–{max(sizes)} B "
              f"(documents() for all SOPs: {res['docs_s']:.1f} s)")

        # 2. full rebuild --------------------------------------------------------------------------
        t0, c0 = time.perf_counter(), time.process_time()
        indexed = rebuild()  # as `flask search rebuild` does
        res["rebuild_s"], res["rebuild_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        res["rebuild_sections"] = indexed
        res["index_mb"] = sum(f.stat().st_size for f in index_dir().resolve().rglob("*") if f.is_file()) / 1048576
        print(f"rebuild(): {indexed} sections (+{len(sop_rows)} whole-SOP documents) in {res['rebuild_s']:.1f} s "
              f"= {indexed / res['rebuild_s']:.0f} sections/s; CPU {res['rebuild_cpu_s']:.1f} s = "
              f"{indexed / res['rebuild_cpu_s']:.0f} sections per CPU second; index {res['index_mb']:.1f} MB")

        # 3. re-index one changed SOP --------------------------------------------------------------
        res["update_ms"], res["sync_inproc_s"] = [], []
        for k in range(args.update_runs):
            changed = files[(k + 1) * len(files) // (args.update_runs + 2)]
            with changed.open("a", encoding="utf-8") as f:
                f.write(f"\n\n本条款于基准测试中修订（第 {k + 1} 次）：交接时增加一次复核。\n")
            t0 = time.perf_counter()
            rep = sync()
            db.session.commit()
            res["sync_inproc_s"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            done = update()
            res["update_ms"].append((time.perf_counter() - t0) * 1e3)
            print(f"update() after changing {changed.name}: {res['update_ms'][-1]:.0f} ms, (re-indexed, removed) = "
                  f"{done}; in-process sync before it, not timed in update(): {res['sync_inproc_s'][-1]:.1f} s "
                  f"({rep.lines()[-1]})")

    changed = files[-1]
    with changed.open("a", encoding="utf-8") as f:
        f.write("\n\n本条款于基准测试中修订：夜间增加一次巡检。\n")
    t, out = sync_bench.run([pages_bench.tool("flask"), "sops", "sync"], env, tmp)
    res["sync_cli_s"] = t
    print(f"`flask sops sync` after changing {changed.name}: {t:.1f} s wall ({sync_bench.summary(out)})")

    # 7. in-process query timings: ours and FTS5 -----------------------------------------------------
    with app.app_context():
        per_query = {}
        forget_searcher()  # a new searcher: nothing memoised, so round 1 asks each query the first time
        search("warmup", per_page=10)  # warm-up (a word no query has): jieba, the searcher, synonyms
        t0, rounds = time.perf_counter(), 0
        while rounds < args.rounds and (rounds == 0 or (time.perf_counter() - t0) * (rounds + 1) / rounds
                                        <= args.query_budget):
            for q in queries:
                t1, c1 = time.perf_counter(), time.process_time()
                r = search(q, per_page=10)
                entry = per_query.setdefault(q, {"ours": [], "fts": [], "ours_cpu": [], "fts_cpu": []})
                entry["ours"].append((time.perf_counter() - t1) * 1e3)
                entry["ours_cpu"].append((time.process_time() - c1) * 1e3)
                per_query[q]["ours_hits"], per_query[q]["ours_total"] = len(r.hits), r.total
            rounds += 1
        res["rounds"] = rounds
        print(f"search() in-process: {rounds} round(s) of {len(queries)} queries in {time.perf_counter() - t0:.1f} s")
        fts_path = tmp / "search_speed_fts5.db"
        t0 = time.perf_counter()
        con = fts_build(fts_path, section_docs)
        res["fts_insert_s"] = time.perf_counter() - t0
        res["fts_mb"] = fts_path.stat().st_size / 1048576
        print(f"FTS5 trigram: {len(section_docs)} sections inserted in {res['fts_insert_s']:.1f} s "
              f"(+ {res['docs_s']:.1f} s for documents() from the database); {res['fts_mb']:.1f} MB")
        for q in queries:
            fts_search(con, q)
        for _ in range(rounds):
            for q in queries:
                t0, c0 = time.perf_counter(), time.process_time()
                rows = fts_search(con, q)
                per_query[q]["fts"].append((time.perf_counter() - t0) * 1e3)
                per_query[q]["fts_cpu"].append((time.process_time() - c0) * 1e3)
                per_query[q]["fts_hits"] = len(rows)
        sop = active_sops([codes[0]])[0]
        sop_docs = [d for d in documents(sop) if d["kind"] == "section"]
        t0 = time.perf_counter()
        fts_update(con, sop.code, sop_docs)
        res["fts_update_ms"] = (time.perf_counter() - t0) * 1e3
        con.close()
        res["per_query"] = per_query

    # 4. HTTP through gunicorn ----------------------------------------------------------------------
    paths = [search_path(q) for q in queries]
    port = pages_bench.free_port()
    log = tmp / "search_speed_gunicorn.log"
    server = pages_bench.start_gunicorn(port, args, env, log)
    track(server)
    pages_bench.wait_ready(server, port, log)
    cookie = pages_bench.login(port)
    status, _r, body = pages_bench.get(port, paths[0], {"Cookie": cookie}, timeout=30)
    if status != 200 or not body.startswith(b"["):
        sys.exit(f"GET {paths[0]} answered {status}: {body[:200]!r}")
    t0 = time.perf_counter()
    bad = warm(port, paths, cookie, args.workers)
    print(f"gunicorn: {args.workers} sync workers on {HOST}:{port}, logged in as {pages_bench.USERNAME}; warmed with "
          f"{args.workers} x {len(paths)} requests in {time.perf_counter() - t0:.1f} s ({bad} non-200)")
    boots = pages_bench.worker_boots(log)
    res["http"] = (measure_wrk(wrk, port, paths, cookie, args, tmp) if wrk
                   else pages_bench.measure_python(port, paths, cookie, args))
    res["http"]["restarts"] = pages_bench.worker_boots(log) - boots
    h = res["http"]
    print(f"HTTP /api/search: {h['generator']}, {args.warmup:g} s warm-up + {args.seconds:g} s: {h['requests']} requests, "
          f"{h['rps']:.1f} req/s, p50 {h['p50']:.1f} ms, p95 {h['p95']:.1f} ms, p99 {h['p99']:.1f} ms, "
          f"{h['errors']} errors")

    # 5. worker memory --------------------------------------------------------------------------------
    res["rss"] = worker_rss(server.pid)
    print("worker memory after the load: " + "; ".join(f"pid {p} VmRSS {mb:.0f} MB (anon {anon:.0f}, file {file:.0f})"
                                                      for p, mb, anon, file in res["rss"]))

    # 6. start-up -------------------------------------------------------------------------------------
    pages_bench.stop_gunicorn(server)
    port = pages_bench.free_port()
    t0 = time.perf_counter()
    server = pages_bench.start_gunicorn(port, args, env, log)
    track(server)
    pages_bench.wait_ready(server, port, log)
    res["healthz_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    status, _r, body = pages_bench.get(port, paths[0], {"Cookie": cookie}, timeout=30)
    res["first_s"] = time.perf_counter() - t1
    if status != 200:
        sys.exit(f"first GET {paths[0]} after restart answered {status}")
    after = []  # the same query again: the other worker's first request, then warm ones (start-up vs query cost)
    for _ in range(4):
        t1 = time.perf_counter()
        pages_bench.get(port, paths[0], {"Cookie": cookie}, timeout=30)
        after.append((time.perf_counter() - t1) * 1e3)
    res["after_ms"] = after
    print(f"restart: /healthz answered {res['healthz_s']:.2f} s after launch (polled every 0.2 s); first "
          f"/api/search ({queries[0]}) {res['first_s'] * 1e3:.0f} ms; the same request 4 times more: "
          + ", ".join(f"{x:.0f}" for x in after) + " ms")
    pages_bench.stop_gunicorn(server)
    return res


def report(res: dict, args, queries: list[str], wrk, total_s: float) -> None:
    pq = res["per_query"]
    print()
    print(f"per query, in-process, {res['rounds']} timed round(s) (ms; per-query p95 = nearest rank of "
          f"{res['rounds']} sample(s)):")
    w = max(len(q) + sum(1 for c in q if ord(c) > 0x2E80) for q in queries)  # CJK is two columns wide
    print(f"  {'query':<{w}}  {'ours p50':>8} {'p95':>6} {'hits/total':>10}   {'FTS5 p50':>8} {'p95':>6} {'hits':>4}")
    for q in queries:
        r = pq[q]
        pad_ = w - len(q) - sum(1 for c in q if ord(c) > 0x2E80)
        mode = "" if len(q) >= 3 else " LIKE"
        print(f"  {q}{'':<{pad_}}  {pct(r['ours'], 50):>8.1f} {pct(r['ours'], 95):>6.1f} "
              f"{r['ours_hits']:>4}/{r['ours_total']:<5}   {pct(r['fts'], 50):>8.2f} {pct(r['fts'], 95):>6.2f} "
              f"{r['fts_hits']:>4}{mode}")
    ours_all = [x for r in pq.values() for x in r["ours"]]
    fts_all = [x for r in pq.values() for x in r["fts"]]
    ours_cpu = [x for r in pq.values() for x in r["ours_cpu"]]
    fts_cpu = [x for r in pq.values() for x in r["fts_cpu"]]
    ours_first = [r["ours"][0] for r in pq.values()]  # each query the first time: nothing memoised yet
    ours_again = [x for r in pq.values() for x in r["ours"][1:]]

    s, h = res["rebuild_sections"], res["http"]
    upd = res["update_ms"]
    rss = [mb for _p, mb, _a, _f in res["rss"]]
    fts_total_s = res["fts_insert_s"] + res["docs_s"]
    rows = [
        ("sections indexed", f"{s}", f"{res['sections']}", "≈ 10,000"),
        ("mean section (heading + body, UTF-8)", f"{res['section_mean']:.0f} B", "same docs", "≈ 1 KB"),
        ("full build, sections/s", f"{s / res['rebuild_s']:.0f}",
         f"{res['sections'] / fts_total_s:.0f} ({res['sections'] / res['fts_insert_s']:.0f} insert only)", "≥ 150"),
        ("full build, wall", f"{res['rebuild_s']:.1f} s", f"{fts_total_s:.1f} s ({res['fts_insert_s']:.1f} s insert)",
         ""),
        ("full build, sections per CPU second", f"{s / res['rebuild_cpu_s']:.0f}", "", "(load-independent)"),
        ("index on disk", f"{res['index_mb']:.1f} MB", f"{res['fts_mb']:.1f} MB", ""),
        ("re-index one changed SOP", f"{statistics.median(upd):.0f} ms (median of {len(upd)}, max {max(upd):.0f})",
         f"{res['fts_update_ms']:.1f} ms", "≤ 300 ms"),
        ("  `flask sops sync` subprocess, one change", f"{res['sync_cli_s']:.1f} s", "", "(reference)"),
        ("query in-process p50", f"{pct(ours_all, 50):.1f} ms", f"{pct(fts_all, 50):.2f} ms", ""),
        ("query in-process p95", f"{pct(ours_all, 95):.1f} ms", f"{pct(fts_all, 95):.2f} ms", ""),
        ("  ratio ours / FTS5, p50 | p95", f"{pct(ours_all, 50) / pct(fts_all, 50):.1f}x | "
         f"{pct(ours_all, 95) / pct(fts_all, 95):.2f}x", "", "≤ 10x | ≤ 1x"),
        ("query in-process CPU p50 | p95", f"{pct(ours_cpu, 50):.1f} | {pct(ours_cpu, 95):.1f} ms",
         f"{pct(fts_cpu, 50):.2f} | {pct(fts_cpu, 95):.2f} ms", ""),
        ("  CPU ratio ours / FTS5, p50 | p95", f"{pct(ours_cpu, 50) / pct(fts_cpu, 50):.1f}x | "
         f"{pct(ours_cpu, 95) / pct(fts_cpu, 95):.2f}x", "", "(load-independent)"),
        ("  ours, each query the first time p50 | p95", f"{pct(ours_first, 50):.1f} | {pct(ours_first, 95):.1f} ms",
         "", "(nothing memoised)"),
        ("  ours, asked again p50 | p95", f"{pct(ours_again, 50):.1f} | {pct(ours_again, 95):.1f} ms"
         if ours_again else "-", "", ""),
        (f"HTTP /api/search p95 (c={args.concurrency})", f"{h['p95']:.1f} ms", "", "≤ 20 ms"),
        (f"HTTP /api/search p50 (c={args.concurrency})", f"{h['p50']:.1f} ms", "", ""),
        ("HTTP /api/search throughput", f"{h['rps']:.1f} req/s", "", ""),
        ("RSS per gunicorn worker", " / ".join(f"{mb:.0f}" for mb in rss) + " MB", "", "≤ 300 MB"),
        ("first /api/search after start", f"{res['first_s']:.2f} s", "", "≤ 2 s"),
    ]
    print()
    widths = [max(len(r[i]) for r in rows + [("metric", "ours", "FTS5 trigram", "target")]) for i in range(4)]
    line = lambda r: "  ".join(f"{c:<{widths[i]}}" for i, c in enumerate(r)).rstrip()  # noqa: E731
    print(line(("metric", "ours", "FTS5 trigram", "target")))
    print(line(tuple("-" * x for x in widths)))
    for r in rows:
        print(line(r))
    print()
    checks = [("full build", s / res["rebuild_s"] >= TARGETS["rebuild"]),
              ("re-index one SOP", statistics.median(upd) <= TARGETS["update_ms"]),
              ("in-process p50 vs FTS5", pct(ours_all, 50) <= TARGETS["p50_ratio"] * pct(fts_all, 50)),
              ("in-process p95 vs FTS5", pct(ours_all, 95) <= TARGETS["p95_ratio"] * pct(fts_all, 95)),
              ("HTTP p95", h["p95"] <= TARGETS["http_p95_ms"]),
              ("worker RSS", bool(rss) and max(rss) <= TARGETS["rss_mb"]),
              ("first search", res["first_s"] <= TARGETS["first_s"])]
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in checks))
    print(f"queries: {res['source']}")
    print(f"cores: {os.cpu_count()}; two CPU-bound processes run {res['speedup']:.1f}x as fast as one "
          f"(2.0 = two full cores); whole run {total_s:.0f} s")
    print("notes: ours indexes a whole-SOP document per SOP besides the sections (counted in the wall time, not in "
          "sections); the FTS5 build is documents() + INSERT, and its queries skip our synonyms, folding "
          "(Traditional → Simplified), word segmentation and per-SOP collapsing, so its hit counts differ")
    if h["errors"]:
        print(f"note: {h['errors']} HTTP responses were not 200; their latencies are not in the percentiles")
    if h["restarts"]:
        print(f"note: {h['restarts']} gunicorn worker restarts during the load (max_requests)")
    print("note: server and load generator share this machine's cores"
          + ("; wrk corrects latency for coordinated omission" if wrk else ""))


if __name__ == "__main__":
    main()

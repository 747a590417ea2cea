"""Two app nodes behind nginx on this machine (tests/twonodes.py starts them as tests/test_cluster.py does): an SOP
page and a search, through nginx (round robin over both nodes) and against node A directly, in the same run; then
the time from publishing a revision on node A to finding it by search on node B, over N publications.

    .venv/bin/python bench/cluster.py [--seconds 10] [--clients 4] [--workers 1] [--publications 20]

Needs PostgreSQL (SOP_CLUSTER_PG_URL, default postgres@127.0.0.1:5432), redis-server and nginx. Every request is a
new connection (gunicorn's sync workers close it after each response), from --clients processes at once.
"""
import argparse
import http.client
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import load, percentile  # noqa: E402
from tests.twonodes import (Http, Nginx, Node, PrivateRedis, build_app, create_database, drop_database,  # noqa: E402
                            load_demo, missing_services, publish, search_codes)

QUERIES = ["夜审", "交班", "会员系统故障", "投诉处理", "月末结账", "服务器关机", "热线值班", "pms安装", "房卡", "退房"]


def hammer(args) -> tuple[int, int, list[float]]:
    """One client process: GET the paths in turn for `seconds`; (answers 200, other answers, latencies)."""
    port, cookie, paths, seconds = args
    ok, bad, latencies, i = 0, 0, [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        path = paths[i % len(paths)]
        i += 1
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        latencies.append(time.monotonic() - start)
        ok, bad = (ok + 1, bad) if resp.status == 200 else (ok, bad + 1)
    return ok, bad, latencies


def throughput(pool, port: int, cookie: str, paths: list[str], clients: int, seconds: float) -> str:
    results = pool.map(hammer, [(port, cookie, paths, seconds)] * clients)
    ok, bad = sum(r[0] for r in results), sum(r[1] for r in results)
    latencies = [x for r in results for x in r[2]]
    return (f"{ok / seconds:7.1f} req/s  p50 {percentile(latencies, 50):6.1f} ms  p95 {percentile(latencies, 95):6.1f} ms"
            + (f"  ({bad} not 200)" if bad else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per node")
    parser.add_argument("--publications", type=int, default=20)
    args = parser.parse_args()
    missing = missing_services()
    if missing:
        sys.exit("cannot run: " + "; ".join(missing))
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    url, nodes, redis, nginx, app = create_database(), [], None, None, None
    try:
        started = time.monotonic()
        audit_key = uuid.uuid4().hex * 2  # the demo's audit trail is keyed with it: every node needs the same key
        app = build_app(url, tmp / "build", content, audit_key)
        load_demo(app)
        print(f"demo loaded into {url.rsplit('/', 1)[1]} in {time.monotonic() - started:.0f} s; {load()}")
        redis = PrivateRedis(tmp / "redis")
        redis.start()
        settings = {"DATABASE_URL": url, "SECRET_KEY": uuid.uuid4().hex * 2, "AUDIT_KEY": audit_key,
                    "RATELIMIT_STORAGE_URI": redis.url, "PROXY_HOPS": "1", "SOP_DIR": str(content / "sops"),
                    "CONTENT_DIR": str(content), "FLASK_LOGIN_LIMIT_IP": '"1000 per minute"',
                    "FLASK_NOTIFY_IN_BACKGROUND": "false"}
        nodes = [Node(name, tmp / name, settings, workers=args.workers) for name in ("a", "b")]
        for node in nodes:
            node.instance.mkdir(parents=True)
            if (tmp / "build" / "jieba.cache").exists():
                (node.instance / "jieba.cache").symlink_to(tmp / "build" / "jieba.cache")
            node.start()
        for node in nodes:
            node.wait()
        a, b = nodes
        nginx = Nginx(tmp / "nginx", nodes)
        nginx.start()
        reader = Http(nginx.port)
        assert reader.login("fo.staff") == 303
        page, searches = ["/sops/FO-NA-001"], [f"/api/search?q={quote(q)}" for q in QUERIES]
        for node in nodes:  # warm each node: page cache, index (built on first search), jieba
            for _ in range(args.workers * 2):
                for path in page + searches:
                    assert reader.at(node.port).get(path)[0] == 200, path
        print(f"two nodes ({args.workers} gunicorn worker{'s' if args.workers > 1 else ''} each) behind nginx; "
              f"{args.clients} client processes, {args.seconds:g} s per line; {load()}")
        with multiprocessing.Pool(args.clients) as pool:
            for label, paths in (("SOP page FO-NA-001", page), (f"search ({len(QUERIES)} queries)", searches)):
                for where, port in (("nginx → A+B", nginx.port), ("node A only", a.port)):
                    print(f"  {label:24} {where:12} {throughput(pool, port, reader.cookie, paths, args.clients, args.seconds)}")
        print(f"after the throughput runs: {load()}")
        author, approver = Http(a.port), Http(a.port)
        assert author.login("fo.manager") == 303 and approver.login("admin") == 303
        on_b = reader.at(b.port)
        delays, polls = [], []
        for i in range(args.publications):
            marker = f"bench{uuid.uuid4().hex[:10]}"
            publish(app, author, approver, "FO-NA-001", marker)
            published = time.monotonic()
            n = 0
            while True:
                n += 1
                if search_codes(on_b, marker) == ["FO-NA-001"]:
                    break
                if time.monotonic() - published > 30:
                    raise SystemExit(f"publication {i + 1} not found on B after 30 s")
            delays.append(time.monotonic() - published)
            polls.append(n)
        print(f"publish on A (approval answered) → found by search on B, {args.publications} publications: "
              f"median {statistics.median(delays) * 1e3:.0f} ms, max {max(delays) * 1e3:.0f} ms; "
              f"searches needed: {'all 1' if set(polls) == {1} else polls}")
        print(load())
    finally:
        for part in (nginx, *nodes):
            if part is not None:
                part.stop()
        if redis is not None:
            redis.stop()
        if app is not None:
            with app.app_context():
                from app.extensions import db
                db.engine.dispose()
        drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

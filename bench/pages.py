"""Page benchmark: requests/s and latency of the SOP page against a trivial endpoint, under gunicorn.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/pages.py [--seconds 10] [--concurrency 8]

Everything happens in a temporary instance folder (fresh SQLite database, `flask db upgrade`,
`flask demo load`), so the developer's instance/ is never touched. gunicorn runs with
gunicorn.conf.py and 2 workers on 127.0.0.1 and a free port, and is always stopped at the end.

Both endpoints are measured in the same run, each for --seconds after a short warm-up, with
--concurrency connections:
  - GET /healthz             (no login; the trivial endpoint)
  - GET /sops/FO-NA-001      (logged in as fo.staff; the SOP page)

Load generator: wrk when /usr/bin/wrk (or wrk on PATH) exists, else a stdlib Python generator
(several processes, each with threads using http.client connections). Every response must be a
200; anything else (a redirect to /login included) is counted as an error. The figures are
printed, never asserted.
"""
import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"  # loopback only
USERNAME, PASSWORD = "fo.staff", "demo-2026"
TRIVIAL, SOP_PAGE = "/healthz", "/sops/FO-NA-001"
TARGET = 50  # SOP page requests/s as % of the trivial endpoint


# ---------------------------------------------------------------- setup


def tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def bench_env(instance: Path) -> dict:
    """The caller's environment, pointed at the temporary instance (SQLite there, demo content)."""
    env = dict(os.environ)
    for key in ("DATABASE_URL", "SOP_DIR", "CONTENT_DIR", "GUNICORN_ACCESSLOG", "GUNICORN_CMD_ARGS", "GUNICORN_BIND"):
        env.pop(key, None)
    env.update(SOP_INSTANCE_DIR=str(instance), FLASK_APP="wsgi.py", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
               SECRET_KEY=secrets.token_hex(32), FLASK_RATELIMIT_ENABLED="false")  # one login, from one address
    return env


def run_flask(args: list[str], env: dict) -> str:
    proc = subprocess.run([tool("flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def get(port: int, path: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp, resp.read()
    finally:
        conn.close()


def start_gunicorn(port: int, args, env: dict, log: Path) -> subprocess.Popen:
    cmd = [tool("gunicorn"), "-c", "gunicorn.conf.py", "-w", str(args.workers), "-b", f"{HOST}:{port}"]
    if args.max_requests is not None:
        cmd += ["--max-requests", str(args.max_requests)]
    help_text = subprocess.run([tool("gunicorn"), "--help"], capture_output=True, text=True, timeout=30).stdout
    if "--no-control-socket" in help_text:
        cmd.append("--no-control-socket")  # gunicorn ≥ 24 would otherwise claim ~/.gunicorn/gunicorn.ctl
    cmd.append("wsgi:app")
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if get(port, TRIVIAL, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"gunicorn did not answer {TRIVIAL} within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    """SIGTERM to the master we started (graceful), then SIGKILL to its own process group if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group created by start_new_session: only our gunicorn
        proc.wait(timeout=5)


def worker_boots(log: Path) -> int:
    return log.read_text(errors="replace").count("Booting worker")


def login(port: int) -> str:
    """GET /login for the CSRF token, POST the form; return the Cookie header value for the session."""
    status, resp, body = get(port, "/login")
    if status != 200:
        sys.exit(f"GET /login answered {status}")
    tag = re.search(rb'<input[^>]*name="csrf_token"[^>]*>', body)
    token = re.search(rb'value="([^"]+)"', tag.group(0)) if tag else None
    if not token:
        sys.exit("no csrf_token field on /login")
    jar = SimpleCookie()
    for value in resp.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
    form = urlencode({"username": USERNAME, "password": PASSWORD, "csrf_token": token.group(1).decode()})
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 303:
            sys.exit(f"POST /login answered {resp.status}, expected 303")
        for value in resp.headers.get_all("Set-Cookie") or []:
            jar.load(value)
    finally:
        conn.close()
    if "session" not in jar:
        sys.exit("login gave no session cookie")
    return f"session={jar['session'].value}"


# ---------------------------------------------------------------- wrk

LUA = """-- written by bench/pages.py
{header}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non200=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%d p95_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk_binary() -> str | None:
    return "/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else shutil.which("wrk")


def run_wrk(wrk: str, url: str, script: Path, seconds: float, concurrency: int, threads: int) -> str:
    cmd = [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "--latency", "-s", str(script), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    if proc.returncode != 0:
        sys.exit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def measure_wrk(wrk: str, port: int, path: str, cookie: str | None, args, tmp: Path) -> dict:
    script = tmp / f"bench{path.replace('/', '_')}.lua"
    header = f'wrk.headers["Cookie"] = {json.dumps(cookie)}' if cookie else "-- no cookie"
    script.write_text(LUA.format(header=header))
    url = f"http://{HOST}:{port}{path}"
    threads = args.wrk_threads or max(1, min(args.concurrency, (os.cpu_count() or 2) // 2))
    if args.warmup > 0:
        run_wrk(wrk, url, script, args.warmup, args.concurrency, threads)
    out = run_wrk(wrk, url, script, args.seconds, args.concurrency, threads)
    m = re.search(r"^BENCH (.*)$", out, re.M)
    if not m:
        sys.exit(f"no summary from wrk's done():\n{out}")
    f = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    # p50 and p99 from wrk's own --latency distribution; p95 from done() (wrk prints 50/75/90/99 only).
    dist = {int(p): float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    return {
        "generator": f"wrk -t{threads}",
        "requests": f["requests"],
        "rps": f["requests"] / (f["duration_us"] / 1e6),
        "p50": dist.get(50, f["p50_us"] / 1e3),
        "p95": f["p95_us"] / 1e3,
        "p99": dist.get(99, f["p99_us"] / 1e3),
        "errors": f["non200"] + f["connect"] + f["read"] + f["write"] + f["timeout"],
    }


# ---------------------------------------------------------------- stdlib fallback


def _client_thread(port, paths, headers, measure_from, end_at, result, lock):
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    latencies, completed, errors, i = [], 0, 0, random.randrange(len(paths))
    while True:
        t0 = time.monotonic()
        if t0 >= end_at:
            break
        try:
            conn.request("GET", paths[i % len(paths)], headers=headers)  # reconnects after "Connection: close"
            i += 1
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        t1 = time.monotonic()
        if t0 >= measure_from and t1 <= end_at:  # only requests wholly inside the measured window
            completed += 1
            if ok:
                latencies.append(t1 - t0)
            else:
                errors += 1
    conn.close()
    with lock:
        result["latencies"].extend(latencies)
        result["completed"] += completed
        result["errors"] += errors


def _client_process(port, paths, headers, connections, measure_from, end_at):
    result, lock = {"latencies": [], "completed": 0, "errors": 0}, threading.Lock()
    threads = [threading.Thread(target=_client_thread, args=(port, paths, headers, measure_from, end_at, result, lock))
               for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of per-request timings, in ms."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)] * 1e3


def measure_python(port: int, path: str | list[str], cookie: str | None, args) -> dict:
    """Several processes × threads, each with a keep-alive http.client connection, cycling through the paths."""
    paths = [path] if isinstance(path, str) else list(path)
    procs = max(1, min(args.concurrency, args.client_procs or os.cpu_count() or 2))
    shares = [args.concurrency // procs + (i < args.concurrency % procs) for i in range(procs)]
    headers = {"Cookie": cookie} if cookie else {}
    measure_from = time.monotonic() + 0.5 + args.warmup  # CLOCK_MONOTONIC is system-wide on Linux
    end_at = measure_from + args.seconds
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        pending = [pool.apply_async(_client_process, (port, paths, headers, n, measure_from, end_at)) for n in shares]
        results = [p.get(timeout=args.warmup + args.seconds + 30) for p in pending]
    latencies = sorted(x for r in results for x in r["latencies"])
    completed = sum(r["completed"] for r in results)
    return {
        "generator": f"python {procs}p x {'/'.join(map(str, shares))}t",
        "requests": completed,
        "rps": completed / args.seconds,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "errors": sum(r["errors"] for r in results),
    }


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10, help="measured duration per endpoint (default 10)")
    ap.add_argument("--concurrency", type=int, default=8, help="open connections (default 8)")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds per endpoint, not measured (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--max-requests", type=int, default=None,
                    help="override gunicorn's max_requests (default: gunicorn.conf.py's; 0 = never recycle workers)")
    ap.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                    help="auto: wrk when installed, else the Python generator")
    ap.add_argument("--wrk-threads", type=int, default=0, help="wrk threads (default: cores/2, at least 1)")
    ap.add_argument("--client-procs", type=int, default=0, help="Python generator processes (default: cores)")
    args = ap.parse_args()

    wrk = wrk_binary() if args.loadgen in ("auto", "wrk") else None
    if args.loadgen == "wrk" and not wrk:
        sys.exit("--loadgen wrk: wrk is not installed")

    with tempfile.TemporaryDirectory(prefix="sop-bench-pages-") as tmp_name:
        tmp = Path(tmp_name)
        instance = tmp / "instance"
        env = bench_env(instance)
        t0 = time.monotonic()
        run_flask(["db", "upgrade"], env)
        run_flask(["demo", "load"], env)
        print(f"setup: temp instance {instance} migrated and demo loaded in {time.monotonic() - t0:.1f} s")

        port = free_port()
        log = tmp / "gunicorn.log"
        server = start_gunicorn(port, args, env, log)
        try:
            wait_ready(server, port, log)
            cookie = login(port)
            status, _resp, body = get(port, SOP_PAGE, {"Cookie": cookie})
            if status != 200:
                sys.exit(f"GET {SOP_PAGE} with the session cookie answered {status}")
            recycle = "max_requests from gunicorn.conf.py" if args.max_requests is None \
                else f"max_requests={args.max_requests}"
            print(f"gunicorn: {args.workers} sync workers on {HOST}:{port} ({recycle}); logged in as {USERNAME}; "
                  f"{SOP_PAGE} is {len(body) / 1024:.1f} KB")
            print(f"load: {args.concurrency} connections, {args.warmup:g} s warm-up + {args.seconds:g} s measured "
                  f"per endpoint; generator {'wrk' if wrk else 'python (stdlib)'}")
            rows = []
            for name, path, ck in (("trivial", TRIVIAL, None), ("SOP page", SOP_PAGE, cookie)):
                boots = worker_boots(log)
                r = measure_wrk(wrk, port, path, ck, args, tmp) if wrk else measure_python(port, path, ck, args)
                r["restarts"] = worker_boots(log) - boots  # max_requests recycling during warm-up + run
                rows.append((f"GET {path}", r))
        finally:
            stop_gunicorn(server)

    print()
    print(f"{'endpoint':<22} {'load generator':<20} {'requests/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7} "
          f"{'worker restarts':>15}")
    for endpoint, r in rows:
        print(f"{endpoint:<22} {r['generator']:<20} {r['rps']:>10.1f} {r['p50']:>8.2f} {r['p95']:>8.2f} "
              f"{r['errors']:>7} {r['restarts']:>15}")
    print()
    trivial, page = rows[0][1]["rps"], rows[1][1]["rps"]
    ratio = 100 * page / trivial if trivial else float("nan")
    print(f"SOP page / trivial = {ratio:.0f}%   (target ≥ {TARGET}%)")
    print(f"cores: {os.cpu_count()}")
    if any(r["errors"] for _e, r in rows):
        print("note: some responses were not 200 (see errors); their latencies are not in the percentiles")
    print("note: server and load generator share this machine's cores")
    if any(r["restarts"] for _e, r in rows):
        print("note: worker restarts = gunicorn max_requests recycling during the warm-up and run; each reboot "
              "imports the app (~0.5 s CPU) and stalls queued requests (--max-requests 0 to compare)")
    if wrk:
        print("note: wrk corrects its latency histogram for coordinated omission (an outlier adds synthetic "
              "samples), so a few slow requests, e.g. during a worker reboot, raise p95 a lot")


if __name__ == "__main__":
    main()

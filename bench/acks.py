"""Acknowledgements benchmark: reports, my reading, exports and concurrent signing at production scale.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/acks.py [--db sqlite|postgres|both]
        [--users 5000] [--sops 500] [--signatures 2500000] [--dept-requests 30] [--reading-requests 100]
        [--overview-requests 2] [--export-runs 3] [--sign-users 100] [--sign-per-user 2] [--workers 4]
        [--sign-only] [--explain]

    200 distinct signers at once through 4 workers (issue #16; 5 min on the shared 2-core machine):
    PYTHONPATH=. .venv/bin/python bench/acks.py --db sqlite --sign-only --users 2000 --sops 40 \
        --signatures 20000 --sign-users 200 --sign-per-user 1

For each database (default: SQLite, then PostgreSQL) the benchmark works in a temporary instance folder
(never instance/): it runs `flask db upgrade` on a fresh database (SQLite file in the temporary folder, or a
throwaway PostgreSQL database `sop_bench_acks_<pid>` on 127.0.0.1:5432, dropped at the end; PostgreSQL is
skipped with a note when no server answers there), then seeds it with bulk inserts:

  - 10 departments (the 4 of content/org.yaml and 6 more) with their positions, --users users spread evenly
    (one admin, one manager per department, the rest staff; ~3% new hires, 1% deactivated), one position each;
  - --sops SOPs owned evenly by the departments, 4-7 revisions each (material or minor), every current
    revision requiring acknowledgement; each SOP's audience is its department plus 5 positions of other
    departments (so a person has ~100 duties), a few SOPs also name single people;
  - about --signatures signatures: people signed most revisions of their required SOPs over the years;
    ~7% of duties are open (overdue or, for recently published revisions and new hires, outstanding).
    One SOP (FO-B-0001) was published today and nobody has signed it yet: the concurrency test signs it.

Then gunicorn (gunicorn.conf.py, --workers sync workers, rate limits off) serves the app and the benchmark
measures, one request at a time (latency, not throughput):
  - GET /acks/departments/<code> as the admin, cycling through all departments (target p95 <= 300 ms),
    and a few as the FO manager on their own department;
  - GET /acks/ (compliance of every department) as the admin, --overview-requests times (no target);
  - GET /reading as five staff users with ~100 duties each (target p95 <= 50 ms);
  - POST /acks/sops/<code>/export, format=xlsx and format=csv, of the SOP with the most signatures
    (wall time of the whole download; target <= 2 s);
  - concurrency: --sign-users people each send the same sign request --sign-per-user times (2: a double click) to
    POST /sops/FO-B-0001/ack, all requests released at once by a barrier; then the
    database must hold exactly one signature per (person, revision), no 5xx, no "database is locked"
    in the gunicorn log, and the audit chain must still verify.
Finally an in-process breakdown (no HTTP) times the SQL of app.acks.duties.duties() against the Python
work around it and the template, to show which part dominates; runs the routes through Flask's test client
counting their SQL statements (an N+1 shows as thousands); on PostgreSQL it also shows how much of the
department query is JIT compilation (--explain also prints the query plans).

Every figure is printed, never asserted. The load generator runs on the same cores as the server.
"""
import argparse
import hashlib
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PASSWORD = "bench-2026"
MEANING = "I have read and understood this procedure and will follow it."
BENCH_SOP = "FO-B-0001"  # published today, signed by nobody: the concurrency test signs it
TARGETS = {"dept_p95": 300.0, "reading_p95": 50.0, "export_s": 2.0}
EXTRA_DEPTS = [  # added to content/org.yaml's four
    ("HK", "客房部", "Housekeeping", ["客房服务员", "楼层主管", "洗衣房专员", "公共区域保洁", "客房经理"]),
    ("FB", "餐饮部", "Food & Beverage", ["服务员", "领班", "厨师", "调酒师", "餐饮经理"]),
    ("ENG", "工程部", "Engineering", ["电工", "水暖工", "空调技师", "值班工程师", "工程经理"]),
    ("SEC", "保安部", "Security", ["保安员", "消控员", "巡逻队长", "安全主管", "保安经理"]),
    ("HR", "人力资源部", "Human Resources", ["招聘专员", "培训专员", "薪酬专员", "员工关系专员", "人力资源经理"]),
    ("SAL", "销售部", "Sales", ["销售代表", "宴会销售", "收益分析师", "客户经理", "销售总监"]),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华飞鹏辉玲红梅宇浩晨欣怡佳琪子轩雨萱思远"


# ---------------------------------------------------------------- processes and HTTP (after bench/pages.py)


def tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def bench_env(instance: Path, database_url: str | None) -> dict:
    env = dict(os.environ)
    for key in ("DATABASE_URL", "SOP_DIR", "CONTENT_DIR", "GUNICORN_ACCESSLOG", "GUNICORN_CMD_ARGS", "GUNICORN_BIND",
                "WEB_CONCURRENCY", "GUNICORN_MAX_REQUESTS"):
        env.pop(key, None)
    env.update(SOP_INSTANCE_DIR=str(instance), FLASK_APP="wsgi.py", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
               SOP_DIR=str(instance / "sops"), FLASK_RATELIMIT_ENABLED="false", SECRET_KEY=secrets.token_hex(32))
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_flask(args: list[str], env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([tool("flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, workers: int, env: dict, log: Path) -> subprocess.Popen:
    cmd = [tool("gunicorn"), "-c", "gunicorn.conf.py", "-w", str(workers), "-b", f"{HOST}:{port}"]
    help_text = subprocess.run([tool("gunicorn"), "--help"], capture_output=True, text=True, timeout=30).stdout
    if "--no-control-socket" in help_text:
        cmd.append("--no-control-socket")  # gunicorn >= 24 would otherwise claim ~/.gunicorn/gunicorn.ctl
    cmd.append("wsgi:app")
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    """SIGTERM to the master we started, then SIGKILL to its own process group if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group created by start_new_session: only our gunicorn
        proc.wait(timeout=5)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


class Browser:
    """One user's cookie jar; every request on a fresh connection (gunicorn's sync workers close it anyway)."""

    def __init__(self, port: int):
        self.port, self.jar, self.csrf = port, SimpleCookie(), None

    def cookie(self) -> str:
        return "; ".join(f"{k}={m.value}" for k, m in self.jar.items())

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None,
                timeout: float = 120) -> tuple[int, bytes, float, http.client.HTTPResponse]:
        hdrs = {"Cookie": self.cookie()} if self.jar else {}
        body = None
        if form is not None:
            body = urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        hdrs.update(headers or {})
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        elapsed = time.perf_counter() - t0
        for value in resp.headers.get_all("Set-Cookie") or []:
            self.jar.load(value)
        m = re.search(rb'"X-CSRFToken": "([^"]+)"', data)
        if m:
            self.csrf = m.group(1).decode()
        return resp.status, data, elapsed, resp

    def login(self, username: str, password: str = PASSWORD) -> "Browser":
        status, body, _t, _r = self.request("GET", "/login")
        tag = re.search(rb'<input[^>]*name="csrf_token"[^>]*>', body)
        token = re.search(rb'value="([^"]+)"', tag.group(0)) if tag else None
        if status != 200 or not token:
            raise RuntimeError(f"GET /login answered {status} without a csrf_token field")
        status, body, _t, _r = self.request("POST", "/login", {"username": username, "password": password,
                                                               "csrf_token": token.group(1).decode()})
        if status != 303 or "session" not in self.jar:
            raise RuntimeError(f"login {username}: POST /login answered {status}: {body[:300]!r}")
        return self


# ---------------------------------------------------------------- the data set


def load_org() -> list[tuple[str, str, str, list[str]]]:
    import yaml

    data = yaml.safe_load((ROOT / "content" / "org.yaml").read_text(encoding="utf-8")) or {}
    depts = [(d["code"], d["name"], d.get("name_en", ""), list(d.get("positions") or [])) for d in data["departments"]]
    codes = {d[0] for d in depts}
    return depts + [d for d in EXTRA_DEPTS if d[0] not in codes]


class Plan:
    """Everything the seed inserts, generated once (deterministic for a given --seed) for both databases."""

    def __init__(self, n_users: int, n_sops: int, n_signatures: int, seed: int):
        t0 = time.perf_counter()
        rng = random.Random(seed)
        self.today = today = date.today()
        self.now = now = datetime.now(timezone.utc).replace(microsecond=0)
        now_ts = int(now.timestamp())
        org = load_org()
        self.depts, self.positions, pos_of_dept = [], [], {}
        for i, (code, name, name_en, positions) in enumerate(org, 1):
            self.depts.append((i, code, name, name_en))
            pos_of_dept[i] = []
            for p in positions:
                self.positions.append((len(self.positions) + 1, p, i))
                pos_of_dept[i].append(len(self.positions))
        n_depts = len(self.depts)
        self.password_hash = _password_hash()

        # People: contiguous blocks per department; the very first is the admin, then one manager each.
        self.users, self.user_positions = [], []
        self.names = [""] * (n_users + 1)
        self.dept_of, self.pos_of = [0] * (n_users + 1), [0] * (n_users + 1)
        self.new_hire, self.inactive = set(), set()
        self.usernames = {}
        self.managers = {}
        counters = Counter()
        for uid in range(1, n_users + 1):
            dept = (uid - 1) * n_depts // n_users + 1
            code = self.depts[dept - 1][1].lower()
            pos = rng.choice(pos_of_dept[dept])
            if uid == 1:
                username, role = "admin", "admin"
            elif dept not in self.managers:
                username, role = f"{code}.manager", "manager"
                self.managers[dept] = uid
            else:
                counters[dept] += 1
                username, role = f"{code}.{counters[dept]:04d}", "staff"
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
            active = not (role == "staff" and rng.random() < 0.01)
            if role == "staff" and active and rng.random() < 0.03:
                start = today - timedelta(days=rng.randint(0, 20))
                self.new_hire.add(uid)
            else:
                start = today - timedelta(days=rng.randint(8 * 365, 14 * 365))
            if not active:
                self.inactive.add(uid)
            created = datetime.combine(start, datetime.min.time(), timezone.utc)
            self.users.append((uid, username, name, f"{username}@bench.example", self.password_hash, dept, role,
                               active, start, start, "zh", 1, created))
            self.user_positions.append((uid, pos))
            self.names[uid], self.dept_of[uid], self.pos_of[uid] = name, dept, pos
            self.usernames[uid] = username
        users_by_dept, users_by_pos = {}, {}
        for uid in range(1, n_users + 1):
            users_by_dept.setdefault(self.dept_of[uid], []).append(uid)
            users_by_pos.setdefault(self.pos_of[uid], []).append(uid)

        # SOPs, revisions, audiences.
        self.sops, self.revisions, self.audience = [], [], []
        self.rev_info = {}  # revision id -> (sop id, basis id, content hash)
        sop_specs = []  # (sop id, members, revision ids, current group, done probability)
        per_dept = [n_sops // n_depts + (i < n_sops % n_depts) for i in range(n_depts)]
        audience_id, rev_id = 0, 0
        for d_index, count in enumerate(per_dept):
            dept_id, dcode, dname, _en = self.depts[d_index]
            for n in range(1, count + 1):
                sop_id = len(self.sops) + 1
                code = f"{dcode}-B-{n:04d}"
                title = f"{dname}标准作业程序 {n:04d}"
                bench = code == BENCH_SOP
                fresh = bench or rng.random() < 0.08
                n_revs = rng.randint(4, 7)
                changes = ["material"] + ["material" if rng.random() < 0.5 else "minor" for _ in range(n_revs - 1)]
                if fresh:
                    changes[-1] = "material"
                cur_eff = today - timedelta(days=0 if bench else rng.randint(0, 6) if fresh else rng.randint(30, 400))
                effs = [cur_eff]
                for _ in range(n_revs - 1):
                    effs.append(effs[-1] - timedelta(days=rng.randint(90, 320)))
                effs.reverse()
                ack_days = rng.choice((7, 14, 30))
                others = [p for p in range(1, len(self.positions) + 1) if self.positions[p - 1][2] != dept_id]
                aud_positions = rng.sample(others, min(5, len(others)))
                aud_users = []
                if rng.random() < 0.05:
                    pool = [u for u in range(1, n_users + 1) if self.dept_of[u] != dept_id]
                    aud_users = rng.sample(pool, min(3, len(pool)))
                path = f"{dcode.lower()}/{code}.md"
                meta_common = {
                    "id": code, "title": title, "department": dname, "departments": [dname],
                    "positions": [self.positions[p - 1][1] for p in aud_positions], "tags": ["bench", dcode.lower()],
                    "owner": f"{dcode.lower()}.manager", "requires_ack": True, "ack_within_days": ack_days,
                    "attachments": [],
                }
                rev_ids, basis = [], None
                for k, (change, eff) in enumerate(zip(changes, effs), 1):
                    rev_id += 1
                    basis = rev_id if change == "material" else basis
                    version = f"{1 + sum(c == 'material' for c in changes[1:k])}.{k}"
                    chash = hashlib.sha256(f"{code}#{k}".encode()).hexdigest()
                    meta = {**meta_common, "version": version, "effective": eff.isoformat(),
                            "review_by": (eff + timedelta(days=365)).isoformat(), "change": change}
                    body = (f"# {title}\n\n## 1. 目的\n\n本程序规定{dname}的操作要求（第 {k} 版）。\n\n"
                            f"## 2. 步骤\n\n1. 核对信息。\n2. 按要求执行。\n3. 记录结果（修订 {k}）。\n")
                    html = (f'<h1 id="{code.lower()}">{title}</h1>\n<h2 id="1">1. 目的</h2>\n'
                            f"<p>本程序规定{dname}的操作要求（第 {k} 版）。</p>\n<h2 id=\"2\">2. 步骤</h2>\n"
                            f"<ol>\n<li>核对信息。</li>\n<li>按要求执行。</li>\n<li>记录结果（修订 {k}）。</li>\n</ol>")
                    toc = [{"level": 2, "id": "1", "name": "1. 目的"}, {"level": 2, "id": "2", "name": "2. 步骤"}]
                    created = datetime.combine(eff, datetime.min.time(), timezone.utc) - timedelta(days=3)
                    self.revisions.append((rev_id, sop_id, k, chash, path, body, json.dumps(meta, ensure_ascii=False),
                                           title, version, eff, eff + timedelta(days=365), change, True, ack_days,
                                           basis, html, json.dumps(toc, ensure_ascii=False), False, created))
                    self.rev_info[rev_id] = (sop_id, basis, chash)
                    rev_ids.append(rev_id)
                cur_basis = self.rev_info[rev_ids[-1]][1]
                group = [r for r in rev_ids if self.rev_info[r][1] == cur_basis]
                self.sops.append((sop_id, code, path, title, dept_id, f"|bench|{dcode.lower()}|", rev_ids[-1], None))
                added = datetime.combine(effs[0], datetime.min.time(), timezone.utc)
                rows = [("department", dept_id, "content", None)] + [("position", p, "content", None)
                                                                      for p in aud_positions]
                rows += [("user", u, "admin", 1) for u in aud_users]
                for kind, ref, source, by in rows:
                    audience_id += 1
                    self.audience.append((audience_id, sop_id, kind, ref, source, by, added))
                members = set(users_by_dept.get(dept_id, []))
                for p in aud_positions:
                    members.update(users_by_pos.get(p, []))
                members.update(aud_users)
                done_p = 0.0 if bench else 0.35 if fresh else 0.93
                sop_specs.append((sop_id, sorted(members), rev_ids, group, done_p, effs, ack_days))
                if bench:
                    self.bench = {"sop_id": sop_id, "code": code, "revision_id": rev_ids[-1],
                                  "members": sorted(members)}

        # Duties per person (every SOP's current revision requires acknowledgement; inactive people owe nothing).
        self.duty_count = Counter()
        for _sid, members, *_rest in sop_specs:
            for u in members:
                self.duty_count[u] += 1

        # The share q of other revisions (older ones, later minor ones) signed, so that the total is ~n_signatures.
        fixed = var = 0.0
        for _sid, members, rev_ids, group, done_p, _e, _a in sop_specs:
            m = sum(1 for u in members if u not in self.new_hire)
            fixed += m * done_p
            var += m * (done_p * (len(group) - 1) + (len(rev_ids) - len(group)))
        self.q = q = max(0.0, min(1.0, (n_signatures - fixed) / var)) if var else 0.0

        # Signatures as packed ints (time << 40 | user << 20 | revision), sorted by time: ids follow signing order.
        self.t0 = t_base = int(datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp())
        keys = []
        append, rand = keys.append, rng.random
        for _sid, members, rev_ids, group, done_p, effs, ack_days in sop_specs:
            eff_ts = [int(datetime.combine(e, datetime.min.time(), timezone.utc).timestamp()) for e in effs]
            spans = []
            for i, ts in enumerate(eff_ts):
                nxt = eff_ts[i + 1] if i + 1 < len(eff_ts) else now_ts
                spans.append(max(60, min(int(ack_days * 1.5 * 86400), nxt - ts, now_ts - 60 - ts)))
            base = {r: ((eff_ts[i] - t_base) << 40, spans[i]) for i, r in enumerate(rev_ids)}
            old = [r for r in rev_ids if r not in group]
            head, tail = group[0], group[1:]
            for u in members:
                if u in self.new_hire:
                    continue
                ub = u << 20
                if rand() < done_p:
                    b, span = base[head]
                    append(b + (int(rand() * span) << 40) | ub | head)
                    for r in tail:
                        if rand() < q:
                            b, span = base[r]
                            append(b + (int(rand() * span) << 40) | ub | r)
                for r in old:
                    if rand() < q:
                        b, span = base[r]
                        append(b + (int(rand() * span) << 40) | ub | r)
        keys.sort()
        self.sig_keys = keys
        self.audience_pairs = sum(len(s[1]) for s in sop_specs)
        self.plan_seconds = time.perf_counter() - t0

    # rows of the acknowledgement table, in id order
    def ack_rows(self, ts_format):
        names, info, t_base = self.names, self.rev_info, self.t0
        day_cache = {}
        for i, key in enumerate(self.sig_keys, 1):
            rev = key & 0xFFFFF
            uid = (key >> 20) & 0xFFFFF
            ts = (key >> 40) + t_base
            day, sec = divmod(ts, 86400)
            dstr = day_cache.get(day)
            if dstr is None:
                dstr = day_cache[day] = date.fromordinal(date(1970, 1, 1).toordinal() + day).isoformat()
            signed = ts_format(dstr, sec)
            sop_id, basis, chash = info[rev]
            yield i, uid, rev, sop_id, basis, names[uid], signed, chash, f"10.{(uid >> 8) & 255}.{uid & 255}.7"

    def readers(self, n: int = 5) -> list[str]:
        """Staff with about 100 duties (the closest to 100), from different departments where possible."""
        staff = [u for u in range(1, len(self.names)) if self.users[u - 1][6] == "staff" and u not in self.inactive
                 and u not in self.new_hire]
        staff.sort(key=lambda u: (abs(self.duty_count[u] - 100), u))
        chosen, depts = [], set()
        for u in staff:
            if self.dept_of[u] not in depts:
                chosen.append(u)
                depts.add(self.dept_of[u])
            if len(chosen) == n:
                break
        return chosen

    def signers(self, n: int) -> list[int]:
        """Active staff in the audience of the SOP published today (none of them has signed it)."""
        pool = [u for u in self.bench["members"] if self.users[u - 1][6] == "staff" and u not in self.inactive]
        return pool[:n]


def _password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD)  # once, shared by everyone (the app's default method and cost)


# ---------------------------------------------------------------- seeding


def _d(value):
    return value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else value


def seed_sqlite(path: Path, plan: Plan) -> None:
    import sqlite3

    def dt(v):  # SQLAlchemy's SQLite DATETIME storage format (UTC, naive)
        return None if v is None else v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")

    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    con.execute("PRAGMA temp_store=MEMORY")
    con.execute("BEGIN")
    con.executemany("INSERT INTO department (id, code, name, name_en) VALUES (?, ?, ?, ?)", plan.depts)
    con.executemany("INSERT INTO position (id, name, department_id) VALUES (?, ?, ?)", plan.positions)
    con.executemany(
        "INSERT INTO user (id, username, display_name, email, password_hash, department_id, role, active, start_date,"
        " duties_since, locale, session_version, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(*u[:7], int(u[7]), _d(u[8]), _d(u[9]), u[10], u[11], dt(u[12])) for u in plan.users])
    con.executemany("INSERT INTO user_position (user_id, position_id) VALUES (?, ?)", plan.user_positions)
    con.executemany("INSERT INTO sop (id, code, path, title, department_id, tags, current_revision_id, retired_at)"
                    " VALUES (?,?,?,?,?,?,?,?)", plan.sops)
    from app.sops.render import RENDERER

    con.executemany(
        "INSERT INTO sop_revision (id, sop_id, number, content_hash, source_path, markdown, meta_json, title, version,"
        " effective, review_by, change, requires_ack, ack_within_days, basis_id, html, toc_json, has_diagram,"
        " renderer, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(*r[:9], _d(r[9]), _d(r[10]), r[11], int(r[12]), r[13], r[14], r[15], r[16], int(r[17]), RENDERER, dt(r[18]))
         for r in plan.revisions])
    con.executemany("INSERT INTO sop_audience (id, sop_id, kind, ref_id, source, added_by_id, added_at)"
                    " VALUES (?,?,?,?,?,?,?)", [(*a[:6], dt(a[6])) for a in plan.audience])

    def fmt(dstr, sec):
        return f"{dstr} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.000000"

    con.executemany(
        "INSERT INTO acknowledgement (id, user_id, revision_id, sop_id, basis_id, printed_name, signed_at, meaning,"
        " content_sha256, auth_method, ip, voluntary) VALUES (?,?,?,?,?,?,?,?,?,'password',?,0)",
        ((i, u, r, s, b, n, t, MEANING, h, ip) for i, u, r, s, b, n, t, h, ip in plan.ack_rows(fmt)))
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def seed_postgres(url: str, plan: Plan) -> list[str]:
    import psycopg

    from app.sops.render import RENDERER

    notes = []
    with psycopg.connect(url) as con:
        with con.cursor() as cur:
            try:
                cur.execute("SAVEPOINT r")
                cur.execute("SET LOCAL session_replication_role = replica")  # skip FK triggers: ids are consistent
            except psycopg.Error:
                cur.execute("ROLLBACK TO SAVEPOINT r")
                notes.append("could not skip foreign-key checks during the seed (not a superuser): slower seed")

            def copy(table: str, columns: str, rows):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)

            copy("department", "id, code, name, name_en", plan.depts)
            copy("position", "id, name, department_id", plan.positions)
            copy('"user"', "id, username, display_name, email, password_hash, department_id, role, active, start_date,"
                 " duties_since, locale, session_version, created_at", plan.users)
            copy("user_position", "user_id, position_id", plan.user_positions)
            copy("sop", "id, code, path, title, department_id, tags, current_revision_id, retired_at",
                 [(*s[:6], None, s[7]) for s in plan.sops])
            copy("sop_revision", "id, sop_id, number, content_hash, source_path, markdown, meta_json, title, version,"
                 " effective, review_by, change, requires_ack, ack_within_days, basis_id, html, toc_json, has_diagram,"
                 " created_at, renderer", [(*r, RENDERER) for r in plan.revisions])
            cur.execute("UPDATE sop SET current_revision_id = v.rev FROM (VALUES "
                        + ",".join(f"({s[0]},{s[6]})" for s in plan.sops) + ") AS v(id, rev) WHERE sop.id = v.id")
            copy("sop_audience", "id, sop_id, kind, ref_id, source, added_by_id, added_at", plan.audience)

            def fmt(dstr, sec):
                return f"{dstr} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+00"

            with cur.copy("COPY acknowledgement (id, user_id, revision_id, sop_id, basis_id, printed_name, signed_at,"
                          " meaning, content_sha256, auth_method, ip, voluntary) FROM STDIN") as cp:
                chunk = []
                for i, u, r, s, b, n, t, h, ip in plan.ack_rows(fmt):
                    chunk.append(f"{i}\t{u}\t{r}\t{s}\t{b}\t{n}\t{t}\t{MEANING}\t{h}\tpassword\t{ip}\tf\n")
                    if len(chunk) >= 20000:
                        cp.write("".join(chunk))
                        chunk = []
                if chunk:
                    cp.write("".join(chunk))
            for table in ("department", "position", '"user"', "sop", "sop_revision", "sop_audience",
                          "acknowledgement"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" (SELECT max(id) FROM {table}))")
        con.commit()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("VACUUM (ANALYZE)")  # hint bits, visibility map and statistics, as autovacuum would leave them
    return notes


# ---------------------------------------------------------------- databases


class Database:
    """A direct connection for checks (counts, the concurrency result)."""

    def __init__(self, kind: str, sqlite_path: Path | None = None, url: str | None = None):
        self.kind, self.sqlite_path, self.url = kind, sqlite_path, url

    def query(self, sql: str, params=()) -> list[tuple]:
        if self.kind == "sqlite":
            import sqlite3

            con = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()
        import psycopg

        with psycopg.connect(self.url) as con:
            return con.execute(sql.replace("?", "%s"), params).fetchall()


def postgres_available() -> str | None:
    """None when a server answers on 127.0.0.1:5432, else the reason."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            pass
    except OSError as e:
        return f"no server answers on {PG_HOST}:{PG_PORT} ({e})"
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres", connect_timeout=5) as con:
            con.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001 - any failure means: skip
        return f"cannot connect as postgres: {e}"
    return None


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres", autocommit=True) as con:
        con.execute(sql)


# ---------------------------------------------------------------- measurements


def timed_gets(browsers_paths: list[tuple[Browser, str]], n: int, warmup: int) -> dict:
    """n sequential GETs cycling through (browser, path); warm-up requests are not counted."""
    times, errors = [], Counter()
    for i in range(warmup + n):
        browser, path = browsers_paths[i % len(browsers_paths)]
        try:
            status, _body, elapsed, _r = browser.request("GET", path)
        except (OSError, http.client.HTTPException) as e:  # e.g. gunicorn killed the worker (timeout)
            status, elapsed = type(e).__name__, 0.0
        if i < warmup:
            continue
        if status != 200:
            errors[status] += 1
        else:
            times.append(elapsed * 1e3)
    return {"n": len(times), "p50": percentile(times, 50), "p95": percentile(times, 95), "max": max(times or [0]),
            "errors": dict(errors)}


def export_runs(browser: Browser, code: str, fmt: str, runs: int) -> dict:
    times, size, errors = [], 0, Counter()
    for _ in range(runs):
        status, body, elapsed, _r = browser.request("POST", f"/acks/sops/{code}/export",
                                                    {"format": fmt, "csrf_token": browser.csrf})
        if status == 200:
            times.append(elapsed)
            size = len(body)
        else:
            errors[status] += 1
    return {"min": min(times or [float("nan")]), "median": statistics.median(times) if times else float("nan"),
            "max": max(times or [float("nan")]), "bytes": size, "errors": dict(errors)}


def sign_storm(port: int, plan: Plan, users: list[int], per_user: int, db: Database, log: Path, env: dict) -> dict:
    code, rev = plan.bench["code"], plan.bench["revision_id"]
    t0 = time.perf_counter()

    retries = Counter()

    def prepare(uid):
        for attempt in range(3):  # a login that fails with a 5xx (e.g. a locked SQLite database) is retried
            try:
                b = Browser(port).login(plan.usernames[uid])
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                retries[uid] += 1
        status, body, _t, _r = b.request("GET", f"/sops/{code}/ack")
        m = re.search(rb'name="revision_id" value="(\d+)"', body)
        if status != 200 or not m or int(m.group(1)) != rev or not b.csrf:
            raise RuntimeError(f"sign panel for {plan.usernames[uid]}: {status}, revision {m and m.group(1)}")
        return b

    with ThreadPoolExecutor(8) as pool:
        browsers = list(pool.map(prepare, users))
    prep = time.perf_counter() - t0
    before = db.query("SELECT count(*) FROM acknowledgement WHERE revision_id = ?", (rev,))[0][0]
    audit_before = db.query("SELECT count(*) FROM audit_event WHERE action = 'ack.sign' AND object = ?",
                            (f"sop:{code}",))[0][0]
    log_before = log.read_text(errors="replace")
    jobs = [(b, k) for b in browsers for k in range(per_user)]
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def fire(i: int, b: Browser):
        body = urlencode({"csrf_token": b.csrf, "revision_id": rev, "password": PASSWORD})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": b.cookie(), "HX-Request": "true"}
        conn = http.client.HTTPConnection(HOST, port, timeout=180)
        try:
            conn.connect()
        except OSError as e:
            barrier.wait()
            results[i] = (f"connect: {e}", 0.0, b"")
            return
        barrier.wait()
        start = time.perf_counter()
        try:
            conn.request("POST", f"/sops/{code}/ack", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            results[i] = (resp.status, time.perf_counter() - start, data[:400])
        except (OSError, http.client.HTTPException) as e:
            results[i] = (f"{type(e).__name__}: {e}", time.perf_counter() - start, b"")
        finally:
            conn.close()

    threads = [threading.Thread(target=fire, args=(i, b)) for i, (b, _k) in enumerate(jobs)]
    t1 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t1
    statuses = Counter(r[0] for r in results)
    ids = ",".join(str(u) for u in users)
    total, pairs = db.query(f"SELECT count(*), count(DISTINCT user_id) FROM acknowledgement "
                            f"WHERE revision_id = ? AND user_id IN ({ids})", (rev,))[0]
    after = db.query("SELECT count(*) FROM acknowledgement WHERE revision_id = ?", (rev,))[0][0]
    audit_after = db.query("SELECT count(*) FROM audit_event WHERE action = 'ack.sign' AND object = ?",
                           (f"sop:{code}",))[0][0]
    new_log = log.read_text(errors="replace")[len(log_before):]
    # The seeded signatures have no audit entries, so the per-signature cross-check is left out here; the storm's
    # own signatures are compared in aggregate (new rows vs new ack.sign events).
    verify = run_flask(["audit", "verify", "--no-signatures"], env, check=False)
    lat = [r[1] * 1e3 for r in results if isinstance(r[0], int)]
    return {
        "users": len(users), "requests": len(jobs), "prep_s": prep, "wall_s": wall, "statuses": statuses,
        "rows": total, "pairs": pairs, "new_rows": after - before, "audit_new": audit_after - audit_before,
        "5xx": sum(1 for r in results if isinstance(r[0], int) and r[0] >= 500),
        "conn_errors": sum(1 for r in results if not isinstance(r[0], int)),
        "locked": locked_errors(new_log), "login_retries": sum(retries.values()),
        "tracebacks": new_log.count("Traceback"), "timeouts": new_log.count("WORKER TIMEOUT"),
        "p50": percentile(lat, 50), "p95": percentile(lat, 95), "max": max(lat or [0]),
        "verify": "; ".join((verify.stdout + verify.stderr).strip().splitlines()) or f"exit {verify.returncode}",
        "verify_ok": verify.returncode == 0,
    }


def locked_errors(log_text: str) -> int:
    """Logged errors (one per failed request) that mention "database is locked"."""
    events = re.split(r"Exception on ", log_text)
    if len(events) > 1:
        return sum(1 for e in events[1:] if re.search(r"database is locked", e, re.I))
    return len(re.findall(r"^[\w.]*OperationalError:.*database is locked", log_text, re.I | re.M))


def error_summary(log_text: str) -> list[str]:
    """The first logged exception: the request, its frames in app/ and the exception lines (chained ones too)."""
    start = log_text.find("Traceback (most recent call last)")
    if start < 0:
        return []
    head = log_text.rfind("\n", 0, max(0, log_text.rfind("Exception on", 0, start))) if "Exception on" in log_text[
        :start] else start
    nxt = log_text.find("Exception on", start)
    block = log_text[max(0, head):nxt if nxt > 0 else len(log_text)]
    out = [m.group(0).strip() for m in re.finditer(r"Exception on \S+ \[\w+\]", block)][:1]
    for m in re.finditer(r'File "' + re.escape(str(ROOT)) + r'/(app/[^"]+)", line (\d+), in (\w+)\n\s*([^\n]*)', block):
        out.append(f"{m.group(1)}:{m.group(2)} in {m.group(3)}: {m.group(4).strip()}")
    out += [m.group(1) for m in re.finditer(r"^([\w.]+(?:Error|Exception)\b[^\n]*)$", block, re.M)]
    out += [f"[SQL: {m.group(1)[:200]}]" for m in re.finditer(r"^\[SQL: ([^\n]*?)\]?$", block, re.M)][:1]
    count = log_text.count("Traceback (most recent call last)")
    return [f"({count} traceback(s) in the log)"] + out


# ---------------------------------------------------------------- in-process breakdown (child process)


def profile_child(spec: dict) -> None:
    """Runs in a child process with the instance's environment; prints the breakdown lines."""
    import sqlalchemy as sa
    from flask import render_template
    from flask_login import login_user

    from app import create_app
    from app.acks import exports
    from app.acks.duties import DONE, OUTSTANDING, OVERDUE, by_state, duties, last_signatures
    from app.acks.models import Acknowledgement
    from app.acks.reports import department_report, signatures
    from app.auth.models import User
    from app.extensions import db
    from app.org import Department
    from app.sops.models import Sop

    app = create_app({"WTF_CSRF_ENABLED": False})  # the breakdown's test client posts without tokens
    captured: list = []

    def med(fn, runs=3):
        fn()  # warm-up (caches, first compile)
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            result = fn()
            out.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(out), result

    def raw_sql(marker: str, explain: bool):
        """Re-run the last captured statement containing marker on a raw DBAPI cursor (execute + fetchall)."""
        stmt, params = next((s, p) for s, p in reversed(captured) if marker in s)
        raw = db.engine.raw_connection()
        try:
            def run():
                cur = raw.cursor()
                cur.execute(stmt, params)
                rows = cur.fetchall()
                cur.close()
                return len(rows)
            ms, n = med(run)
            plan = []
            if explain:
                cur = raw.cursor()
                prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
                cur.execute(prefix + stmt, params)
                plan = [" | ".join(str(c) for c in row) for row in cur.fetchall()]
                cur.close()
            return ms, n, plan
        finally:
            raw.close()

    def pg_jit(marker: str) -> str:
        """PostgreSQL only: how much of the statement's time is JIT compilation, and its time with jit off."""
        stmt, params = next((s, p) for s, p in reversed(captured) if marker in s)
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("EXPLAIN (ANALYZE) " + stmt, params)
            text = "\n".join(row[0] for row in cur.fetchall())
            settings = {}
            for name in ("jit", "jit_above_cost", "jit_optimize_above_cost"):
                cur.execute(f"SHOW {name}")
                settings[name] = cur.fetchone()[0]
            cur.execute("SET jit = off")

            def run():
                cur.execute(stmt, params)
                return len(cur.fetchall())
            off_ms, _n = med(run)
            raw.rollback()
        finally:
            raw.close()
        total = re.search(r"Execution Time: ([\d.]+)", text)
        jit = re.search(r"Timing:.*?Total ([\d.]+) ms", text)
        cost = re.search(r"cost=[\d.]+\.\.([\d.]+)", text)
        return (f"EXPLAIN ANALYZE: execution {float(total.group(1)) if total else float('nan'):,.0f} ms, of which JIT "
                f"compilation {float(jit.group(1)) if jit else 0:,.0f} ms (estimated plan cost "
                f"{float(cost.group(1)) if cost else float('nan'):,.0f}; jit={settings['jit']}, jit_above_cost="
                f"{settings['jit_above_cost']}, jit_optimize_above_cost={settings['jit_optimize_above_cost']}); "
                f"the same SQL after SET jit = off: {off_ms:,.0f} ms")

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute",
                        lambda _conn, _cursor, statement, parameters, _context, _many:
                        captured.append((statement, parameters)))
        admin = db.session.scalar(sa.select(User).where(User.username == spec["admin"]))
        reader = db.session.scalar(sa.select(User).where(User.username == spec["reader"]))
        dept = db.session.scalar(sa.select(Department).where(Department.code == spec["dept"]))
        sop = db.session.scalar(sa.select(Sop).where(Sop.code == spec["export"]))
        plans = []
        with app.test_request_context(f"/acks/departments/{dept.code}"):
            login_user(admin)
            t_duties, items = med(lambda: duties(User.department_id == dept.id))
            sql_ms, nrows, plan = raw_sql("people", spec["explain"])
            plans.append((f"duties(User.department_id == {dept.id})", plan))
            t_report, (total, rows) = med(lambda: department_report(dept))
            t_render, html = med(lambda: render_template("acks/department.html", dept=dept, total=total, rows=rows))
            print(f"department {dept.code} (admin): {len(items):,} duties; SQL execute+fetch {sql_ms:,.0f} ms "
                  f"({nrows:,} rows) | duties() {t_duties:,.0f} ms (so Python ~{t_duties - sql_ms:,.0f} ms) | "
                  f"department_report() {t_report:,.0f} ms | template {t_render:,.1f} ms ({len(html) / 1024:.0f} KB); "
                  f"states: {total[DONE]:,} done, {total[OUTSTANDING]:,} outstanding, {total[OVERDUE]:,} overdue "
                  f"({total.percent}% done)")
            if db.engine.dialect.name == "postgresql":
                print(f"    department SQL on PostgreSQL: {pg_jit('people')}")
        with app.test_request_context("/reading"):
            login_user(reader)
            t_duties, items = med(lambda: duties(User.id == reader.id))
            sql_ms, nrows, plan = raw_sql("people", spec["explain"])
            plans.append((f"duties(User.id == {reader.id})", plan))
            open_ids = [d.sop_id for d in items if d.state != DONE]
            t_last, resign = med(lambda: last_signatures(reader.id, open_ids))
            groups = by_state(items)
            t_render, html = med(lambda: render_template("acks/mine.html", groups=groups, total=len(items),
                                                         resign=resign))
            print(f"reading {reader.username}: {len(items)} duties ({len(open_ids)} open); SQL execute+fetch "
                  f"{sql_ms:,.1f} ms | duties() {t_duties:,.1f} ms | last_signatures() {t_last:,.1f} ms | "
                  f"template {t_render:,.1f} ms ({len(html) / 1024:.0f} KB)")
        with app.test_request_context(f"/acks/sops/{sop.code}/export", method="POST"):
            login_user(admin)
            t_sig, acks = med(lambda: signatures(sop), runs=2)
            sql_ms, nrows, plan = raw_sql("FROM acknowledgement", spec["explain"])
            plans.append((f"signatures({sop.code})", plan))
            t_xlsx, xlsx = med(lambda: exports.to_xlsx(sop, acks), runs=2)
            t_csv, csv_ = med(lambda: exports.to_csv(sop, acks), runs=2)
            print(f"export {sop.code}: signatures() {t_sig:,.0f} ms for {len(acks):,} rows (SQL execute+fetch "
                  f"{sql_ms:,.0f} ms, so ORM ~{t_sig - sql_ms:,.0f} ms) | to_xlsx {t_xlsx:,.0f} ms "
                  f"({len(xlsx) / 1024:,.0f} KB) | to_csv {t_csv:,.0f} ms ({len(csv_) / 1024:,.0f} KB)")
            from werkzeug.security import check_password_hash
            t_pw, _ = med(lambda: check_password_hash(admin.password_hash, PASSWORD))
            print(f"sign/login: check_password {t_pw:,.0f} ms per call ({admin.password_hash.split('$')[0]})")
        names = admin.username, reader.username, dept.code, sop.code
        # Someone who must sign the SOP published today and has not (the storm signed for the first ones).
        bench_sop = db.session.scalar(sa.select(Sop).where(Sop.code == BENCH_SOP))
        signer = None
        if bench_sop is not None:
            signed = sa.select(Acknowledgement.user_id).where(
                Acknowledgement.revision_id == bench_sop.current_revision_id)
            signer = next((d.user_id for d in duties(User.role == "staff", sop_id=bench_sop.id)
                           if d.signed_at is None and d.user_id not in set(db.session.scalars(signed))), None)
            signer = signer and (db.session.get(User, signer).username, bench_sop.current_revision_id)

    # Whole routes through the test client (no HTTP, no gunicorn), with the number of SQL statements each runs.
    # Outside the app context above, so each request gets its own context, session and current_user.
    admin_name, reader_name, dept_code, sop_code = names

    def shape(statement: str) -> str:
        """SELECT <first column> ... FROM <first table>: enough to recognise a statement run once per row."""
        flat = re.sub(r"\s+", " ", statement)
        m = re.match(r"(SELECT \S+).*? FROM (\S+)", flat)
        return f"{m.group(1)} ... FROM {m.group(2)}" if m else flat[:60]

    def client_for(username):
        client = app.test_client()
        client.post("/login", data={"username": username, "password": PASSWORD})
        return client

    admin_client, reader_client = client_for(admin_name), client_for(reader_name)
    parts = []
    for label, client, method, path, data in (
            (f"GET /acks/departments/{dept_code}", admin_client, "GET", f"/acks/departments/{dept_code}", None),
            ("GET /reading", reader_client, "GET", "/reading", None),
            (f"export {sop_code} csv", admin_client, "POST", f"/acks/sops/{sop_code}/export", {"format": "csv"}),
            (f"export {sop_code} xlsx", admin_client, "POST", f"/acks/sops/{sop_code}/export", {"format": "xlsx"})):
        def call():
            captured.clear()
            resp = client.open(path, method=method, data=data)
            return resp.status_code, len(captured), Counter(shape(st) for st, _p in captured)
        ms, (status, n_sql, shapes) = med(call, runs=2)
        top, top_n = shapes.most_common(1)[0] if shapes else ("", 0)
        begins = shapes.get("BEGIN IMMEDIATE", 0)  # SQLite: each one takes the database's write lock
        parts.append(f"{label}: {ms:,.0f} ms, {n_sql:,} SQL statements (status {status}; most repeated, "
                     f"{top_n:,}x: {top})" + (f"; write-lock transactions (BEGIN IMMEDIATE): {begins}"
                                              if begins else ""))
    if signer:  # one signature, as the sign panel's htmx POST sends it (a second call would find it signed)
        client = client_for(signer[0])
        captured.clear()
        t0 = time.perf_counter()
        resp = client.post(f"/sops/{BENCH_SOP}/ack", data={"revision_id": signer[1], "password": PASSWORD},
                           headers={"HX-Request": "true"})
        ms = (time.perf_counter() - t0) * 1e3
        shapes = Counter(shape(st) for st, _p in captured)
        begins = shapes.get("BEGIN IMMEDIATE", 0)
        parts.append(f"sign POST /sops/{BENCH_SOP}/ack (htmx) as {signer[0]}: {ms:,.0f} ms, {len(captured)} SQL "
                     f"statements (status {resp.status_code})" + (
                         f"; write-lock transactions (BEGIN IMMEDIATE): {begins}" if begins else ""))
    print("routes via the test client:")
    for part in parts:
        print(f"    {part}")
    if spec["explain"]:
        for name, plan in plans:
            print(f"plan of {name}:")
            for line in plan:
                print(f"    {line}")


def profile(env: dict, spec: dict) -> list[str]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--profile-child", json.dumps(spec)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0:
        lines.append(f"(breakdown failed, exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return lines


# ---------------------------------------------------------------- one database


def say(text: str = "") -> None:
    print(text, flush=True)


def run_database(kind: str, plan: Plan, args) -> dict:
    result = {"db": kind}
    with tempfile.TemporaryDirectory(prefix=f"sop-bench-acks-{kind}-") as tmp_name:
        tmp = Path(tmp_name)
        instance = tmp / "instance"
        (instance / "sops").mkdir(parents=True)
        pg_name = f"sop_bench_acks_{os.getpid()}"
        url = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{pg_name}" if kind == "postgres" else None
        env = bench_env(instance, url)
        server = None
        try:
            if url:
                pg_admin(f"DROP DATABASE IF EXISTS {pg_name}")
                pg_admin(f"CREATE DATABASE {pg_name}")
            t0 = time.perf_counter()
            run_flask(["db", "upgrade"], env)
            t_migrate = time.perf_counter() - t0
            t0 = time.perf_counter()
            if kind == "sqlite":
                seed_sqlite(instance / "portal.db", plan)
                notes = []
                db = Database("sqlite", sqlite_path=instance / "portal.db")
            else:
                notes = seed_postgres(url, plan)
                db = Database("postgres", url=url)
            result["seed_s"] = time.perf_counter() - t0
            counts = {t: db.query(f'SELECT count(*) FROM {q}')[0][0] for t, q in (
                ("users", '"user"'), ("departments", "department"), ("positions", "position"), ("sops", "sop"),
                ("revisions", "sop_revision"), ("audience rows", "sop_audience"), ("signatures", "acknowledgement"))}
            result["counts"] = counts
            size = ""
            if kind == "sqlite":
                size = f"; file {(instance / 'portal.db').stat().st_size / 2**20:,.0f} MB"
            else:
                size = f"; database {db.query('SELECT pg_database_size(current_database())')[0][0] / 2**20:,.0f} MB"
            say(f"[{kind}] migrated in {t_migrate:.1f} s; seeded in {result['seed_s']:.1f} s{size}")
            say(f"[{kind}] rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            for note in notes:
                say(f"[{kind}] note: {note}")

            port = free_port()
            log = tmp / "gunicorn.log"
            server = start_gunicorn(port, args.workers, env, log)
            wait_ready(server, port, log)
            result["load_before"] = os.getloadavg()[0]
            say(f"[{kind}] gunicorn: {args.workers} sync workers on {HOST}:{port}, rate limits off; "
                f"1-min load average before measuring {result['load_before']:.2f}")

            if not args.sign_only:
                # Department report.
                admin = Browser(port).login("admin")
                depts = [d[1] for d in plan.depts]
                dept_paths = [(admin, f"/acks/departments/{c}") for c in depts]
                t0 = time.perf_counter()
                result["dept"] = timed_gets(dept_paths, args.dept_requests, warmup=min(len(depts), 2 * args.workers))
                result["dept_s"] = time.perf_counter() - t0
                d = result["dept"]
                say(f"[{kind}] GET /acks/departments/<code> as admin, {len(depts)} departments in turn: "
                    f"p50 {d['p50']:,.0f} ms, p95 {d['p95']:,.0f} ms, max {d['max']:,.0f} ms over {d['n']} requests"
                    f"{'; errors ' + str(d['errors']) if d['errors'] else ''}")
                manager = Browser(port).login("fo.manager")
                m_n = max(5, args.dept_requests // 3)
                result["dept_mgr"] = timed_gets([(manager, "/acks/departments/FO")], m_n, warmup=2)
                d = result["dept_mgr"]
                say(f"[{kind}] GET /acks/departments/FO as fo.manager: p50 {d['p50']:,.0f} ms, p95 {d['p95']:,.0f} ms "
                    f"over {d['n']} requests{'; errors ' + str(d['errors']) if d['errors'] else ''}")

                # The overview of all departments (every duty of every person): a few requests only.
                if args.overview_requests:
                    result["overview"] = timed_gets([(admin, "/acks/")], args.overview_requests, warmup=0)
                    d = result["overview"]
                    say(f"[{kind}] GET /acks/ (all departments) as admin: p50 {d['p50']:,.0f} ms, max {d['max']:,.0f} ms "
                        f"over {d['n']} requests{'; errors ' + str(d['errors']) if d['errors'] else ''}")

                # My required reading.
                readers = plan.readers(5)
                reader_browsers = [(Browser(port).login(plan.usernames[u]), "/reading") for u in readers]
                result["reading"] = timed_gets(reader_browsers, args.reading_requests, warmup=2 * args.workers)
                d = result["reading"]
                say(f"[{kind}] GET /reading as {len(readers)} staff with "
                    f"{'/'.join(str(plan.duty_count[u]) for u in readers)} duties: p50 {d['p50']:,.1f} ms, "
                    f"p95 {d['p95']:,.1f} ms, max {d['max']:,.0f} ms over {d['n']} requests"
                    f"{'; errors ' + str(d['errors']) if d['errors'] else ''}")

                # Export of the SOP with the most signatures.
                code, n_sig = db.query("SELECT s.code, count(*) FROM acknowledgement a JOIN sop s ON s.id = a.sop_id "
                                       "GROUP BY s.code ORDER BY count(*) DESC, s.code LIMIT 1")[0]
                result["export_sop"], result["export_rows"] = code, n_sig
                for fmt in ("xlsx", "csv"):
                    r = result[f"export_{fmt}"] = export_runs(admin, code, fmt, args.export_runs)
                    say(f"[{kind}] POST /acks/sops/{code}/export format={fmt} ({n_sig:,} signatures, "
                        f"{r['bytes'] / 1024:,.0f} KB): median {r['median']:.2f} s, min {r['min']:.2f} s, "
                        f"max {r['max']:.2f} s over {args.export_runs} runs"
                        f"{'; errors ' + str(r['errors']) if r['errors'] else ''}")

            # Concurrent signing.
            signers = plan.signers(args.sign_users)
            if len(signers) < args.sign_users:
                say(f"[{kind}] note: only {len(signers)} active staff owe {plan.bench['code']}; use more --users")
            s = result["sign"] = sign_storm(port, plan, signers, args.sign_per_user, db, log, env)
            say(f"[{kind}] sign storm: {s['users']} users x {args.sign_per_user} simultaneous POST /sops/{plan.bench['code']}/ack "
                f"= {s['requests']} requests (sessions prepared in {s['prep_s']:.1f} s), done in {s['wall_s']:.1f} s; "
                f"latency p50 {s['p50']:,.0f} ms, p95 {s['p95']:,.0f} ms, max {s['max']:,.0f} ms")
            say(f"[{kind}]   statuses {dict(s['statuses'])}; rows for these (user, revision) pairs {s['rows']} "
                f"(distinct pairs {s['pairs']}, expected {s['users']}); new rows for the revision {s['new_rows']}; "
                f"new ack.sign audit events {s['audit_new']}")
            say(f"[{kind}]   5xx {s['5xx']}; connection errors {s['conn_errors']}; 'database is locked' errors "
                f"{s['locked']}; tracebacks {s['tracebacks']}; worker timeouts {s['timeouts']}; audit verify: "
                f"{s['verify']}")
            if s["login_retries"]:
                say(f"[{kind}]   note: {s['login_retries']} login(s) while preparing the sessions failed "
                    "and were retried")
            result["load_after"] = os.getloadavg()[0]
            stop_gunicorn(server)
            server = None
            errors = error_summary(log.read_text(errors="replace"))
            if errors:
                say(f"[{kind}] the gunicorn log has errors; the first one, in the app's code:")
                for line in errors:
                    say(f"[{kind}]     {line}")

            # In-process breakdown.
            if not args.sign_only:
                spec = {"admin": "admin", "reader": plan.usernames[readers[0]], "dept": "FO", "export": code,
                        "explain": args.explain}
                say(f"[{kind}] in-process breakdown (no HTTP; medians of 3 after a warm-up):")
                result["profile"] = profile(env, spec)
                for line in result["profile"]:
                    say(f"[{kind}]   {line}")
        finally:
            if server is not None:
                stop_gunicorn(server)
            if url:
                try:
                    pg_admin(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")
                except Exception as e:  # noqa: BLE001
                    say(f"[{kind}] note: could not drop database {pg_name}: {e}")
    return result


# ---------------------------------------------------------------- main


def summary(results: list[dict]) -> None:
    say()
    say("summary" + " " * 39 + "".join(f"{r['db']:>16}" for r in results) + "   target")

    def row(label, fn, target=""):
        say(f"  {label:<44}" + "".join(f"{fn(r):>16}" for r in results) + f"   {target}")

    row("1-min load average before / after HTTP", lambda r: f"{r['load_before']:.1f} / {r['load_after']:.1f}")
    row("seed time", lambda r: f"{r['seed_s']:.1f} s")
    row("signatures", lambda r: f"{r['counts']['signatures']:,}")
    if all("dept" in r for r in results):
        row("department report p50 / p95 (ms)", lambda r: f"{r['dept']['p50']:,.0f} / {r['dept']['p95']:,.0f}",
            f"p95 <= {TARGETS['dept_p95']:.0f} ms")
        row("  as the department's manager p50 / p95", lambda r: f"{r['dept_mgr']['p50']:,.0f} / "
            f"{r['dept_mgr']['p95']:,.0f}")
        if all("overview" in r for r in results):
            row("GET /acks/ all departments p50 (ms)", lambda r: f"{r['overview']['p50']:,.0f}")
        row("my required reading p50 / p95 (ms)", lambda r: f"{r['reading']['p50']:,.1f} / {r['reading']['p95']:,.1f}",
            f"p95 <= {TARGETS['reading_p95']:.0f} ms")
        row("export xlsx (median s)", lambda r: f"{r['export_xlsx']['median']:.2f}", f"<= {TARGETS['export_s']:.0f} s")
        row("export csv (median s)", lambda r: f"{r['export_csv']['median']:.2f}", f"<= {TARGETS['export_s']:.0f} s")
    row("sign storm: rows / expected pairs", lambda r: f"{r['sign']['rows']} / {r['sign']['users']}", "equal")
    row("sign storm: 5xx", lambda r: f"{r['sign']['5xx']}", "0")
    row("sign storm: 'database is locked' errors", lambda r: f"{r['sign']['locked']}", "0")
    row("sign storm: wall time", lambda r: f"{r['sign']['wall_s']:.1f} s")
    row("sign storm: audit verify", lambda r: "intact" if r["sign"]["verify_ok"] else "NOT intact", "intact")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--profile-child":
        profile_child(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--sops", type=int, default=500)
    ap.add_argument("--signatures", type=int, default=2_500_000, help="approximate number of signatures")
    ap.add_argument("--dept-requests", type=int, default=30, help="department report requests as admin")
    ap.add_argument("--overview-requests", type=int, default=2,
                    help="GET /acks/ (all departments) requests as admin; 0 skips them")
    ap.add_argument("--reading-requests", type=int, default=100)
    ap.add_argument("--export-runs", type=int, default=3, help="downloads per export format")
    ap.add_argument("--sign-users", type=int, default=100, help="users in the sign storm")
    ap.add_argument("--sign-per-user", type=int, default=2,
                    help="simultaneous requests per user in the storm (2: a double click; 1: distinct signers)")
    ap.add_argument("--sign-only", action="store_true",
                    help="only the sign storm: skip the reports, my reading, exports and the breakdown")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    ap.add_argument("--seed", type=int, default=2026, help="random seed of the data set")
    ap.add_argument("--explain", action="store_true", help="also print the query plans of the breakdown")
    args = ap.parse_args()
    if args.users < 50 or args.sops < 10:
        sys.exit("--users must be at least 50 and --sops at least 10")

    started = time.perf_counter()
    say(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}; load generator and server share the cores; "
        f"1-min load average {os.getloadavg()[0]:.2f} (anything above ~0.2 means other processes compete)")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds:
        reason = postgres_available()
        if reason:
            say(f"note: PostgreSQL skipped: {reason}")
            kinds.remove("postgres")
    plan = Plan(args.users, args.sops, args.signatures, args.seed)
    say(f"data set: {len(plan.users):,} users in {len(plan.depts)} departments ({len(plan.positions)} positions), "
        f"{len(plan.sops):,} SOPs, {len(plan.revisions):,} revisions, {len(plan.audience):,} audience rows, "
        f"{plan.audience_pairs:,} (person, SOP) duties, {len(plan.sig_keys):,} signatures "
        f"(share of other revisions signed q={plan.q:.2f}); generated in {plan.plan_seconds:.1f} s")
    counts = sorted(plan.duty_count[u] for u in range(1, len(plan.names)))
    say(f"duties per person: min {counts[0]}, median {counts[len(counts) // 2]}, max {counts[-1]}")
    results = []
    for kind in kinds:
        say()
        results.append(run_database(kind, plan, args))
    if results:
        summary(results)
    say()
    say(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

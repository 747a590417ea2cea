"""Checklists benchmark: "my checklists", item ticks and the recurring schedule with 1,000 open runs.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/checklists.py

Everything happens in a temporary folder (never instance/): a copy of content/ (its org.yaml gets 500 more
departments, the "teams" T001-T500 named 班组001-班组500), a fresh SQLite database (`flask db upgrade`,
`flask demo load`), then three benchmark templates written into the copy's checklists/ and `flask checklists
sync`:
  - BENCH-ONB    onboarding, 30 items (day offsets, 4 SOP items, notes, numbers, @经理/@IT items);
  - BENCH-ADHOC  ad hoc, 30 items;
  - BENCH-TEAM   recurring daily, 30 items, `departments:` lists all 500 teams.
Seeding (in-process, app.checklists.runs.start() for every run, one commit): 200 users with one shared
password hash, plus the measured user `bench.me` (前厅部, 夜审员), and exactly 1,000 open runs of 30 items:
  - bench.me: 1 onboarding + 7 ad hoc runs (8), and one item reassigned to bench.me in 2 other people's runs;
  - 200 onboarding runs (one per seeded user), 300 team runs of BENCH-TEAM dated yesterday (T001-T300,
    not finished), 492 ad hoc runs of the seeded users; some items of every run are already done.
`flask demo load` adds its own few runs (the new hire's onboarding, today's two team runs; bench.me, a 夜审员
of 前厅部, works today's 夜审前检查 too).

Measured (one request at a time, through gunicorn -c gunicorn.conf.py -w 2 on 127.0.0.1, rate limits off):
  - GET /checklists/ as bench.me (target p95 <= 50 ms);
  - POST /checklists/runs/<run>/items/<item> done=1 / done=0 alternately on plain items of bench.me's runs,
    with csrf_token and HX-Request: true, each expected 200 with the item fragment (target p95 <= 30 ms);
  - in-process breakdown of both (no HTTP): SQL statements with their time, the Python around them;
  - `flask checklists schedule --date <tomorrow>` as a subprocess for the 500 teams: wall time (target
    <= 5 s), then the same command again (idempotent: should create 0), and the CLI's start-up alone;
    then schedule() in-process (time in start(), in ORM flushes, in SQL), for a new day (rolled back) and
    for the day already scheduled.
Every figure is printed, never asserted. The client runs on the same cores as the server.
"""
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from harness import (HOST, ROOT, Client, bench_env, free_port, load, percentile, run_flask, start_gunicorn,  # noqa: E402
                     stop_gunicorn, wait_ready)
TEAMS = 500
OTHER_USERS = 200
ME, PASSWORD = "bench.me", "bench-2026"
PAGE_REQUESTS, TICK_REQUESTS, WARMUP = 300, 300, 20
TARGET_PAGE_P95, TARGET_TICK_P95, TARGET_SCHEDULE_S = 50, 30, 5
SOPS = ["FO-CI-001", "FO-HO-001", "IT-MEM-001", "FO-NA-001"]  # in the demo content
REAL_DEPTS = ["前厅部", "IT支持部", "客服中心", "财务部"]


def team_name(n: int) -> str:
    return f"班组{n:03d}"


# ---------------------------------------------------------------- content


def onboarding_md() -> str:
    lines = ["---", "id: BENCH-ONB", "title: 基准测试入职计划（30 项）", "kind: onboarding", "---", ""]
    n = 0
    for section in range(1, 5):
        lines += [f"## 第{section}阶段", ""]
        for k in range(8 if section < 4 else 6):
            n += 1
            extra = ""
            if n in (2, 9, 17, 25):
                extra = f" [[{SOPS[(n // 8) % len(SOPS)]}]]"
            elif n in (4, 20):
                extra = " {备注}"
            elif n in (6, 22):
                extra = " {数值}"
            elif n in (8, 16, 30):
                extra = " @经理"
            elif n in (3, 11):
                extra = " @IT"
            lines.append(f"- [ ] 入职任务 {n}：完成第 {n} 项培训内容{extra} (第{min(22, 1 + (n - 1) * 22 // 29)}天)")
        lines.append("")
    return "\n".join(lines)


def adhoc_md() -> str:
    lines = ["---", "id: BENCH-ADHOC", "title: 基准测试临时任务（30 项）", "kind: adhoc", "---", ""]
    for n in range(1, 31):
        if n % 10 == 1:
            lines += ["", f"## 步骤组 {n // 10 + 1}", ""]
        extra = " {备注}" if n == 15 else " {数值}" if n == 30 else ""
        lines.append(f"- [ ] 临时任务第 {n} 步：检查并记录{extra}")
    return "\n".join(lines) + "\n"


def team_md() -> str:
    names = ", ".join(team_name(n) for n in range(1, TEAMS + 1))
    lines = ["---", "id: BENCH-TEAM", "title: 班组每日检查（30 项）", "kind: recurring", "schedule: daily",
             f"departments: [{names}]", "---", ""]
    for n in range(1, 31):
        if n % 10 == 1:
            lines += ["", f"## 检查区 {n // 10 + 1}", ""]
        extra = " {数值}" if n in (10, 20) else " {备注}" if n == 30 else ""
        lines.append(f"- [ ] 每日检查第 {n} 项：设备与记录正常{extra}")
    return "\n".join(lines) + "\n"


def prepare_content(tmp: Path) -> Path:
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    org = content / "org.yaml"
    extra = "".join(f"  - code: T{n:03d}\n    name: {team_name(n)}\n    name_en: Team {n:03d}\n"
                    for n in range(1, TEAMS + 1))
    org.write_text(org.read_text(encoding="utf-8").rstrip("\n") + "\n" + extra, encoding="utf-8")
    return content


# ---------------------------------------------------------------- processes
















# ---------------------------------------------------------------- HTTP client






def stats(values: list[float]) -> str:
    return (f"n={len(values)}  p50 {percentile(values, 50):6.1f} ms  p95 {percentile(values, 95):6.1f} ms  "
            f"p99 {percentile(values, 99):6.1f} ms  max {max(values) * 1e3:6.1f} ms")




# ---------------------------------------------------------------- seeding (in-process)


def seed(app) -> dict:
    import sqlalchemy as sa
    from werkzeug.security import generate_password_hash

    from app.auth.models import User
    from app.checklists.models import ChecklistRun, ChecklistTemplate, RunItem
    from app.checklists.runs import start
    from app.extensions import db
    from app.org import Department, Position

    rng = random.Random(2026)
    today = date.today()
    with app.app_context():
        depts = {d.name: d for d in db.session.scalars(sa.select(Department))}
        positions = defaultdict(list)
        for p in db.session.scalars(sa.select(Position)):
            positions[p.department_id].append(p)
        pw_hash = generate_password_hash(PASSWORD)
        me = User(username=ME, display_name="基准用户", email="bench.me@example.invalid", password_hash=pw_hash,
                  department=depts["前厅部"], role="staff", start_date=today - timedelta(days=10),
                  positions=[p for p in positions[depts["前厅部"].id] if p.name == "夜审员"])
        others = []
        for n in range(OTHER_USERS):
            if n % 3 == 0:  # a third in the four real departments, with one of their positions
                dept = depts[REAL_DEPTS[n % 4]]
                pos = [rng.choice(positions[dept.id])]
            else:
                dept, pos = depts[team_name(1 + n * 7 % TEAMS)], []
            others.append(User(username=f"bench.u{n:03d}", display_name=f"员工{n:03d}", email="", password_hash=pw_hash,
                               department=dept, positions=pos, role="staff",
                               start_date=today - timedelta(days=rng.randrange(0, 60))))
        db.session.add_all([me, *others])
        db.session.flush()

        revs = {t.code: t.current for t in db.session.scalars(sa.select(ChecklistTemplate).where(
            ChecklistTemplate.code.in_(["BENCH-ONB", "BENCH-ADHOC", "BENCH-TEAM"])))}
        items = {code: rev.items for code, rev in revs.items()}
        onb, adhoc, team = revs["BENCH-ONB"], revs["BENCH-ADHOC"], revs["BENCH-TEAM"]

        def onboarding(user):
            return start(onb.template.title, "onboarding", items["BENCH-ONB"], user.start_date, revision=onb,
                         assignee=user, dedupe_key=f"onboarding:BENCH-ONB:{user.id}")

        def adhoc_run(user, day):
            return start(adhoc.template.title, "adhoc", items["BENCH-ADHOC"], day, revision=adhoc, assignee=user,
                         department=user.department, created_by=user)

        mine = [onboarding(me)] + [adhoc_run(me, today - timedelta(days=k)) for k in range(7)]
        runs = list(mine)
        runs += [onboarding(u) for u in others]
        yesterday = today - timedelta(days=1)
        for n in range(1, 301):
            d = depts[team_name(n)]
            runs.append(start(team.template.title, "recurring", items["BENCH-TEAM"], yesterday, revision=team,
                              department=d, positions=team.meta["positions"],
                              dedupe_key=f"recurring:BENCH-TEAM:{d.id}:{yesterday.isoformat()}"))
        while len(runs) < 1000:
            runs.append(adhoc_run(rng.choice(others), today - timedelta(days=rng.randrange(0, 30))))
        db.session.flush()
        # Two other people's runs have one item handed to bench.me (the third branch of "my checklists").
        reassigned = [r for r in runs[len(mine):] if r.kind == "adhoc"][:2]
        for r in reassigned:
            r.items[5].assignee_id = me.id
        # Progress: in every run some plain items are done already.
        db.session.execute(sa.text(
            "UPDATE run_item SET done_at = :at, done_by_id = (SELECT COALESCE(r.assignee_id, :fallback) "
            "FROM checklist_run r WHERE r.id = run_item.run_id) "
            "WHERE sop_code IS NULL AND evidence = '' AND assignee_id IS NULL AND position < (run_id * 7) % 25"),
            {"at": datetime.now(timezone.utc) - timedelta(hours=2), "fallback": others[1].id})
        db.session.commit()

        # Items to tick over HTTP: plain items of bench.me's own runs (2 from each of 6 runs).
        ticks = []
        for r in mine[:6]:
            plain = list(db.session.execute(sa.select(RunItem.id, RunItem.done_at.is_not(None)).where(
                RunItem.run_id == r.id, RunItem.sop_code.is_(None), RunItem.evidence == "",
                RunItem.role == "assignee", RunItem.assignee_id.is_(None)).order_by(RunItem.position)))
            ticks += [(r.id, item_id, bool(done)) for item_id, done in (plain[1], plain[-2])]
        count = lambda model, *where: db.session.scalar(  # noqa: E731
            sa.select(sa.func.count()).select_from(model).where(*where))
        info = {
            "me_id": me.id, "me_runs": [r.id for r in mine], "reassigned": [r.id for r in reassigned],
            "ticks": ticks, "seeded_runs": len(runs),
            "departments": count(Department), "users": count(User),
            "runs": count(ChecklistRun), "open_runs": count(ChecklistRun, ChecklistRun.finished_at.is_(None)),
            "run_items": count(RunItem), "items_done": count(RunItem, RunItem.done_at.is_not(None)),
            "by_kind": dict(db.session.execute(
                sa.select(ChecklistRun.kind, sa.func.count()).group_by(ChecklistRun.kind)).all()),
        }
        db.session.remove()
        db.engine.dispose()
        return info


# ---------------------------------------------------------------- in-process breakdown


class SqlTimer:
    """Records every statement's time on the engine while `active`."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.active, self.rows = False, []
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, params, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, executemany):
        if self.active:
            self.rows.append((statement, params, time.perf_counter() - conn.info.pop("bench_t0")))


def breakdown(app, info: dict, timer: SqlTimer) -> None:
    import sqlalchemy as sa
    from flask import render_template
    from flask_login import login_user

    from app.auth.models import User
    from app.checklists import views
    from app.checklists.runs import completion
    from app.extensions import db

    rounds = 40
    with app.app_context():
        parts = defaultdict(list)
        per_stmt = defaultdict(list)
        plans = {}
        n_runs = 0

        def collect(label):
            for stmt, params, t in timer.rows:
                per_stmt[(label, " ".join(stmt.split()))].append(t)
                plans.setdefault(" ".join(stmt.split()), (stmt, params))
            parts[f"{label}: SQL (execute only, rows fetched later)"].append(sum(t for _s, _p, t in timer.rows))
            timer.rows.clear()

        for i in range(rounds + 3):
            db.session.remove()
            with app.test_request_context("/checklists/"):
                login_user(db.session.get(User, info["me_id"]))
                timer.active = True
                t0 = time.perf_counter()
                runs = views.my_runs()
                t1 = time.perf_counter()
                rows = [(r, completion(r)[1]) for r in runs]
                t2 = time.perf_counter()
                html = render_template("checklists/mine.html", runs=rows)
                t3 = time.perf_counter()
                timer.active = False
                if i < 3:  # warm-up (template compile, caches)
                    timer.rows.clear()
                    continue
                n_runs = len(runs)
                parts["page total (my_runs + completion + render)"].append(t3 - t0)
                parts["my_runs() total"].append(t1 - t0)
                parts["completion() x runs total"].append(t2 - t1)
                parts["render mine.html"].append(t3 - t2)
                collect("page")  # -> "page: SQL"
        print(f"  GET /checklists/ in-process, {rounds} rounds, {n_runs} runs listed, page {len(html) / 1024:.1f} KB:")
        for name in ("page total (my_runs + completion + render)", "my_runs() total", "completion() x runs total",
                     "render mine.html", "page: SQL (execute only, rows fetched later)"):
            v = parts[name]
            print(f"    {name:<46} p50 {percentile(v, 50):7.2f} ms   p95 {percentile(v, 95):7.2f} ms")
        print_statements(per_stmt, "page", rounds)

        # One tick/untick through the view function (CSRF is checked in before_request, not here).
        run_id, item_id, _done = info["ticks"][0]
        tick_parts = defaultdict(list)
        view = app.view_functions["checklists.tick_item"]
        for i in range(rounds + 4):
            db.session.remove()
            done_now = db.session.scalar(sa.text("SELECT done_at IS NOT NULL FROM run_item WHERE id = :i"),
                                         {"i": item_id})
            state = "0" if done_now else "1"
            with app.test_request_context(f"/checklists/runs/{run_id}/items/{item_id}", method="POST",
                                          data={"done": state}, headers={"HX-Request": "true"}):
                login_user(db.session.get(User, info["me_id"]))
                timer.active = True
                t0 = time.perf_counter()
                resp = view(run_id=run_id, item_id=item_id)
                t1 = time.perf_counter()
                timer.active = False
                db.session.remove()
                if i < 4:
                    timer.rows.clear()
                    continue
                status = resp.status_code if hasattr(resp, "status_code") else 200
                key = "tick (done=1)" if state == "1" else "untick (done=0, + audit record)"
                tick_parts[key].append(t1 - t0)
                tick_parts["tick+untick: SQL (execute only)"].append(sum(t for _s, _p, t in timer.rows))
                tick_parts["all"].append(t1 - t0)
                for stmt, params, t in timer.rows:
                    per_stmt[("tick", " ".join(stmt.split()))].append(t)
                    plans.setdefault(" ".join(stmt.split()), (stmt, params))
                timer.rows.clear()
                if status != 200:
                    print(f"    note: in-process tick answered {status}")
        print(f"  POST tick/untick in-process (view function, {rounds} calls alternating, commit included):")
        for name in ("all", "tick (done=1)", "untick (done=0, + audit record)", "tick+untick: SQL (execute only)"):
            v = tick_parts[name]
            if v:
                print(f"    {name:<46} p50 {percentile(v, 50):7.2f} ms   p95 {percentile(v, 95):7.2f} ms")
        print_statements(per_stmt, "tick", rounds)

        # Query plan of the statement that selects my runs.
        with db.engine.connect() as conn:
            for text, (stmt, params) in plans.items():
                if text.startswith("SELECT checklist_run.") and "run_item.assignee_id" in text:
                    print("  query plan of my_runs()'s run query (SQLite EXPLAIN QUERY PLAN):")
                    for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params):
                        print(f"    {row[-1]}")
                    break
            t0 = time.perf_counter()
            for _ in range(20):
                conn.exec_driver_sql("SELECT run_id FROM run_item WHERE assignee_id = ?", (info["me_id"],)).fetchall()
            print(f"  `SELECT run_id FROM run_item WHERE assignee_id = ?` alone (no index on run_item.assignee_id): "
                  f"{(time.perf_counter() - t0) / 20 * 1e3:.2f} ms")
        db.session.remove()


def schedule_breakdown(app, timer: SqlTimer, done_day: date, new_day: date) -> None:
    """schedule() in-process: once for a new day (then rolled back), once for the day the CLI already did."""
    import sqlalchemy as sa

    from app.checklists import runs as runs_module
    from app.extensions import db

    flush = {"t": 0.0, "n": 0, "t0": 0.0}

    def before_flush(session, _ctx, _inst):
        flush["t0"] = time.perf_counter()

    def after_flush(session, _ctx):
        flush["t"] += time.perf_counter() - flush["t0"]
        flush["n"] += 1

    sa.event.listen(sa.orm.Session, "before_flush", before_flush)
    sa.event.listen(sa.orm.Session, "after_flush_postexec", after_flush)
    per_start, original = [], runs_module.start

    def timed_start(*args, **kwargs):  # bench-only wrapper: schedule() looks start up in its module
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            per_start.append(time.perf_counter() - t0)

    runs_module.start = timed_start
    try:
        with app.app_context():
            for label, day in ((f"new day {new_day}", new_day), (f"again for {done_day} (all exist)", done_day)):
                db.session.remove()
                per_start.clear()
                flush.update(t=0.0, n=0)
                timer.rows.clear()
                timer.active = True
                t0 = time.perf_counter()
                made = runs_module.schedule(day)
                total = time.perf_counter() - t0
                timer.active = False
                sql = sum(t for _s, _p, t in timer.rows)
                by_kind = defaultdict(int)
                for stmt, _p, _t in timer.rows:
                    by_kind[stmt.split()[0].upper()] += 1
                db.session.rollback()
                first, last = per_start[:100], per_start[-100:]
                print(f"  schedule() {label}: {len(made)} runs in {total:.2f} s; start() {sum(per_start):.2f} s "
                      f"(first 100 calls {sum(first) / len(first) * 1e3:.1f} ms each, last 100 "
                      f"{sum(last) / len(last) * 1e3:.1f} ms each); ORM flushes {flush['n']} taking "
                      f"{flush['t']:.2f} s; "
                      f"SQL execute {sql:.2f} s over {len(timer.rows)} statements {dict(by_kind)}")
                timer.rows.clear()
            db.session.remove()
            db.engine.dispose()
    finally:
        runs_module.start = original
        sa.event.remove(sa.orm.Session, "before_flush", before_flush)
        sa.event.remove(sa.orm.Session, "after_flush_postexec", after_flush)


def print_statements(per_stmt: dict, label: str, rounds: int) -> None:
    rows = sorted(((sum(v) / rounds, len(v) / rounds, stmt) for (lab, stmt), v in per_stmt.items() if lab == label),
                  reverse=True)
    print(f"    SQL statements per call, by total execute time ({len(rows)} distinct):")
    for per_call, times, stmt in rows[:6]:
        print(f"      {per_call * 1e3:6.2f} ms  x{times:4.1f}  {stmt[:110]}")


# ---------------------------------------------------------------- main


def main() -> None:
    t_start = time.monotonic()
    print(f"checklists benchmark: {os.cpu_count()} cores, python {sys.version.split()[0]}, {load()}")
    with tempfile.TemporaryDirectory(prefix="sop-bench-checklists-") as tmp_name:
        tmp = Path(tmp_name)
        instance = tmp / "instance"
        content = prepare_content(tmp)
        env = bench_env(instance, content)
        t0 = time.monotonic()
        run_flask(["db", "upgrade"], env)
        run_flask(["demo", "load"], env)
        for name, text in (("bench-onboarding.md", onboarding_md()), ("bench-adhoc.md", adhoc_md()),
                           ("bench-team.md", team_md())):
            (content / "checklists" / name).write_text(text, encoding="utf-8")
        out, _t = run_flask(["checklists", "sync"], env)
        if "0 skipped" not in out:
            sys.exit(f"flask checklists sync reported errors:\n{out}")
        print(f"setup: temp instance {instance}, org.yaml + {TEAMS} teams, migrated, demo loaded, "
              f"templates synced ({out.strip().splitlines()[-1]}) in {time.monotonic() - t0:.1f} s")

        for key in ("SOP_INSTANCE_DIR", "CONTENT_DIR", "SOP_DIR", "FLASK_RATELIMIT_ENABLED", "SECRET_KEY"):
            os.environ[key] = env[key]
        for key in ("DATABASE_URL",):
            os.environ.pop(key, None)
        from app import create_app

        app = create_app()
        with app.app_context():
            from app.extensions import db

            timer = SqlTimer(db.engine)
        t0 = time.monotonic()
        info = seed(app)
        print(f"seeding: {info['seeded_runs']} open runs x 30 items via runs.start() + {OTHER_USERS + 1} users "
              f"in {time.monotonic() - t0:.1f} s (one commit)")
        print(f"rows: {info['departments']} departments, {info['users']} users, {info['runs']} runs "
              f"({info['open_runs']} open; by kind {info['by_kind']}), {info['run_items']} run items "
              f"({info['items_done']} done)")
        print(f"measured user {ME}: {len(info['me_runs'])} own runs + 2 with an item reassigned to them "
              f"+ today's 前厅部 夜审前检查 team run (demo)")

        # ------------------------------------------------------------ HTTP
        port = free_port()
        log = tmp / "gunicorn.log"
        server = start_gunicorn(port, env, log)
        try:
            wait_ready(server, port, log)
            client = Client(port)
            client.login(ME, PASSWORD)
            status, body, _t = client.request("GET", "/checklists/")
            token = re.search(rb'"X-CSRFToken": "([^"]+)"', body)
            if status != 200 or not token:
                sys.exit(f"GET /checklists/ answered {status} (token found: {bool(token)})")
            token = token.group(1).decode()
            listed = len(re.findall(rb'id="run-progress-\d+"', body))
            print(f"\ngunicorn: 2 sync workers on {HOST}:{port}; GET /checklists/ lists {listed} runs, "
                  f"{len(body) / 1024:.1f} KB")

            print(f"GET /checklists/ ({WARMUP} warm-up + {PAGE_REQUESTS} measured, sequential) — {load()}")
            page_times, page_errors = [], 0
            for i in range(WARMUP + PAGE_REQUESTS):
                status, body, elapsed = client.request("GET", "/checklists/")
                if i >= WARMUP:
                    if status == 200 and b"run-progress-" in body:
                        page_times.append(elapsed)
                    else:
                        page_errors += 1

            ticks = info["ticks"]
            state = {item_id: done for _r, item_id, done in ticks}
            print(f"POST tick/untick ({WARMUP} warm-up + {TICK_REQUESTS} measured over {len(ticks)} items, "
                  f"sequential) — {load()}")
            tick_times, untick_times, tick_errors, wrong = [], [], 0, 0
            for i in range(WARMUP + TICK_REQUESTS):
                run_id, item_id, _d = ticks[i % len(ticks)]
                done = not state[item_id]
                status, body, elapsed = client.request(
                    "POST", f"/checklists/runs/{run_id}/items/{item_id}",
                    form={"done": "1" if done else "0", "csrf_token": token}, headers={"HX-Request": "true"})
                ok = status == 200 and f'id="item-{item_id}"'.encode() in body
                if ok:
                    state[item_id] = done
                    if ("☑" if done else "☐").encode() not in body:
                        wrong += 1
                if i >= WARMUP:
                    if ok:
                        (tick_times if done else untick_times).append(elapsed)
                    else:
                        tick_errors += 1
                        if tick_errors == 1:
                            print(f"  first failed toggle: {status} {body[:300]!r}")
        finally:
            stop_gunicorn(server)

        # ------------------------------------------------------------ in-process
        print(f"\nin-process breakdown (no HTTP, same database) — {load()}")
        breakdown(app, info, timer)
        with app.app_context():
            db.engine.dispose()

        # ------------------------------------------------------------ schedule
        day = (date.today() + timedelta(days=1)).isoformat()  # tomorrow: not on anybody's page today
        print(f"\nflask checklists schedule --date {day} ({TEAMS} teams on BENCH-TEAM) — {load()}")
        _out, startup = run_flask(["checklists", "schedule", "--help"], env)
        first, t_first = run_flask(["checklists", "schedule", "--date", day], env)
        second, t_second = run_flask(["checklists", "schedule", "--date", day], env)
        print(f"  CLI start-up alone (`flask checklists schedule --help`): {startup:.2f} s")
        print(f"  first run : {t_first:.2f} s wall   -> {first.strip()}")
        print(f"  second run: {t_second:.2f} s wall   -> {second.strip()}")
        print(f"in-process schedule() breakdown — {load()}")
        schedule_breakdown(app, timer, date.fromisoformat(day), date.fromisoformat(day) + timedelta(days=1))
        with app.app_context():
            import sqlalchemy as sa

            from app.checklists.models import ChecklistRun, RunItem

            n_runs = db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistRun))
            n_day = db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistRun).where(
                ChecklistRun.run_date == date.fromisoformat(day)))
            n_items = db.session.scalar(sa.select(sa.func.count()).select_from(RunItem))
            db.session.remove()
            db.engine.dispose()

    # ---------------------------------------------------------------- summary
    print(f"  afterwards: {n_runs} runs ({n_day} dated {day}), {n_items} run items")

    print("\nresults")
    print(f"  GET /checklists/        {stats(page_times)}  errors {page_errors}   (target p95 <= {TARGET_PAGE_P95} ms)")
    both = tick_times + untick_times
    print(f"  POST item tick+untick   {stats(both)}  errors {tick_errors}   (target p95 <= {TARGET_TICK_P95} ms)")
    print(f"    tick   (done=1)       {stats(tick_times)}")
    print(f"    untick (done=0)       {stats(untick_times)}")
    if wrong:
        print(f"    note: {wrong} fragments did not show the expected mark")
    print(f"  schedule {TEAMS} teams      first {t_first:.2f} s, second (same day) {t_second:.2f} s "
          f"(target <= {TARGET_SCHEDULE_S} s)")
    print(f"  {load()}; the client shares the machine's cores with gunicorn; "
          f"runtime {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()

"""Rosters benchmark: a year generated for 50 teams of 30, the month grid of a team of 30, and "on duty now".

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/rosters.py

Everything happens in a temporary folder (never instance/): a copy of content/, a fresh SQLite database
(`flask db upgrade`, `flask demo load`: the demo teams get their roster from today to the end of next month).
Seeding (in-process, one shared password hash): 50 supervisors `btNN.lead` (role manager) and 1,500 members
`btNN.mKK` (30 per team); the copy's rosters/teams.yaml gets 50 more teams BT-01..BT-50 (30 members, own
supervisor, rules {max_consecutive: 6, min_days_off: 4, min_rest_hours: 11}, three shift types like the demo's
FO-DESK: D 07:30-15:30 min 2, E 15:30-23:30 min 2, N 23:30-07:30 min 1, with the demo's SOPs on them), synced
with app.rosters.teams.sync_teams(); the odd-numbered half of the members have signed those SOPs
(acknowledgement rows inserted directly).

Measured:
  - app.rosters.rules.generate(team, first of this month, one year later - 1 day) for the 50 teams in-process,
    one commit at the end: total wall time (target <= 5 s), per team, the commit, SQL and garbage-collector time
    (the heap is not frozen here, as in `flask rosters generate`);
  - GET /rosters/BT-01/month?m=<this month> as BT-01's supervisor, through gunicorn -c gunicorn.conf.py -w 2 on
    127.0.0.1 (rate limits off), one request at a time (target p95 <= 100 ms);
  - GET /duty (52 teams) the same way (target p95 <= 50 ms);
  - in-process breakdowns (no HTTP; after gc.freeze() like gunicorn.conf.py's post_worker_init): the month view
    split into grid() / check() (its entries() query and unsigned_sops()) / render_template (also with the
    editable links left out), on_duty() (its unsigned_sops(), its entries query alone) / render, the SQL
    statements of each, a cProfile of one call of each; before that, one team's year regenerated (rolled back):
    ORM flush, available()/need()/span(), the same rows through one Core executemany, and a cProfile.
Every figure is printed, never asserted. The client runs on the same cores as the server; other benchmarks
may be running too: the load average is printed next to each figure.
"""
import cProfile
import gc
import os
import pstats
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
TEAMS, MEMBERS = 50, 30
PASSWORD = "bench-2026"
MONTH_REQUESTS, DUTY_REQUESTS, WARMUP = 200, 200, 20
ROUNDS = 30  # in-process calls per breakdown
TARGET_GENERATE_S, TARGET_MONTH_P95, TARGET_DUTY_P95 = 5, 100, 50
# Like the demo's FO-DESK (its SOPs exist in the demo content).
SHIFTS = [("D", "白班", "07:30", "15:30", "#f6d365", 2, ["FO-CI-001", "FO-HO-001"]),
          ("E", "晚班", "15:30", "23:30", "#fda085", 2, ["FO-HO-001"]),
          ("N", "夜班", "23:30", "07:30", "#8e9eef", 1, ["FO-NA-001", "FO-HO-001"])]
SOP_CODES = sorted({c for s in SHIFTS for c in s[6]})


def team_code(t: int) -> str:
    return f"BT-{t:02d}"


def lead_name(t: int) -> str:
    return f"bt{t:02d}.lead"


def member_name(t: int, k: int) -> str:
    return f"bt{t:02d}.m{k:02d}"


def teams_yaml() -> str:
    lines = []
    for t in range(1, TEAMS + 1):
        members = ", ".join(member_name(t, k) for k in range(1, MEMBERS + 1))
        lines += [f"  - code: {team_code(t)}", f"    name: 基准班组{t:02d}", f"    supervisor: {lead_name(t)}",
                  f"    members: [{members}]", "    rules: {max_consecutive: 6, min_days_off: 4, min_rest_hours: 11}",
                  "    shifts:"]
        for code, name, start, end, colour, need, sops in SHIFTS:
            lines.append(f'      - {{code: {code}, name: {name}, start: "{start}", end: "{end}", colour: "{colour}", '
                         f'min_staff: {need}, holiday_min_staff: {need}, sops: [{", ".join(sops)}]}}')
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- processes
















# ---------------------------------------------------------------- HTTP client






def stats(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (f"n={len(values)}  p50 {percentile(values, 50):6.1f} ms  p95 {percentile(values, 95):6.1f} ms  "
            f"p99 {percentile(values, 99):6.1f} ms  max {max(values) * 1e3:6.1f} ms")




def short_load() -> str:
    return "load {:.2f}/{:.2f}/{:.2f}".format(*os.getloadavg())


# ---------------------------------------------------------------- seeding (in-process)


def seed(app, content: Path) -> dict:
    """Users, the 50 teams (teams.yaml + sync_teams), signatures for half the members; one commit."""
    import sqlalchemy as sa
    from werkzeug.security import generate_password_hash

    from app.acks.models import Acknowledgement
    from app.auth.models import User
    from app.extensions import db
    from app.org import Department
    from app.rosters.teams import sync_teams
    from app.sops.models import Sop

    with app.app_context():
        dept = db.session.scalar(sa.select(Department).where(Department.name == "前厅部"))
        pw_hash = generate_password_hash(PASSWORD)
        users = []
        for t in range(1, TEAMS + 1):
            users.append(User(username=lead_name(t), display_name=f"班组{t:02d}主管", email="", password_hash=pw_hash,
                              department=dept, role="manager", phone=f"139-{t:04d}-0000"))
            for k in range(1, MEMBERS + 1):
                users.append(User(username=member_name(t, k), display_name=f"班组{t:02d}成员{k:02d}", email="",
                                  password_hash=pw_hash, department=dept, role="staff", phone=f"139-{t:04d}-{k:04d}"))
        db.session.add_all(users)
        db.session.flush()

        path = content / "rosters" / "teams.yaml"
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + teams_yaml(), encoding="utf-8")
        t0 = time.monotonic()
        lines = sync_teams(path)
        t_sync = time.monotonic() - t0
        if not lines or "teams not changed" in lines[-1]:
            sys.exit(f"sync_teams failed: {lines}")

        # Half the members (odd numbers) have signed the current revision of the shifts' SOPs.
        sops = list(db.session.scalars(sa.select(Sop).where(Sop.code.in_(SOP_CODES))))
        at = datetime.now(timezone.utc) - timedelta(days=3)
        acks = [{"user_id": u.id, "revision_id": s.current.id, "sop_id": s.id, "basis_id": s.current.basis_id,
                 "printed_name": u.display_name, "signed_at": at, "meaning": "bench", "auth_method": "demo",
                 "content_sha256": s.current.content_hash, "ip": "", "voluntary": False}
                for u in users if u.role == "staff" and int(u.username[-2:]) % 2 == 1 for s in sops]
        db.session.execute(sa.insert(Acknowledgement), acks)
        db.session.commit()
        info = {"sync": lines[-1], "sync_s": t_sync, "users": len(users), "acks": len(acks),
                "sops": [s.code for s in sops]}
        db.session.remove()
        return info


def counts(app) -> dict:
    import sqlalchemy as sa

    from app.acks.models import Acknowledgement
    from app.auth.models import User
    from app.extensions import db
    from app.rosters.models import RosterEntry, ShiftType, Team, team_member

    with app.app_context():
        def n(model, *where):
            return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

        bench_team = Team.code.like("BT-%")
        out = {
            "teams": n(Team), "bench teams": n(Team, bench_team), "users": n(User),
            "team members": n(team_member), "shift types": n(ShiftType),
            "roster entries": n(RosterEntry),
            "bench entries": db.session.scalar(
                sa.select(sa.func.count()).select_from(RosterEntry).join(Team).where(bench_team)),
            "acknowledgements": n(Acknowledgement),
        }
        db.session.remove()
        return out


# ---------------------------------------------------------------- measurement helpers


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


class Timed:
    """Replaces module.name with a wrapper that sums its inclusive time and the SQL run inside it."""

    def __init__(self, module, name: str, timer: SqlTimer):
        self.module, self.name, self.timer = module, name, timer
        self.original = getattr(module, name)
        self.times, self.sql_n, self.sql_t = [], 0, 0.0
        setattr(module, name, self)

    def __call__(self, *args, **kwargs):
        n0, t0 = len(self.timer.rows), time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.times.append(time.perf_counter() - t0)
            inside = self.timer.rows[n0:]
            self.sql_n += len(inside)
            self.sql_t += sum(t for _s, _p, t in inside)

    def reset(self):
        self.times, self.sql_n, self.sql_t = [], 0, 0.0

    def restore(self):
        setattr(self.module, self.name, self.original)


class GcTimer:
    """Time spent in the cyclic garbage collector while `active` (gc.callbacks), per generation."""

    def __init__(self):
        self.active, self.t0 = False, 0.0
        self.seconds, self.runs = defaultdict(float), defaultdict(int)
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if not self.active:
            return
        if phase == "start":
            self.t0 = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self.t0
            self.runs[info["generation"]] += 1

    def summary(self) -> str:
        parts = ", ".join(f"gen{g} x{self.runs[g]} {self.seconds[g]:.2f} s" for g in sorted(self.runs))
        return f"{sum(self.seconds.values()):.2f} s ({parts or 'none'})"

    def close(self):
        gc.callbacks.remove(self._callback)


def where(filename: str, line: int) -> str:
    for base, label in ((str(ROOT) + "/", ""), ("site-packages/", "")):
        i = filename.find(base)
        if i >= 0:
            return filename[i + len(base):] + f":{line}"
    return f"{filename}:{line}" if not filename.startswith("~") else "(builtin)"


def print_profile(prof: cProfile.Profile, top: int = 10) -> None:
    """Top functions by own time, and the project's functions by cumulative time (with file:line)."""
    st = pstats.Stats(prof).stats
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in st.values())
    rows = sorted(((tt, ct, nc, key) for key, (_cc, nc, tt, ct, _callers) in st.items()), reverse=True)
    print(f"      cProfile (profiled total {total * 1e3:.1f} ms; profiling inflates small calls) — own time:")
    for tt, ct, nc, (fn, line, name) in rows[:top]:
        print(f"        {tt * 1e3:8.1f} ms own {ct * 1e3:8.1f} ms cum  x{nc:<7} {name}  {where(fn, line)}")
    mine = sorted(((ct, tt, nc, key) for key, (_cc, nc, tt, ct, _callers) in st.items()
                   if str(ROOT / "app") in key[0]), reverse=True)
    print("      project functions by cumulative time:")
    for ct, tt, nc, (fn, line, name) in mine[:top]:
        print(f"        {ct * 1e3:8.1f} ms cum {tt * 1e3:8.1f} ms own  x{nc:<7} {name}  {where(fn, line)}")


def print_statements(rows: list, rounds: int, top: int = 8) -> None:
    per = defaultdict(list)
    for stmt, _p, t in rows:
        per[" ".join(stmt.split())].append(t)
    ordered = sorted(((sum(v) / rounds, len(v) / rounds, s) for s, v in per.items()), reverse=True)
    total_n = sum(len(v) for v in per.values()) / rounds
    total_t = sum(sum(v) for v in per.values()) / rounds
    print(f"    SQL per call: {total_n:.0f} statements, {total_t * 1e3:.2f} ms execute ({len(per)} distinct); by time:")
    for per_call, times, stmt in ordered[:top]:
        print(f"      {per_call * 1e3:6.2f} ms  x{times:5.1f}  {stmt[:120]}")


def med(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):7.2f} ms  p95 {percentile(values, 95):7.2f} ms"


# ---------------------------------------------------------------- phases


def generate_all(app, first: date, last: date, timer: SqlTimer) -> dict:
    """The measured figure: generate() for the 50 teams one after another, then one commit."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.rosters.models import Team
    from app.rosters.rules import generate

    with app.app_context():
        teams = list(db.session.scalars(sa.select(Team).where(Team.code.like("BT-%")).order_by(Team.code)))
        per_team, created = [], 0
        timer.rows.clear()
        gct = GcTimer()
        gct.active = timer.active = True
        t0 = time.perf_counter()
        for team in teams:
            t1 = time.perf_counter()
            created += generate(team, first, last)
            per_team.append(time.perf_counter() - t1)
        t2 = time.perf_counter()
        db.session.commit()
        t3 = time.perf_counter()
        gct.active = timer.active = False
        gct.close()
        sql_t, sql_n = sum(t for _s, _p, t in timer.rows), len(timer.rows)
        kinds = defaultdict(int)
        for stmt, _p, _t in timer.rows:
            kinds[stmt.split()[0].upper()] += 1
        timer.rows.clear()
        db.session.remove()
    return {"teams": len(teams), "created": created, "per_team": per_team, "loop": t2 - t0, "commit": t3 - t2,
            "total": t3 - t0, "sql_t": sql_t, "sql_n": sql_n, "kinds": dict(kinds), "gc": gct.summary()}


def generate_breakdown(app, first: date, last: date, timer: SqlTimer) -> None:
    """One team's year regenerated (deletes its generated entries, fills again), rolled back: plain, then profiled."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.rosters import rules
    from app.rosters.models import RosterEntry, Team

    flush = {"t": 0.0, "n": 0, "t0": 0.0}

    def before_flush(session, _ctx, _inst):
        flush["t0"] = time.perf_counter()

    def after_flush(session, _ctx):
        flush["t"] += time.perf_counter() - flush["t0"]
        flush["n"] += 1

    sa.event.listen(sa.orm.Session, "before_flush", before_flush)
    sa.event.listen(sa.orm.Session, "after_flush_postexec", after_flush)
    avail = Timed(rules, "available", timer)
    need = Timed(rules, "need", timer)
    span = Timed(rules, "span", timer)
    try:
        with app.app_context():
            code = team_code(2)
            for label in ("plain", "profiled"):
                db.session.remove()
                team = db.session.scalar(sa.select(Team).where(Team.code == code))
                team.members, team.shift_types  # noqa: B018  (loaded before the clock starts)
                flush.update(t=0.0, n=0)
                for w in (avail, need, span):
                    w.reset()
                    if label == "profiled":
                        w.restore()  # the profile sees the app's own functions only
                timer.rows.clear()
                prof = cProfile.Profile() if label == "profiled" else None
                gct = GcTimer()
                gct.active = timer.active = True
                t0 = time.perf_counter()
                if prof:
                    prof.enable()
                n = rules.generate(team, first, last)
                if prof:
                    prof.disable()
                total = time.perf_counter() - t0
                gct.active = timer.active = False
                gct.close()
                sql = sum(t for _s, _p, t in timer.rows)
                kinds = defaultdict(int)
                for stmt, _p, _t in timer.rows:
                    kinds[stmt.split()[0].upper()] += 1
                if prof is None:  # the same rows again through Core executemany, for comparison (rolled back)
                    made = [dict(r._mapping) for r in db.session.execute(sa.select(
                        RosterEntry.team_id, RosterEntry.shift_type_id, RosterEntry.user_id, RosterEntry.day,
                        RosterEntry.source, RosterEntry.note, RosterEntry.updated_at).where(
                        RosterEntry.team_id == team.id, RosterEntry.source == "generated",
                        RosterEntry.day >= first, RosterEntry.day <= last))]
                    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == team.id,
                                                                    RosterEntry.day >= first, RosterEntry.day <= last))
                    t_core = time.perf_counter()
                    db.session.execute(sa.insert(RosterEntry), made)
                    t_core = time.perf_counter() - t_core
                db.session.rollback()
                if prof is None:
                    print(f"  generate({code}, {first}, {last}) again in-process (rolled back) — {short_load()}:")
                    print(f"    {n} entries in {total * 1e3:.0f} ms: ORM flush {flush['t'] * 1e3:.0f} ms ({flush['n']} "
                          f"flushes; SQL execute {sql * 1e3:.0f} ms over {len(timer.rows)} statements {dict(kinds)}); "
                          f"garbage collector {gct.summary()}")
                    print(f"    available() {sum(avail.times) * 1e3:.0f} ms over {len(avail.times)} calls; "
                          f"need() {sum(need.times) * 1e3:.0f} ms over {len(need.times)} calls (public_holiday); "
                          f"span() {sum(span.times) * 1e3:.0f} ms over {len(span.times)} calls; "
                          f"(wrapper overhead ~1 µs a call)")
                    print(f"    for comparison, the same {len(made)} rows as one Core insert (executemany): "
                          f"{t_core * 1e3:.0f} ms")
                else:
                    print(f"    same call under cProfile: {total * 1e3:.0f} ms")
                    print_profile(prof)
                timer.rows.clear()
            db.session.remove()
    finally:
        for w in (avail, need, span):
            w.restore()
        sa.event.remove(sa.orm.Session, "before_flush", before_flush)
        sa.event.remove(sa.orm.Session, "after_flush_postexec", after_flush)


def month_breakdown(app, lead_id: int, code: str, month: str, timer: SqlTimer) -> None:
    """The real view function, with timed wrappers around grid(), check(), entries(), unsigned_sops(), render."""
    from flask_login import login_user

    from app.auth.models import User
    from app.extensions import db
    from app.rosters import rules, views
    from app.rosters.files import month_bounds

    view = app.view_functions["rosters.month"]
    wrappers = {}
    try:
        wrappers["grid"] = Timed(views, "grid", timer)
        wrappers["check"] = Timed(views, "check", timer)
        wrappers["entries"] = Timed(rules, "entries", timer)
        wrappers["unsigned"] = Timed(rules, "unsigned_sops", timer)
        wrappers["render"] = Timed(views, "render_template", timer)
        totals, sql_rows, size = [], [], 0
        with app.app_context():
            for i in range(ROUNDS + 3):
                db.session.remove()
                with app.test_request_context(f"/rosters/{code}/month?m={month}"):
                    login_user(db.session.get(User, lead_id))
                    timer.rows.clear()
                    timer.active = True
                    t0 = time.perf_counter()
                    html = view(code=code)
                    t1 = time.perf_counter()
                    timer.active = False
                if i < 3:  # warm-up (template compile, caches)
                    for w in wrappers.values():
                        w.reset()
                    continue
                totals.append(t1 - t0)
                sql_rows += timer.rows
                size = len(html)
            g, c, e, u, r = (wrappers[k] for k in ("grid", "check", "entries", "unsigned", "render"))
            grid_own = [a - b for a, b in zip(g.times, c.times)]
            check_own = [a - b - d for a, b, d in zip(c.times, e.times, u.times)]
            rest = [t - a - b for t, a, b in zip(totals, g.times, r.times)]
            print(f"  month view in-process ({ROUNDS} calls of views.month(), page {size / 1024:.0f} KB) "
                  f"— {short_load()}:")
            print(f"    view total                                  {med(totals)}")
            print(f"    grid() total (app/rosters/views.py grid)    {med(g.times)}   SQL {g.sql_n / ROUNDS:.0f} stmts "
                  f"{g.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"      grid() without check()                    {med(grid_own)}")
            print(f"      check() total (app/rosters/rules.py)      {med(c.times)}   SQL {c.sql_n / ROUNDS:.0f} stmts "
                  f"{c.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"        entries() (its query + ORM load)        {med(e.times)}")
            print(f"        unsigned_sops() (signed_codes per user) {med(u.times)}   SQL {u.sql_n / ROUNDS:.0f} stmts "
                  f"{u.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"        check() rest (rules loops, need())      {med(check_own)}")
            print(f"    render_template rosters/grid.html           {med(r.times)}   SQL {r.sql_n / ROUNDS:.0f} stmts "
                  f"{r.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"    rest of the view (get_team, days)           {med(rest)}")
            print_statements(sql_rows, ROUNDS)
            # What the render spends on the editable links: the same context rendered with and without them.
            db.session.remove()
            with app.test_request_context(f"/rosters/{code}/month?m={month}"):
                login_user(db.session.get(User, lead_id))
                team = views.get_team(code)
                first_day, last_day = month_bounds(date.fromisoformat(month + "-01"))
                days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
                ctx = g.original(team, days)
                by_rule = defaultdict(int)
                for v in ctx["problems"]:
                    by_rule[v.rule] += 1
                renders = defaultdict(list)
                for i in range(ROUNDS // 2 + 2):
                    for editable in (True, False):
                        t0 = time.perf_counter()
                        r.original("rosters/grid.html", view="month", prev=days[0] - timedelta(days=1),
                                   next=days[-1] + timedelta(days=1), **{**ctx, "editable": editable})
                        if i >= 2:
                            renders[editable].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                texts = [v.text for v in ctx["problems"]]
                t_text = time.perf_counter() - t0
            print(f"    violations found by check(): {dict(by_rule)} ({len(ctx['problems'])}); {len(team.members)} x "
                  f"{len(days)} cells; Violation.text once for all of them {t_text * 1e3:.2f} ms ({len(texts)} texts)")
            print(f"    render as the supervisor (editable: 2 url_for per cell)   {med(renders[True])}")
            print(f"    render of the same context with editable=False          {med(renders[False])}")
            # One profiled call.
            db.session.remove()
            with app.test_request_context(f"/rosters/{code}/month?m={month}"):
                login_user(db.session.get(User, lead_id))
                prof = cProfile.Profile()
                prof.enable()
                view(code=code)
                prof.disable()
            print("    one call profiled:")
            print_profile(prof)
            db.session.remove()
    finally:
        for w in wrappers.values():
            w.restore()


def duty_breakdown(app, lead_id: int, timer: SqlTimer) -> None:
    from flask_login import login_user

    from app.auth.models import User
    from app.extensions import db
    from app.rosters import duty, views

    view = app.view_functions["rosters.duty"]
    wrappers = {}
    try:
        wrappers["on_duty"] = Timed(views, "on_duty", timer)
        wrappers["unsigned"] = Timed(duty, "unsigned_sops", timer)
        wrappers["render"] = Timed(views, "render", timer)
        totals, sql_rows, size, direct, u_per_call, u_calls = [], [], 0, [], [], []
        with app.app_context():
            for i in range(ROUNDS + 3):
                db.session.remove()
                with app.test_request_context("/duty"):
                    login_user(db.session.get(User, lead_id))
                    timer.rows.clear()
                    u0 = len(wrappers["unsigned"].times)
                    timer.active = True
                    t0 = time.perf_counter()
                    resp = view()
                    t1 = time.perf_counter()
                    timer.active = False
                if i < 3:
                    for w in wrappers.values():
                        w.reset()
                    continue
                totals.append(t1 - t0)
                u_per_call.append(sum(wrappers["unsigned"].times[u0:]))
                u_calls.append(len(wrappers["unsigned"].times) - u0)
                sql_rows += timer.rows
                size = len(resp.get_data())
            o, u, r = (wrappers[k] for k in ("on_duty", "unsigned", "render"))
            n_unsigned_calls = sum(u_calls) / len(u_calls)
            own = [a - b for a, b in zip(o.times, u_per_call)]
            rest = [t - a - b for t, a, b in zip(totals, o.times, r.times)]
            # on_duty() alone, outside a request, as the brief asks.
            with app.test_request_context("/duty"):
                for i in range(ROUNDS + 2):
                    db.session.remove()
                    t0 = time.perf_counter()
                    result = duty.on_duty()
                    if i >= 2:
                        direct.append(time.perf_counter() - t0)
                n_now = sum(len(d.now) for d in result)
                n_next = sum(len(d.next) for d in result)
                n_unsigned = sum(len(d.unsigned) for d in result)
            print(f"  /duty in-process ({ROUNDS} calls of views.duty(), page {size / 1024:.0f} KB; "
                  f"{len(result)} teams, "
                  f"{n_now} people on duty now, {n_next} next, {n_unsigned} with unsigned SOPs) — {short_load()}:")
            print(f"    on_duty() called directly                   {med(direct)}")
            print(f"    view total                                  {med(totals)}")
            print(f"    on_duty() (app/rosters/duty.py)             {med(o.times)}   SQL {o.sql_n / ROUNDS:.0f} stmts "
                  f"{o.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"      unsigned_sops() x{n_unsigned_calls:.0f} (one per team)     "
                  f"{med(u_per_call)}   SQL {u.sql_n / ROUNDS:.0f} stmts {u.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"      on_duty() without unsigned_sops()         {med(own)}")
            print(f"    render rosters/duty.html                    {med(r.times)}   SQL {r.sql_n / ROUNDS:.0f} stmts "
                  f"{r.sql_t / ROUNDS * 1e3:.2f} ms/call")
            print(f"    rest of the view                            {med(rest)}")
            print_statements(sql_rows, ROUNDS)
            # The entries query of on_duty() alone: the same statement, its rows loaded as ORM objects.
            import sqlalchemy as sa

            from app.rosters.models import RosterEntry, ShiftType, Team

            with app.test_request_context("/duty"):
                today = duty.local_today()
                loads, n_rows = [], 0
                for i in range(ROUNDS // 2 + 2):
                    db.session.remove()
                    t0 = time.perf_counter()
                    teams = list(db.session.scalars(
                        sa.select(Team).where(Team.retired_at.is_(None)).order_by(Team.code)))
                    t1 = time.perf_counter()
                    rows = db.session.scalars(sa.select(RosterEntry).join(ShiftType).where(
                        RosterEntry.team_id.in_([t.id for t in teams]), RosterEntry.day >= today - timedelta(days=1),
                        RosterEntry.day <= today + timedelta(days=2)).options(
                        sa.orm.contains_eager(RosterEntry.shift_type), sa.orm.joinedload(RosterEntry.user))).all()
                    t2 = time.perf_counter()
                    spans = [duty.span(e.day, e.shift_type.start, e.shift_type.end) for e in rows]
                    t3 = time.perf_counter()
                    if i >= 2:
                        loads.append((t1 - t0, t2 - t1, t3 - t2))
                    n_rows = len(spans)
            print(f"    its queries alone: teams {med([a for a, _b, _c in loads])}; entries yesterday..today+2 "
                  f"({n_rows} rows + joined users) {med([b for _a, b, _c in loads])}; span() for each row "
                  f"{med([c for _a, _b, c in loads])}")
            db.session.remove()
            with app.test_request_context("/duty"):
                login_user(db.session.get(User, lead_id))
                prof = cProfile.Profile()
                prof.enable()
                view()
                prof.disable()
            print("    one call profiled:")
            print_profile(prof)
            db.session.remove()
    finally:
        for w in wrappers.values():
            w.restore()


def measure_http(client: Client, path: str, n: int, ok) -> tuple[list[float], int]:
    times, errors = [], 0
    for i in range(WARMUP + n):
        status, body, elapsed = client.request("GET", path)
        if i >= WARMUP:
            if status == 200 and ok(body):
                times.append(elapsed)
            else:
                errors += 1
                if errors == 1:
                    print(f"  first failed GET {path}: {status} {body[:300]!r}")
    return times, errors


# ---------------------------------------------------------------- main


def main() -> None:
    t_start = time.monotonic()
    print(f"rosters benchmark: {os.cpu_count()} cores, python {sys.version.split()[0]}, {load()}")
    with tempfile.TemporaryDirectory(prefix="sop-bench-rosters-") as tmp_name:
        tmp = Path(tmp_name)
        instance = tmp / "instance"
        content = tmp / "content"
        shutil.copytree(ROOT / "content", content)
        env = bench_env(instance, content)
        t0 = time.monotonic()
        run_flask(["db", "upgrade"], env)
        run_flask(["demo", "load"], env)
        print(f"setup: temp instance {instance}, migrated, demo loaded in {time.monotonic() - t0:.1f} s "
              f"— {short_load()}")

        for key in ("SOP_INSTANCE_DIR", "CONTENT_DIR", "SOP_DIR", "FLASK_RATELIMIT_ENABLED", "SECRET_KEY"):
            os.environ[key] = env[key]
        os.environ.pop("DATABASE_URL", None)
        from app import create_app

        app = create_app()
        with app.app_context():
            from app.extensions import db
            from app.rosters.shifts import local_today

            timer = SqlTimer(db.engine)
            today = local_today()
        first = today.replace(day=1)
        last = first.replace(year=first.year + 1) - timedelta(days=1)
        month = f"{first:%Y-%m}"

        t0 = time.monotonic()
        info = seed(app, content)
        print(f"seeding: {info['users']} users (one shared hash), teams.yaml + {TEAMS} teams x {MEMBERS} members "
              f"synced by sync_teams() in {info['sync_s']:.2f} s ({info['sync']}), {info['acks']} signatures of "
              f"{', '.join(info['sops'])}; {time.monotonic() - t0:.1f} s in all (one commit) — {short_load()}")

        # ------------------------------------------------------------ generate
        gen = generate_all(app, first, last, timer)
        per = gen["per_team"]
        print(f"\ngenerate(team, {first}, {last}) for {gen['teams']} teams in-process — {short_load()}:")
        print(f"  {gen['created']} entries in {gen['total']:.2f} s (loop {gen['loop']:.2f} s + one commit "
              f"{gen['commit']:.2f} s); per team avg {sum(per) / len(per) * 1e3:.0f} ms, min {min(per) * 1e3:.0f} ms, "
              f"max {max(per) * 1e3:.0f} ms; SQL execute {gen['sql_t']:.2f} s over {gen['sql_n']} statements "
              f"{gen['kinds']}; in the garbage collector {gen['gc']}")
        generate_breakdown(app, first, last, timer)

        rows = counts(app)
        print(f"rows: {rows['teams']} teams ({rows['bench teams']} bench), {rows['users']} users, "
              f"{rows['team members']} team members, {rows['shift types']} shift types, {rows['roster entries']} "
              f"roster entries ({rows['bench entries']} in bench teams), {rows['acknowledgements']} acknowledgements")
        with app.app_context():
            import sqlalchemy as sa

            from app.auth.models import User

            lead_id = db.session.scalar(sa.select(User.id).where(User.username == lead_name(1)))
            db.session.remove()
            db.engine.dispose()

        # ------------------------------------------------------------ HTTP
        code = team_code(1)
        month_path, duty_path = f"/rosters/{code}/month?m={month}", "/duty"
        port = free_port()
        log = tmp / "gunicorn.log"
        server = start_gunicorn(port, env, log)
        try:
            wait_ready(server, port, log)
            client = Client(port)
            client.login(lead_name(1), PASSWORD)
            status, body, _t = client.request("GET", month_path)
            if status != 200 or b'id="roster-grid"' not in body:
                sys.exit(f"GET {month_path} answered {status}: {body[:300]!r}")
            cells = body.count(b'class="rcell')
            links = body.count(b'hx-get="/rosters/')
            bad = re.search(rb'<section id="violations"><h2>[^<]*<span class="muted">\((\d+)\)', body)
            violations = bad.group(1).decode() if bad else "?"
            status, dbody, _t = client.request("GET", duty_path)
            if status != 200:
                sys.exit(f"GET /duty answered {status}: {dbody[:300]!r}")
            n_teams = dbody.count(b'data-team="')
            on_now, on_next = dbody.count(b'class="on-duty"'), dbody.count(b'class="next-duty"')
            print(f"\ngunicorn: 2 sync workers on {HOST}:{port}; logged in as {lead_name(1)} "
                  f"(manager, supervisor of {code})")
            print(f"  {month_path}: {len(body) / 1024:.0f} KB, {cells} cells ({links} editable), "
                  f"{violations} problems listed; "
                  f"/duty: {len(dbody) / 1024:.0f} KB, {n_teams} teams, "
                  f"{on_now} on duty now, {on_next} next")

            print(f"GET {month_path} ({WARMUP} warm-up + {MONTH_REQUESTS} measured, sequential) — {load()}")
            month_times, month_errors = measure_http(client, month_path, MONTH_REQUESTS,
                                                     lambda b: b'id="roster-grid"' in b)
            print(f"  {stats(month_times)}  errors {month_errors} — {short_load()}")
            print(f"GET {duty_path} ({WARMUP} warm-up + {DUTY_REQUESTS} measured, sequential) — {load()}")
            duty_times, duty_errors = measure_http(client, duty_path, DUTY_REQUESTS,
                                                   lambda b: f'data-team="{team_code(TEAMS)}"'.encode() in b)
            print(f"  {stats(duty_times)}  errors {duty_errors} — {short_load()}")
        finally:
            stop_gunicorn(server)

        # ------------------------------------------------------------ in-process
        gc.collect()
        gc.freeze()  # as gunicorn.conf.py's post_worker_init does: GC then walks only per-request objects
        print(f"\nin-process breakdown (no HTTP, same database, heap frozen like the workers') — {load()}")
        month_breakdown(app, lead_id, code, month, timer)
        duty_breakdown(app, lead_id, timer)
        with app.app_context():
            db.engine.dispose()

    # ---------------------------------------------------------------- summary
    print("\nresults")
    print(f"  generate 1 year x {TEAMS} teams   {gen['total']:.2f} s total "
          f"({sum(per) / len(per) * 1e3:.0f} ms per team, "
          f"commit {gen['commit']:.2f} s)   (target <= {TARGET_GENERATE_S} s)")
    print(f"  GET /rosters/<code>/month     {stats(month_times)}  errors {month_errors}   "
          f"(target p95 <= {TARGET_MONTH_P95} ms)")
    print(f"  GET /duty ({n_teams} teams)        {stats(duty_times)}  errors {duty_errors}   "
          f"(target p95 <= {TARGET_DUTY_P95} ms)")
    print(f"  {load()}; the client shares the machine's cores with gunicorn; "
          f"runtime {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()

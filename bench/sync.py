"""Sync benchmark: wall-clock time of `flask sops sync` over a large generated SOP tree.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/sync.py [--files 1000] [--database-url URL]

Generates --files SOP files (default 1000) into a temporary content/sops tree by varying the demo
SOPs in content/sops (unique ids GEN-0001..., a varied title and body text; attachments are copied
along so validation passes), with content/org.yaml beside it. A fresh temporary instance is
migrated with `flask db upgrade` (SQLite in the temp folder by default; --database-url runs against
PostgreSQL instead, which must be an empty scratch database). Then, timed as a user runs them
(a subprocess `flask sops sync` each, interpreter start included):

  (a) the first sync of all files
  (b) a second sync with nothing changed
  (c) a sync after one file's content changed

Figures are printed, never asserted.
"""
import argparse
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
DEMO = ROOT / "content"
TARGETS = {"first": 10.0, "unchanged": 2.0}  # seconds
STORES = ["杭州西湖店", "上海静安店", "北京国贸店", "成都春熙路店", "广州天河店", "深圳南山店", "苏州园区店", "南京新街口店"]
NOTES = [
    "如遇系统故障，按《应急预案》先行手工登记，恢复后补录。",
    "本门店另设夜间值班电话，交接时须当面确认。",
    "涉及金额差异超过 200 元的，须由值班经理签字确认。",
    "旺季（节假日前后三天）本流程由主管全程在岗监督。",
    "培训期员工须在带教人员陪同下执行本流程。",
    "每月第一个工作日由部门负责人抽查执行记录。",
]


def tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


# ---------------------------------------------------------------- content


def vary(text: str, n: int, rng: random.Random) -> str:
    """One demo SOP turned into generated SOP number n: new id and title, some body text changed."""
    closing = text.index("\n---\n", 3) + len("\n---\n")  # the demo files start with a '---' front matter
    front, body = text[:closing], text[closing:]
    code = f"GEN-{n:04d}"
    store = STORES[n % len(STORES)]
    front = re.sub(r"^id:.*$", f"id: {code}", front, count=1, flags=re.M)
    front = re.sub(r"^(title:\s*)(.*)$", lambda m: f"{m.group(1)}{m.group(2).strip()}（{store} {n:04d}）", front,
                   count=1, flags=re.M)
    front = re.sub(r'^version:.*$', f'version: "{1 + n % 5}.{n % 10}"', front, count=1, flags=re.M)
    lines = body.split("\n")
    # A note appended to a few plain paragraphs or list items (never inside code/diagram fences, tables,
    # headings, admonitions or indented blocks)...
    paragraphs, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.strip() and not line.startswith(("#", "|", "!!!", ">", "<", " ", "\t")):
            paragraphs.append(i)
    for i in rng.sample(paragraphs, min(3, len(paragraphs))):
        lines[i] = f"{lines[i]}{rng.choice(NOTES)}"
    # ...and a store-specific paragraph below the first heading.
    first_heading = next((i for i, line in enumerate(lines) if line.startswith("## ")), 0)
    lines[first_heading + 1:first_heading + 1] = ["", f"本规程适用于{store}（编号 {code}），由门店负责人于每季度复核一次。"]
    return front + "\n".join(lines)


def generate(dest: Path, count: int) -> tuple[Path, list[Path]]:
    """content/org.yaml and content/sops/<department folder>/gen-NNNN-<name>.md; returns (sops dir, files)."""
    content, sops = dest / "content", dest / "content" / "sops"
    sops.mkdir(parents=True)
    shutil.copy(DEMO / "org.yaml", content / "org.yaml")
    demos = sorted((DEMO / "sops").rglob("*.md"))
    if not demos:
        sys.exit(f"no demo SOPs under {DEMO / 'sops'}")
    for folder in {d.parent for d in demos}:  # attachments (e.g. .xlsx) sit beside the SOPs that list them
        target = sops / folder.relative_to(DEMO / "sops")
        target.mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.is_file() and f.suffix != ".md":
                shutil.copy(f, target / f.name)
    rng = random.Random(2026)
    files = []
    for n in range(1, count + 1):
        demo = demos[(n - 1) % len(demos)]
        path = sops / demo.parent.relative_to(DEMO / "sops") / f"gen-{n:04d}-{demo.name}"
        path.write_text(vary(demo.read_text(encoding="utf-8"), n, rng), encoding="utf-8")
        files.append(path)
    return sops, files


# ---------------------------------------------------------------- running flask


def bench_env(instance: Path, sops: Path, database_url: str | None) -> dict:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(SOP_INSTANCE_DIR=str(instance), SOP_DIR=str(sops), CONTENT_DIR=str(sops.parent),
               FLASK_APP="wsgi.py", PYTHONPATH=str(ROOT), SECRET_KEY=secrets.token_hex(32))
    return env


def run(cmd: list[str], env: dict, cwd: Path, timeout: float = 300) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def summary(output: str) -> str:
    """The `N new, M revised, …` line (error lines, if any, come before it)."""
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def count_sops(env: dict) -> int:
    code = ("from app import create_app; from app.extensions import db; import sqlalchemy as sa; "
            "from app.sops.models import Sop\n"
            "with create_app().app_context(): print(db.session.scalar(sa.select(sa.func.count()).select_from(Sop)))")
    return int(run([sys.executable, "-c", code], env, ROOT)[1].strip())


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="SOP files to generate (default 1000)")
    ap.add_argument("--database-url", default=None,
                    help="run against this (empty, scratch) PostgreSQL database instead of a temp SQLite file")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="sop-bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        sops, files = generate(tmp, args.files)
        sizes = [f.stat().st_size for f in files]
        print(f"generated {len(files)} SOP files under {sops} in {time.perf_counter() - t0:.1f} s: "
              f"{sum(sizes) / 1048576:.1f} MB, {min(sizes) / 1024:.1f}–{max(sizes) / 1024:.1f} KB each "
              f"(mean {sum(sizes) / len(sizes) / 1024:.1f} KB)")

        # Relative paths in sync's messages are shown against the working directory: run in the temp folder.
        env = bench_env(tmp / "instance", sops, args.database_url)
        db_label = "PostgreSQL (--database-url)" if args.database_url else f"SQLite {tmp / 'instance' / 'portal.db'}"
        t_migrate, _ = run([tool("flask"), "db", "upgrade"], env, tmp)
        existing = count_sops(env)
        if existing:
            sys.exit(f"the database already holds {existing} SOPs; use an empty scratch database")
        print(f"database: {db_label}, migrated in {t_migrate:.1f} s")
        print()

        sync = [tool("flask"), "sops", "sync"]
        results = []
        t, out = run(sync, env, tmp)
        results.append(("(a) first sync, all files", t, out, TARGETS["first"]))
        t, out = run(sync, env, tmp)
        results.append(("(b) second sync, nothing changed", t, out, TARGETS["unchanged"]))
        changed = files[len(files) // 2]
        with changed.open("a", encoding="utf-8") as f:
            f.write("\n\n本条款于基准测试中修订：交接时增加一次复核。\n")
        t, out = run(sync, env, tmp)
        results.append((f"(c) after changing {changed.name}", t, out, None))

    width = max(len(r[0]) for r in results)
    for label, t, out, target in results:
        goal = f"   (target ≤ {target:g} s)" if target else ""
        print(f"{label:<{width}}  {t:6.2f} s   {summary(out)}{goal}")
        for line in out.splitlines()[:-1][:5]:  # errors, if any (first few)
            print(f"{'':<{width}}    {line}")
    print()
    print(f"cores: {os.cpu_count()}")
    print("note: wall-clock of `flask sops sync` as a subprocess, including interpreter start and app import")


if __name__ == "__main__":
    main()

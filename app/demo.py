"""`flask demo load`: the demo organisation, SOPs (with earlier revisions) and users. Idempotent."""
import shutil
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app.acks.signing import record_signature
from app.auth.models import User
from app.auth.service import UserData, create_user
from app.checklists.runs import schedule
from app.extensions import db
from app.sops.models import Sop
from app.sops.sync import SyncReport, commit_and_announce, sync

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "demo" / "history"
PASSWORD = "demo-2026"
USERS = [
    # username, name, department, positions, role
    ("admin", "王磊", "IT支持部", ("系统管理员",), "admin"),
    ("fo.manager", "陈静", "前厅部", ("前厅经理",), "manager"),
    ("it.manager", "刘洋", "IT支持部", ("IT主管",), "manager"),
    ("cs.manager", "赵敏", "客服中心", ("客服主管",), "manager"),
    ("fin.manager", "孙莉", "财务部", ("财务经理",), "manager"),
    ("fo.staff", "李娜", "前厅部", ("前台接待",), "staff"),
    ("fo.night", "周强", "前厅部", ("夜审员",), "staff"),
    ("it.hotline", "吴昊", "IT支持部", ("热线工程师",), "staff"),
    ("cs.agent", "郑洁", "客服中心", ("客服专员",), "staff"),
    ("newhire", "林晓", "前厅部", ("前台接待",), "staff"),
]

# Signatures already given, so that the reports have something to show: (username, SOP, revision number or
# None for the current one). fo.night signed night audit's first revision, which a material one replaced.
SIGNATURES = [
    ("fo.staff", "FO-CI-001", None), ("fo.staff", "FO-HO-001", None), ("fo.staff", "IT-MEM-001", None),
    ("fo.night", "FO-NA-001", 1), ("fo.night", "FO-HO-001", None),
    ("fo.manager", "FO-NA-001", None), ("fo.manager", "FO-VIP-001", None), ("fo.manager", "IT-MEM-001", None),
    ("it.hotline", "IT-HL-001", None), ("cs.agent", "CS-CL-001", None), ("cs.manager", "CS-CP-001", None),
]

cli = AppGroup("demo", help="Demo content and users.")


def load_history() -> SyncReport:
    """Earlier revisions come first: the content tree with demo/history laid over it is synced once."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "sops"
        shutil.copytree(current_app.config["SOP_DIR"], tree)
        for old in HISTORY.rglob("*.md"):
            shutil.copy(old, tree / old.relative_to(HISTORY))
        return sync(tree)


def load_users() -> list[str]:
    lines = []
    for username, name, dept, positions, role in USERS:
        if db.session.scalar(sa.select(User.id).where(User.username == username)):
            lines.append(f"  {username:<12} (exists)")
            continue
        start = date.today() if username == "newhire" else None  # only the new hire starts an onboarding plan
        create_user(UserData(username, name, f"{username}@yunqi-hotels.example", dept, positions, role, start, PASSWORD))
        lines.append(f"  {username:<12} {PASSWORD}   {role:<8} {dept} {'、'.join(positions)} {name}")
    return lines


def load_signatures() -> int:
    """Record the demo signatures (auth method 'demo'), dated on the signed revision's effective day."""
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    n = 0
    for username, code, number in SIGNATURES:
        sop = db.session.scalar(sa.select(Sop).where(Sop.code == code))
        rev = sop.current if number is None else next(r for r in sop.revisions if r.number == number)
        day = min(date.today(), max(rev.effective, date.today() - timedelta(days=20)))
        at = datetime.combine(day, time(9, 30), timezone.utc)
        n += record_signature(users[username], sop, rev, "demo", at=at)
    return n


@cli.command("load")
def load_command():
    """Load the demo SOPs (with earlier revisions) and the demo users, printing their credentials."""
    first = db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    if first and HISTORY.is_dir():
        click.echo(f"earlier revisions: {load_history().lines()[-1]}")
    report = sync()
    lines = load_users()
    signed = load_signatures()
    runs = schedule(date.today())  # today's recurring checklists (cron runs `flask checklists schedule` daily)
    commit_and_announce(report)
    for line in report.lines():
        click.echo(f"current content: {line}")
    click.echo(f"demo signatures: {signed} new; recurring checklists due today: {len(runs)}")
    click.echo("Demo users (username / password / role):")
    for line in lines:
        click.echo(line)

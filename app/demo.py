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
from app.checklists.runs import schedule, start_onboarding
from app.extensions import db
from app.rosters.models import Handover, RosterEntry, Team
from app.rosters.rules import generate
from app.rosters.service import confirm_handover, incoming, save_handover
from app.org import sync_org
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
    ("fo.desk2", "马骏", "前厅部", ("前台接待",), "staff"),
    ("cs.agent2", "王芳", "客服中心", ("客服专员",), "staff"),
    ("cs.agent3", "何磊", "客服中心", ("客服专员",), "staff"),
    ("cs.agent4", "黄丽", "客服中心", ("客服专员",), "staff"),
    ("cs.agent5", "许涛", "客服中心", ("投诉专员",), "staff"),
    ("cs.agent6", "罗敏", "客服中心", ("客服专员",), "staff"),
    ("it.hotline2", "高远", "IT支持部", ("热线工程师",), "staff"),
    ("it.hotline3", "陈晨", "IT支持部", ("热线工程师",), "staff"),
    ("it.hotline4", "杜鹃", "IT支持部", ("热线工程师",), "staff"),
    ("it.hotline5", "唐宁", "IT支持部", ("热线工程师",), "staff"),
    ("it.sysadmin", "韩冰", "IT支持部", ("系统管理员",), "staff"),
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
        user, _pw = create_user(UserData(username, name, f"{username}@yunqi-hotels.example", dept, positions, role, start,
                                         PASSWORD))
        user.phone = f"138-0571-{1000 + USERS.index((username, name, dept, positions, role)):04d}"  # invented numbers
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


# Yesterday's handover of one shift per team: (shift, author, notes, open items). Our own invented content.
HANDOVERS = {
    "FO-DESK": ("N", "fo.night", {
        "unfinished": "1206 房客人预订了明早 6:00 叫醒和出租车，已录入叫醒系统，出租车待白班确认。",
        "incidents": "02:10 会员系统查询变慢约 15 分钟，已按 IT-MEM-001 降级处理，IT 热线工单 #4471。",
        "systems": "2 号制卡机偶尔读卡失败，已贴提示，工程部明天上午来修。",
    }, [("vip", "1808 房白金卡会员明天中午退房，需提前准备欢送卡和延迟退房确认。"),
        ("systems", "2 号制卡机报修，跟进工程部维修结果。")]),
    "IT-HOTLINE": ("E", "it.hotline", {
        "unfinished": "工单 #5203（西湖店收银电脑打不出小票）已远程重装打印驱动，等门店明早开店后确认，未关单。",
        "incidents": "19:40–20:05 会员系统接口超时，3 家门店查不到积分；已按 IT-MEM-001 切换只读并通知系统管理员，"
                     "20:05 恢复，P2 工单 #5207。",
        "changes": "明晚 22:00–23:00 OA 系统升级，期间 OA 不可用，门店来电请改为电话报修。",
        "systems": "值班手机电量 80%，无未接来电；00:20 已将分机 8001 呼叫转移到值班手机并拨测成功。",
    }, [("unfinished", "跟进工单 #5203：门店确认小票打印正常后关单。"),
        ("changes", "OA 升级当晚在热线交接记录中登记升级结果和回退情况。")]),
}


def load_rosters() -> list[str]:
    """This month and next generated for each team, and yesterday's handover of one shift per demo team, with
    open items, confirmed by whoever is rostered on the next shift."""
    lines = []
    first = date.today().replace(day=1)
    last = (first + timedelta(days=62)).replace(day=1) - timedelta(days=1)
    for team in db.session.scalars(sa.select(Team).order_by(Team.code)):
        if db.session.scalar(sa.select(RosterEntry.id).where(RosterEntry.team_id == team.id).limit(1)) is None:
            lines.append(f"roster {team.code}: {generate(team, first, last)} shifts from {first} to {last}")
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    for code, (shift_code, author, notes, items) in HANDOVERS.items():
        team = db.session.scalar(sa.select(Team).where(Team.code == code))
        if team is None or db.session.scalar(sa.select(Handover.id).where(Handover.team_id == team.id).limit(1)):
            continue
        shift = next(s for s in team.shift_types if s.code == shift_code)
        handover = save_handover(users[author], team, shift, date.today() - timedelta(days=1), notes, items)
        people = incoming(team, shift, handover.day) - {users[author].id}  # whoever works the next shift
        others = [m for m in team.members if m.id != users[author].id]
        confirm_handover(db.session.get(User, min(people)) if people else others[0], handover)
        lines.append(f"handover {code}: yesterday's {shift.name}, with {len(items)} open items")
    return lines


def load() -> tuple[SyncReport, list[str]]:
    """Everything the demo needs, in an order that lets each part find what it refers to: the organisation,
    the users (teams name them), the content (with earlier revisions first), then signatures, onboarding
    plans (their templates now exist) and today's recurring checklists. The caller commits."""
    lines = []
    first = db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    sync_org()
    users = load_users()
    if first and HISTORY.is_dir():
        lines.append(f"earlier revisions: {load_history().lines()[-1]}")
    report = sync()
    lines += [f"current content: {line}" for line in report.lines()]
    for user in db.session.scalars(sa.select(User).where(User.start_date.is_not(None))):
        start_onboarding(user)
    signed = load_signatures()
    runs = schedule(date.today())  # cron runs `flask checklists schedule` every day
    lines.append(f"demo signatures: {signed} new; recurring checklists due today: {len(runs)}")
    lines += load_rosters()
    return report, [*lines, "Demo users (username / password / role):", *users]


@cli.command("load")
def load_command():
    """Load the demo organisation, users, SOPs (with earlier revisions), checklists and teams; print the credentials."""
    report, lines = load()
    commit_and_announce(report)
    for line in lines:
        click.echo(line)

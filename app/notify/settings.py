"""What admins and each person change: channels (audited) and one's own switches. The callers commit."""
import sqlalchemy as sa

from app import audit
from app.errors import N_, UserError
from app.extensions import db
from app.notify.channels import MAX_CONTENT, url_problem
from app.notify.models import VENDORS, Channel, Outbox
from app.notify.outbox import mark_pending
from app.org import Department
from app.rosters.models import Team
from app.clock import utcnow


class ChannelError(UserError):
    """A refused channel change, with its HTTP status."""


def audiences() -> list[tuple[str, str]]:
    """("department:ID" | "team:ID", name) for the form's choices: departments first, then live duty teams."""
    depts = db.session.scalars(sa.select(Department).order_by(Department.id))
    teams = db.session.scalars(sa.select(Team).where(Team.retired_at.is_(None)).order_by(Team.code))
    return [(f"department:{d.id}", d.name) for d in depts] + [(f"team:{t.id}", t.name) for t in teams]


def add_channel(audience: str, vendor: str, url: str, secret: str = "") -> Channel:
    """A new robot for a department or team, its address checked before anything is written."""
    url, secret = (url or "").strip(), (secret or "").strip()
    if vendor not in VENDORS:
        raise ChannelError(N_("Choose WeCom or DingTalk."))
    problem = url_problem(url)
    if problem:
        raise ChannelError(problem)
    if len(secret) > 200 or (secret and vendor != "dingtalk"):
        raise ChannelError(N_("Only a DingTalk robot has a signing secret (at most 200 characters)."))
    if audience not in dict(audiences()):
        raise ChannelError(N_("Choose a department or duty team."))
    kind, _, ident = audience.partition(":")
    channel = Channel(vendor=vendor, url=url, secret=secret, active=True,
                      department_id=int(ident) if kind == "department" else None,
                      team_id=int(ident) if kind == "team" else None)
    db.session.add(channel)
    db.session.flush()
    audit.record("notify.channel_add", f"channel:{channel.id}", {"vendor": vendor, "audience": audience,
                                                                 "address": channel.masked_url()})
    return channel


def get_channel(channel_id: int) -> Channel:
    channel = db.session.get(Channel, channel_id)
    if channel is None or not channel.active:
        raise ChannelError(N_("There is no such channel."), 404)
    return channel


def remove_channel(channel_id: int) -> Channel:
    """Deactivate (its outbox rows keep pointing at it; those still pending fail with a reason)."""
    channel = get_channel(channel_id)
    channel.active = False
    audit.record("notify.channel_remove", f"channel:{channel.id}", {"address": channel.masked_url()})
    return channel


def queue_test(channel_id: int, text: str) -> Outbox:
    """A test message for one channel, sent like any other after commit."""
    channel = get_channel(channel_id)
    row = Outbox(channel_id=channel.id, kind="test", content=text[:MAX_CONTENT], next_at=utcnow())
    db.session.add(row)
    mark_pending()
    return row


def set_preferences(user, email: bool, robot: bool) -> None:
    user.notify_email, user.notify_robot = bool(email), bool(robot)
    audit.record("account.notifications", f"user:{user.username}", {"email": user.notify_email,
                                                                   "robot": user.notify_robot}, actor=user)

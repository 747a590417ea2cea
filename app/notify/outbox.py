"""From event to outbox row (in the action's transaction) to robot (after commit, outside the request).

Sending claims a row by bumping its `attempts` with a conditional UPDATE, so a background thread and a cron drain
never post the same row twice; the claim also pushes `next_at` past the timeout, as a lease.
"""
import logging
import threading
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.auth.models import User
from app.extensions import db
from app.notify.channels import SendError, post
from app.notify.models import Channel, Outbox
from app.clock import utcnow
from app.waiting import Event, listener

log = logging.getLogger(__name__)
PENDING_APP = "notify_app"  # session.info key: this transaction queued messages for this app

# Background senders still running (tests and a clean shutdown wait for them: see wait()).
_threads: list[threading.Thread] = []


def channels_for(event: Event, department_id: int | None) -> list[Channel]:
    """The team's channels if it has any, else the department's."""
    active = sa.select(Channel).where(Channel.active).order_by(Channel.id)
    if event.team_id is not None:
        found = list(db.session.scalars(active.where(Channel.team_id == event.team_id)))
        if found:
            return found
    if department_id is None:
        return []
    return list(db.session.scalars(active.where(Channel.department_id == department_id)))


def link(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else current_app.config["PORTAL_URL"].rstrip("/") + url


def messages(event: Event) -> list[tuple[Channel, str]]:
    """(channel, text) for each channel that should hear this event.

    An event addressed to people names them, except those who switched group-robot messages off; an event whose
    people all did is not posted. Without a department or team it goes to each named person's department.
    """
    tail = f"{event.text}\n{link(event.url)}"
    if not event.user_ids:
        return [(ch, tail) for ch in channels_for(event, event.department_id)]
    people = db.session.scalars(sa.select(User).where(User.id.in_(event.user_ids), User.active, User.notify_robot)
                                .order_by(User.id)).all()
    groups = defaultdict(list)
    if event.team_id is not None or event.department_id is not None:
        groups[event.department_id] = people
    else:
        for person in people:
            groups[person.department_id].append(person)
    out = []
    for department_id, named in groups.items():
        if named:
            text = "、".join(p.display_name for p in named) + "：" + tail
            out += [(ch, text) for ch in channels_for(event, department_id)]
    return out


@listener
def queue(event: Event) -> None:
    """Write the event's messages to the outbox in the caller's transaction; they go out after its commit."""
    rows = [Outbox(channel_id=ch.id, kind=event.kind, content=text, next_at=utcnow()) for ch, text in messages(event)]
    if rows:
        db.session.add_all(rows)
        mark_pending()


def mark_pending() -> None:
    """This transaction holds outbox rows: send them once it commits."""
    db.session.info[PENDING_APP] = current_app._get_current_object()


@sa.event.listens_for(Session, "after_commit")
def _send_after_commit(session) -> None:
    app = session.info.pop(PENDING_APP, None)
    if app is not None and app.config["NOTIFY_IN_BACKGROUND"]:
        start(app)


@sa.event.listens_for(Session, "after_rollback")
def _forget(session) -> None:
    session.info.pop(PENDING_APP, None)  # the rows went with the transaction


def start(app) -> threading.Thread:
    """Drain the outbox in a thread of its own (not a daemon: a CLI command's messages still go out at exit)."""

    def run():
        with app.app_context():
            try:
                drain()
            except Exception:  # noqa: BLE001 — a broken database must not kill the thread noisily; cron retries
                log.exception("notify: background send failed")
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name="notify-send")
    _threads[:] = [t for t in _threads if t.is_alive()] + [thread]
    thread.start()
    return thread


def wait(timeout: float | None = None) -> None:
    """Wait for the background senders started so far."""
    for thread in list(_threads):
        thread.join(timeout)


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: 1 min, then 5, 25 … (NOTIFY_RETRY_SECONDS × 5ⁿ⁻¹)."""
    return timedelta(seconds=current_app.config["NOTIFY_RETRY_SECONDS"] * 5 ** (attempts - 1))


def claim(row_id: int, attempts: int, now: datetime) -> bool:
    """Take the row for one attempt; False when another sender took it first (it bumped `attempts`)."""
    lease = now + timedelta(seconds=current_app.config["NOTIFY_TIMEOUT"] * 2 + 30)
    taken = db.session.execute(sa.update(Outbox).where(Outbox.id == row_id, Outbox.status == "pending",
                                                       Outbox.attempts == attempts, Outbox.next_at <= now)
                               .values(attempts=attempts + 1, next_at=lease)
                               .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    return taken


def attempt(row: Outbox, now: datetime) -> bool:
    """Post one claimed row and record the outcome; True if it was sent."""
    cfg = current_app.config
    channel = row.channel
    row_id, attempts, content = row.id, row.attempts, row.content
    vendor, url, secret, active, channel_id = channel.vendor, channel.url, channel.secret, channel.active, channel.id
    # No transaction while waiting for the robot: on SQLite it would hold the write lock for the whole timeout.
    db.session.commit()
    try:
        if not active:
            raise SendError("the channel was removed")
        post(vendor, url, secret, content, cfg["NOTIFY_TIMEOUT"])
    except SendError as e:
        last = attempts >= cfg["NOTIFY_MAX_ATTEMPTS"] or not active
        row = db.session.get(Outbox, row_id)
        row.last_error = str(e)[:300]
        row.status = "failed" if last else "pending"
        row.next_at = now if last else now + retry_delay(attempts)
        db.session.commit()
        log.warning("notify: message %s (%s) to channel %s, attempt %s of %s failed: %s%s", row_id, row.kind,
                    channel_id, attempts, cfg["NOTIFY_MAX_ATTEMPTS"], e, "; giving up" if last else "")
        return False
    row = db.session.get(Outbox, row_id)
    row.status, row.sent_at, row.last_error = "sent", utcnow(), ""
    db.session.commit()
    return True


def drain(now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Send every due pending row (oldest first), one attempt each. `now` moves the clock for tests and catch-up."""
    now = now or utcnow()
    due = db.session.execute(sa.select(Outbox.id, Outbox.attempts).where(Outbox.status == "pending", Outbox.next_at <= now)
                             .order_by(Outbox.id).limit(limit)).all()
    db.session.commit()
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for row_id, attempts in due:
        if not claim(row_id, attempts, now):
            counts["skipped"] += 1
            continue
        counts["sent" if attempt(db.session.get(Outbox, row_id), now) else "failed"] += 1
    return counts

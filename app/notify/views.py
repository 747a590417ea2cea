"""The admin's robot channels and each person's own notification switches."""
import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import allow
from app.extensions import db
from app.notify import bp
from app.notify.models import Channel
from app.notify.outbox import link
from app.notify.settings import ChannelError, add_channel, audiences, queue_test, remove_channel, set_preferences
from app.org import Department
from app.rosters.models import Team


def channels_page(status: int = 200, error: str | None = None, form: dict | None = None):
    channels = db.session.scalars(sa.select(Channel).where(Channel.active).order_by(Channel.id)).all()
    names = {f"department:{d.id}": d.name for d in db.session.scalars(sa.select(Department))}
    names |= {f"team:{t.id}": t.name for t in db.session.scalars(sa.select(Team))}
    return render_template("notify/channels.html", channels=channels, names=names, audiences=audiences(),
                           error=error, form=form or {}), status


@bp.get("/admin/notify")
@allow("admin")
def channels():
    """WeCom and DingTalk robots, each hearing one department's or duty team's events."""
    return channels_page()


@bp.post("/admin/notify")
@allow("admin")
def add():
    """Add a robot; a malformed address is refused with the reason and the form keeps what was typed."""
    form = {k: request.form.get(k, "") for k in ("audience", "vendor", "url", "secret")}
    try:
        add_channel(**form)
    except ChannelError as e:
        db.session.rollback()
        return channels_page(e.status, e.message(), {**form, "secret": ""})
    db.session.commit()
    flash(_("Channel added."), "success")
    return redirect(url_for("notify.channels"), 303)


def channel_action(action, *args, done: str):
    try:
        action(*args)
    except ChannelError as e:
        db.session.rollback()
        abort(e.status)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("notify.channels"), 303)


@bp.post("/admin/notify/<int:channel_id>/remove")
@allow("admin")
def remove(channel_id: int):
    """Stop using a robot."""
    return channel_action(remove_channel, channel_id, done=_("Channel removed."))


@bp.post("/admin/notify/<int:channel_id>/test")
@allow("admin")
def test(channel_id: int):
    """Post a test message to a robot (sent after this request, like every message)."""
    text = _("SOP Portal test message: this group will receive notifications.") + "\n" + link(url_for("sops.home"))
    return channel_action(queue_test, channel_id, text, done=_("Test message queued; see the log if it does not arrive."))


@bp.route("/account/notifications", methods=["GET", "POST"])
@allow("staff")
def preferences():
    """Switch the email digest and being named in group-robot messages on or off, for oneself."""
    if request.method == "POST":
        set_preferences(current_user, request.form.get("email") == "1", request.form.get("robot") == "1")
        db.session.commit()
        flash(_("Notification settings saved."), "success")
        return redirect(url_for("notify.preferences"), 303)
    return render_template("notify/preferences.html")

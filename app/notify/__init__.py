"""Notifications to WeCom (企业微信) and DingTalk group robots.

Features emit `app.waiting.Event`s where the action happens; `outbox.queue` (a waiting listener) writes one outbox
row per channel in the same transaction, and rows are sent after commit, outside the request (a background
thread), or by `flask notify send` from cron. See docs/notifications.md.
"""
from flask import Blueprint

bp = Blueprint("notify", __name__, cli_group="notify")

from app.notify import cli, outbox, views  # noqa: E402,F401

"""`flask notify send`: post what is due in the outbox (cron, every minute or so)."""
import click

from app.extensions import run_once
from app.notify import bp
from app.notify.outbox import drain


@bp.cli.command("send")
@run_once("notify-send")
def send_command():
    """Post every due message once; failures wait for a later run, up to NOTIFY_MAX_ATTEMPTS."""
    counts = drain()
    click.echo(f"sent {counts['sent']}, failed {counts['failed']}, taken by another sender {counts['skipped']}")

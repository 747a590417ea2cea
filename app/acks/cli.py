"""`flask acks …` commands: thin wrappers around functions the tests call too."""
import click

from app.acks import bp
from app.acks.remind import remind
from app.extensions import db


@bp.cli.command("remind")
def remind_command():
    """Email each person what they still have to sign (overdue first) and each manager a summary. Cron-able."""
    outcome = remind()
    db.session.commit()
    click.echo(f"sent {len(outcome.sent)} emails")
    if outcome.skipped:
        click.echo(f"no email address, not reminded: {', '.join(outcome.skipped)}")

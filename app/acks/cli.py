"""`flask acks …` commands: thin wrappers around functions the tests call too."""
import click

from app.acks import bp
from app.acks.remind import announce_overdue, digests, remind
from app.extensions import db, run_once


@bp.cli.command("remind")
@run_once("acks-remind")
def remind_command():
    """Email each person what they still have to sign (overdue first) and each manager a summary; post one overdue
    summary per department to its group robot (committed first: a mail server that is down does not stop it)."""
    owing = digests()  # who owes what: worked out once for the robots and the emails
    departments = announce_overdue(owing)
    db.session.commit()
    click.echo(f"overdue summaries queued for {departments} departments")
    outcome = remind(owing)
    db.session.commit()
    click.echo(f"sent {len(outcome.sent)} emails")
    if outcome.opted_out:
        click.echo(f"email digest switched off, not reminded: {', '.join(outcome.opted_out)}")
    if outcome.skipped:
        click.echo(f"no email address, not reminded: {', '.join(outcome.skipped)}")

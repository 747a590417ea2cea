"""`flask checklists …`: thin wrappers the tests call too."""
from datetime import date

import click
import sqlalchemy as sa

from app.checklists import bp
from app.checklists.models import ChecklistRun
from app.checklists.runs import schedule
from app.checklists.sync import sync_templates
from app.extensions import db, run_once


@bp.cli.command("sync")
def sync_command():
    """Read content/checklists (also done by `flask sops sync`)."""
    outcome = sync_templates()
    db.session.commit()
    for line in outcome:
        click.echo(line)
    if outcome.errors:
        raise SystemExit(1)  # something was skipped: a cron job or CI step should notice


@bp.cli.command("schedule")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="default: today")
@run_once("checklists-schedule")
def schedule_command(day):
    """Create today's recurring runs (cron-able; running it twice creates nothing more)."""
    day = day.date() if day else date.today()
    count = lambda: db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistRun).where(  # noqa: E731
        ChecklistRun.kind == "recurring", ChecklistRun.run_date == day))
    before = count()
    runs = schedule(day)
    created = count() - before
    db.session.commit()
    click.echo(f"{day}: {len(runs)} recurring runs due, {created} created")

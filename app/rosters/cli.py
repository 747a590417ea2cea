"""`flask rosters …`: thin wrappers the tests call too."""

import click
import sqlalchemy as sa

from app.extensions import db
from app.rosters import bp
from app.rosters.models import Team
from app.rosters.rules import generate
from app.rosters.teams import sync_teams


@bp.cli.command("sync")
def sync_command():
    """Read content/rosters/teams.yaml (also done by `flask sops sync`)."""
    outcome = sync_teams()
    db.session.commit()
    for line in outcome:
        click.echo(line)
    if outcome.errors:
        raise SystemExit(1)  # the file was refused: a cron job or CI step should notice


@bp.cli.command("generate")
@click.argument("team")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
def generate_command(team, start, end):
    """Fill a period of TEAM's roster from its pattern and rules."""
    found = db.session.scalar(sa.select(Team).where(Team.code == team))
    if found is None:
        raise click.ClickException(f"unknown team {team!r}")
    n = generate(found, start.date(), end.date())
    db.session.commit()
    click.echo(f"{team}: {n} shifts generated from {start:%Y-%m-%d} to {end:%Y-%m-%d}")

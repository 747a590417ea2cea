"""flask sops sync: thin wrapper around app.sops.sync."""
import click
from flask import current_app

from app.extensions import db
from app.sops import bp
from app.sops.sync import sync, synced

bp.cli.short_help = "SOP content."


@bp.cli.command("sync")
def sync_command():
    """Validate every SOP file and record new revisions; bad files are reported as path:line: reason."""
    report = sync()
    db.session.commit()
    synced.send(current_app._get_current_object(), report=report)
    for line in report.lines():
        click.echo(line)

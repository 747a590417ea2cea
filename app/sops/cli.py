"""flask sops sync: thin wrapper around app.sops.sync."""
import click

from app.sops import bp
from app.sops.sync import commit_and_announce, sync

bp.cli.short_help = "SOP content."


@bp.cli.command("sync")
def sync_command():
    """Validate every SOP file and record new revisions; bad files are reported as path:line: reason."""
    report = sync()
    commit_and_announce(report)
    for line in report.lines():
        click.echo(line)
    if report.errors:
        raise SystemExit(1)  # something was skipped (the rest is applied): a cron job or CI step should notice

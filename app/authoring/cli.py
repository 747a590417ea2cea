"""flask authoring publish-due and flask sops export: thin wrappers around the service functions."""
from datetime import date
from pathlib import Path

import click

from app.authoring import bp
from app.sops import bp as sops_bp

bp.cli.short_help = "Document control."


@bp.cli.command("publish-due")
def publish_due_command():
    """Publish approved drafts whose effective date has come (run daily from cron)."""
    from app.authoring.review import publish_due

    for line in publish_due(date.today()):
        click.echo(line)


@sops_bp.cli.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_command(directory: Path):
    """Write every current SOP (its Markdown file and attachments) under DIRECTORY."""
    from app.authoring.publish import export

    try:
        written = export(directory)
    except OSError as e:
        raise click.ClickException(f"{directory}: {e.strerror or e}") from e
    click.echo(f"{len(written)} SOPs written to {directory}")

"""flask search rebuild."""
import click

from app.search import bp
from app.search.index import rebuild


@bp.cli.command("rebuild")
def rebuild_command():
    """Build a new index beside the live one and swap it in atomically."""
    with click.progressbar(length=1, label="indexing SOPs") as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        sections = rebuild(progress)
    click.echo(f"index rebuilt: {sections} sections")

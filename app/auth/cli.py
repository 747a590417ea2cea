"""flask users create / import: thin wrappers around app.auth.service."""
from pathlib import Path

import click

from app.auth import bp, directory
from app.auth.service import AccountError, UserData, create_user, import_csv, parse_date, split_positions
from app.extensions import db


@bp.cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Display name, e.g. 张伟")
@click.option("--email", default="")
@click.option("--department", default="", help="Department name or code from content/org.yaml")
@click.option("--positions", default="", help="Positions separated by ',' or '、'")
@click.option("--role", default="staff", type=click.Choice(["staff", "manager", "admin"]))
@click.option("--start-date", default="", help="YYYY-MM-DD")
@click.option("--password", default="", help="Leave empty to generate one")
def create_command(username, display_name, email, department, positions, role, start_date, password):
    """Create one user and print the password."""
    try:
        data = UserData(username, display_name, email, department, split_positions(positions), role,
                        parse_date(start_date), password)
        user, pw = create_user(data)
    except AccountError as e:
        db.session.rollback()
        raise click.ClickException(str(e)) from None
    db.session.commit()
    click.echo(f"created {user.username} ({user.role}) password: {pw}")


@bp.cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path):
    """Import users from CSV; all or nothing. Columns: username,display_name,email,department,positions,role,start_date,password"""
    try:
        created = import_csv(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not UTF-8 text") from None
    except AccountError as e:
        db.session.rollback()
        raise click.ClickException(f"{path}: nothing imported\n{e}") from None
    db.session.commit()
    for user, pw in created:  # only generated passwords: the file's own stay in the file
        click.echo(f"created {user.username} ({user.role}) password: {pw or '(from the file)'}")
    click.echo(f"imported {len(created)} users")


@bp.cli.command("ldap-check")
@click.argument("username")
def ldap_check_command(username):
    """Look USERNAME up in the directory as a login would (no password): entry, attributes, role, refusal."""
    if not directory.enabled():
        raise click.ClickException("LDAP_URL is not set: directory login is off")
    try:
        verdict = directory.lookup(username)
    except directory.DirectoryUnavailable as e:
        raise click.ClickException(f"directory unavailable: {e}") from None
    person = verdict.person
    if person is not None:
        for label, value in (("dn", person.dn), ("username", person.username), ("name", person.display_name),
                             ("email", person.email), ("department", person.department),
                             ("positions", "、".join(person.positions)), ("role", person.role)):
            click.echo(f"{label:<11} {value}")
    click.echo(f"login       {'refused: ' + verdict.refused if verdict.refused else 'allowed (with the right password)'}")

"""Importing a file as a new SOP's draft: convert it (app.authoring.wordimport), give it front matter, start the
draft. Also `flask sops import PATH --department NAME [--id ID] [--author USERNAME] [--print]`."""
import json
import re
from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa
import yaml
from flask import current_app
from flask_babel import gettext

from app.auth.models import User
from app.authoring.drafts import open_draft, start_draft
from app.authoring.models import Draft
from app.authoring.permissions import AuthoringError, can_author
from app.authoring.wordimport import MAX_BYTES, ImportResult, WordImportError, convert_file
from app.errors import UserError
from app.extensions import db
from app.org import Department, department_by_name
from app.sops import bp as sops_bp
from app.sops.content import ID_RE
from app.sops.models import Sop


def build_sop_text(result: ImportResult, department: Department, code: str, title: str | None = None) -> str:
    """The draft's whole file: front matter (id, title, department, version 1.0, effective today, a material
    change, no owner yet, the images as attachments) and the converted body."""
    meta = {
        "id": code, "title": (title or result.title or code).strip()[:200], "department": department.name,
        "version": "1.0", "effective": date.today(), "owner": "", "change": "material",
    }
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    if result.attachments:
        front += yaml.safe_dump({"attachments": sorted(result.attachments)}, allow_unicode=True,
                                default_flow_style=None, width=1000)
    return f"---\n{front}---\n{result.markdown}"


def prefixed(result: ImportResult, code: str) -> ImportResult:
    """Images are named after the SOP (FO-GRP-001-image1.png): a department's SOPs share one folder."""
    if not result.attachments:
        return result
    names = {name: f"{code}-{name}" for name in result.attachments}
    markdown = re.sub(r"(!\[[^\]]*\]\()([^)\s]+)(\))",
                      lambda m: m.group(1) + names.get(m.group(2), m.group(2)) + m.group(3), result.markdown)
    markdown = re.sub(r'(<img [^>]*src=")([^"]+)(")', lambda m: m.group(1) + names.get(m.group(2), m.group(2))
                      + m.group(3), markdown)
    return ImportResult(markdown=markdown, attachments={names[n]: d for n, d in result.attachments.items()},
                        report=result.report, title=result.title, code=result.code)


def used(code: str) -> bool:
    return (db.session.scalar(sa.select(Sop.id).where(Sop.code == code)) is not None
            or open_draft(code) is not None)


def choose_code(department: Department, result: ImportResult, code: str | None = None) -> str:
    """The id given; else the document's own 文件编号 when it is free and starts with the department's code;
    else the department's code and the next free number (FO-001, FO-002 …)."""
    if code:
        code = code.strip().upper()
        if not ID_RE.match(code):
            raise AuthoringError("The id %(code)s must look like FO-NA-001.", 422, code=code)
        if db.session.scalar(sa.select(Sop.id).where(Sop.code == code)) is not None:
            raise AuthoringError("An SOP with the id %(code)s exists already; open it and choose Edit.", 409,
                                 code=code)
        if open_draft(code) is not None:
            raise AuthoringError("A draft for %(code)s is open already.", 409, code=code)
        return code
    guess = (result.code or "").upper()
    if ID_RE.match(guess) and guess.startswith(f"{department.code}-") and not used(guess):
        return guess
    n = 1
    while used(f"{department.code}-{n:03d}"):
        n += 1
    return f"{department.code}-{n:03d}"


def import_upload(user: User, filename: str, data: bytes, department: Department, code: str | None = None) -> Draft:
    """Convert an uploaded .docx/.md/.txt and start a new SOP's draft with it and its import report.
    Raises WordImportError or AuthoringError before anything is written; the caller commits."""
    if not can_author(user, department):
        raise AuthoringError("You may not write %(dept)s SOPs.", 403, dept=department.name)
    result = convert_file(filename, data, current_app.config.get("AUTHORING_IMPORT_MAX_BYTES", MAX_BYTES))
    code = choose_code(department, result, code)
    result = prefixed(result, code)
    report = [*result.report, f"{Path(filename).name} → {code}"]
    if not result.title:
        report.append(gettext("No title was found in the file; the id stands in for it until you change it."))
    return start_draft(user, department=department, text=build_sop_text(result, department, code), kind="new",
                       source="import", import_report=report, attachments=result.attachments)


def default_author() -> User | None:
    return db.session.scalar(sa.select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id))


@sops_bp.cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--department", required=True, help="Department name or code (content/org.yaml).")
@click.option("--id", "code", help="The SOP id, e.g. FO-GRP-001 (default: the document's 文件编号, else DEPT-NNN).")
@click.option("--author", help="Username of the draft's author (default: the first active admin).")
@click.option("--print", "print_only", is_flag=True, help="Write the Markdown to stdout; save nothing.")
def import_command(path: Path, department: str, code: str | None, author: str | None, print_only: bool):
    """Import a Word (.docx), Markdown or text file as a new SOP draft, with an import report."""
    dept = department_by_name(department)
    if dept is None:
        raise click.ClickException(f"unknown department {department!r} (see content/org.yaml)")
    try:
        if print_only:
            result = convert_file(path.name, path.read_bytes(),
                                  current_app.config.get("AUTHORING_IMPORT_MAX_BYTES", MAX_BYTES))
            code = choose_code(dept, result, code)
            click.echo(build_sop_text(prefixed(result, code), dept, code), nl=False)
            for line in result.report:
                click.echo(f"# {line}", err=True)
            return
        user = db.session.scalar(sa.select(User).where(User.username == author)) if author else default_author()
        if user is None:
            raise click.ClickException(f"no such user {author!r}" if author else "no active admin to be the author; "
                                       "give --author USERNAME")
        draft = import_upload(user, path.name, path.read_bytes(), dept, code)
        db.session.commit()
    except (WordImportError, UserError) as e:
        db.session.rollback()
        raise click.ClickException(e.message()) from None
    click.echo(f"draft {draft.id}: {draft.code} ({dept.name}), author {user.username}")
    for line in json.loads(draft.import_report or "[]"):
        click.echo(f"  {line}")

"""Checklist templates follow the content like SOPs: a revision per distinct content hash, bad files skipped."""
import json
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.checklists.content import ContentError, TemplateFile, read_template
from app.checklists.models import ChecklistRevision, ChecklistTemplate
from app.extensions import db
from app.org import Department, Position
from app.frontmatter import ContentLines
from app.clock import utcnow
from app.sops.models import Sop
from app.sops.signals import applied
from app.sops.sync import shown


def read_all(root: Path, errors: list[str]) -> tuple[dict[str, TemplateFile], set[str]]:
    known = set(db.session.scalars(sa.select(Sop.code).where(Sop.retired_at.is_(None), Sop.current_revision_id.is_not(None))))
    departments = set(db.session.scalars(sa.select(Department.name)))
    positions = set(db.session.scalars(sa.select(Position.name)))
    found, invalid = {}, set()
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root).as_posix()
        try:
            doc = read_template(path, root, known, departments, positions)
        except ContentError as e:
            errors.append(f"{shown(path)}:{e.line}: {e.reason}")
            invalid.add(rel)
            continue
        except (OSError, ValueError, TypeError, LookupError, AttributeError, RecursionError) as e:
            # A check this file found a way around: still one file's problem, never the whole sync's.
            current_app.logger.exception("checklist file %s could not be read", path)
            errors.append(f"{shown(path)}:1: could not be read ({type(e).__name__}: {e})")
            invalid.add(rel)
            continue
        if doc.code in found:
            errors.append(f"{shown(path)}:{doc.id_line}: duplicate id {doc.code!r}, already used by {found[doc.code].path}")
            invalid.add(rel)
            continue
        found[doc.code] = doc
    return found, invalid


def add_revision(template: ChecklistTemplate, doc: TemplateFile) -> ChecklistRevision:
    existing = db.session.scalar(sa.select(ChecklistRevision).where(
        ChecklistRevision.template_id == template.id, ChecklistRevision.content_hash == doc.content_hash))
    if existing:
        return existing
    number = (db.session.scalar(sa.select(sa.func.max(ChecklistRevision.number))
                                .where(ChecklistRevision.template_id == template.id)) or 0) + 1
    rev = ChecklistRevision(template_id=template.id, number=number, content_hash=doc.content_hash,
                            meta_json=json.dumps(doc.meta, ensure_ascii=False),
                            items_json=json.dumps(doc.items_json(), ensure_ascii=False))
    db.session.add(rev)
    db.session.flush()
    return rev


def sync_templates(root: Path | None = None) -> ContentLines:
    """Bring templates in line with content/checklists. Returns the report (errors, summary); the caller commits."""
    root = Path(root or Path(current_app.config["CONTENT_DIR"]) / "checklists")
    errors: list[str] = []
    found, invalid = read_all(root, errors) if root.is_dir() else ({}, set())
    templates = {t.code: t for t in db.session.scalars(sa.select(ChecklistTemplate))}
    changed = 0
    for code, doc in found.items():
        template = templates.get(code)
        if template is None:
            template = ChecklistTemplate(code=code, path=doc.path, title=doc.meta["title"], kind=doc.meta["kind"])
            try:
                with db.session.begin_nested():
                    db.session.add(template)
            except IntegrityError:  # another sync added it first
                template = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.code == code))
        rev = add_revision(template, doc)
        if template.current_revision_id != rev.id or template.retired_at is not None:
            changed += 1
        template.current_revision_id, template.current = rev.id, rev
        template.path, template.title, template.kind, template.retired_at = doc.path, doc.meta["title"], doc.meta["kind"], None
    for template in templates.values():
        if template.code not in found and template.path not in invalid and template.retired_at is None:
            template.retired_at = utcnow()  # runs already started keep their pinned revision
    db.session.flush()
    return ContentLines(errors, [f"checklists: {len(found)} valid, {changed} new or changed, {len(errors)} skipped with errors"])


@applied.connect
def sync_with_sops(app, report, **_extra) -> None:
    """`flask sops sync` brings the checklists along, after the SOPs they reference."""
    outcome = sync_templates()
    report.errors.extend(outcome.errors)
    report.notes.extend(outcome.summary)

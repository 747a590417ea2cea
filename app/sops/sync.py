"""`flask sops sync`: files → SOPs and revisions. Idempotent; a bad file is reported and skipped."""
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.chinese import simplified
from app.extensions import db, serialize
from app.org import Department, OrgError, Position, sync_org
from app.sops.content import ContentError, SopFile, read_sop
from app.clock import utcnow
from app.sops.models import Sop, SopRevision, SyncConflict
from app.sops.render import RENDERER, render_markdown
from app.sops.signals import applied, synced


def commit_and_announce(report: "SyncReport") -> None:
    """Commit a sync, then tell derived data (the search index) to follow: it never sees uncommitted rows."""
    db.session.commit()
    synced.send(current_app._get_current_object(), report=report)


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)  # new SOPs
    revised: list[str] = field(default_factory=list)  # SOPs with a new current revision
    retired: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)  # "path:line: reason", one per file skipped (checklists, teams too)
    notes: list[str] = field(default_factory=list)  # what other content synced with it reports
    conflicts: list[str] = field(default_factory=list)  # "path: conflict with revision N"

    def lines(self) -> list[str]:
        return [
            *self.errors,
            *self.conflicts,
            *self.notes,
            f"{len(self.created)} new, {len(self.revised)} revised, {len(self.retired)} retired, "
            f"{self.unchanged} unchanged, {len(self.errors)} skipped with errors"
            + (f", {len(self.conflicts)} in conflict" if self.conflicts else ""),
        ]


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_all(root: Path, report: SyncReport) -> tuple[list[SopFile], set[str]]:
    """Read every *.md under root. Returns the valid files and the paths of invalid ones."""
    departments = set(db.session.scalars(sa.select(Department.name)))
    positions = set(db.session.scalars(sa.select(Position.name)))
    max_bytes = current_app.config["SOP_MAX_BYTES"]
    known_paths = dict(db.session.execute(sa.select(Sop.code, Sop.path)).all())
    valid, invalid, by_code = [], set(), {}
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in PurePosixPath(rel).parts):
            continue  # .retired/ and other hidden folders are not the library
        try:
            doc = read_sop(path, root, departments, positions, max_bytes)
        except ContentError as e:
            report.errors.append(f"{shown(path)}:{e.line}: {e.reason}")
            invalid.add(rel)
            continue
        except (OSError, ValueError, TypeError, LookupError, AttributeError, RecursionError) as e:
            # A check this file found a way around: still one file's problem, never the whole sync's.
            current_app.logger.exception("SOP file %s could not be read", path)
            report.errors.append(f"{shown(path)}:1: could not be read ({type(e).__name__}: {e})")
            invalid.add(rel)
            continue
        other = by_code.get(doc.code)
        if other is not None:
            # The file the portal already knows keeps the id; the other one is reported.
            keep, drop = (doc, other) if known_paths.get(doc.code) == doc.path else (other, doc)
            report.errors.append(
                f"{shown(root / drop.path)}:{drop.key_lines.get('id', 2)}: duplicate id {doc.code!r}, already used by {keep.path}"
            )
            invalid.add(drop.path)
            if keep is doc:
                valid[valid.index(other)] = by_code[doc.code] = doc
            continue
        by_code[doc.code] = doc
        valid.append(doc)
    return valid, invalid


def add_revision(sop: Sop, doc: SopFile, origin: str = "file", draft_id: int | None = None) -> SopRevision:
    """Insert a revision for doc, or return the existing one with the same hash (another sync's, or a revert)."""
    existing = db.session.scalar(
        sa.select(SopRevision).where(SopRevision.sop_id == sop.id, SopRevision.content_hash == doc.content_hash)
    )
    if existing:
        return existing
    html, toc, diagram = render_markdown(doc.body)
    number = (db.session.scalar(sa.select(sa.func.max(SopRevision.number)).where(SopRevision.sop_id == sop.id)) or 0) + 1
    rev = SopRevision(
        sop_id=sop.id, number=number, content_hash=doc.content_hash, source_path=doc.path, markdown=doc.body,
        meta_json=json.dumps(doc.meta, ensure_ascii=False), title=doc.meta["title"], version=doc.meta["version"],
        effective=doc.meta_date("effective"), review_by=doc.meta_date("review_by"), change=doc.meta["change"],
        requires_ack=doc.meta["requires_ack"], ack_within_days=doc.meta["ack_within_days"], html=html, toc_json=json.dumps(toc, ensure_ascii=False), has_diagram=diagram, renderer=RENDERER,
        origin=origin, draft_id=draft_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(rev)
    except IntegrityError:  # a concurrent sync inserted the same text first: use theirs
        return db.session.scalar(
            sa.select(SopRevision).where(SopRevision.sop_id == sop.id, SopRevision.content_hash == doc.content_hash)
        )
    # A minor revision follows the one it edits (the current one); a material one starts a new basis.
    rev.basis_id = sop.current.basis_id if rev.change == "minor" and sop.current is not None else rev.id
    return rev


def apply(doc: SopFile, sop: Sop | None, departments: dict[str, Department], report: SyncReport,
          origin: str = "file", draft_id: int | None = None) -> None:
    if sop is None:
        sop = Sop(code=doc.code, path=doc.path, title=doc.meta["title"], department=departments[doc.meta["department"]])
        try:
            with db.session.begin_nested():
                db.session.add(sop)
        except IntegrityError:
            sop = db.session.scalar(sa.select(Sop).where(Sop.code == doc.code))
        report.created.append(doc.code)
    elif sop.current is not None and sop.current.content_hash == doc.content_hash and sop.retired_at is None \
            and sop.path == doc.path:
        report.unchanged += 1
        return
    elif doc.code not in report.created and (sop.current is None or sop.current.content_hash != doc.content_hash):
        report.revised.append(doc.code)
    rev = add_revision(sop, doc, origin, draft_id)
    sop.current_revision_id, sop.current = rev.id, rev
    sop.path, sop.title, sop.retired_at = doc.path, doc.meta["title"], None
    sop.department = departments[doc.meta["department"]]
    tags = list(dict.fromkeys(simplified(t) for t in doc.meta["tags"]))  # 會員 and 会员 are one tag
    sop.tags = "|" + "|".join(tags) + "|" if tags else ""


def rerender_stale() -> int:
    """Revisions rendered by an older renderer are rendered again (text and hash stay the same)."""
    stale = list(db.session.scalars(sa.select(SopRevision).where(SopRevision.renderer < RENDERER)))
    for rev in stale:
        rev.html, toc, rev.has_diagram = render_markdown(rev.markdown)
        rev.toc_json, rev.renderer = json.dumps(toc, ensure_ascii=False), RENDERER
    return len(stale)


def in_conflict(doc: SopFile, sop: Sop | None) -> bool:
    """The file disagrees with a revision published from the browser (whose file the portal wrote)."""
    return (sop is not None and sop.current is not None and sop.current.origin == "browser"
            and sop.retired_at is None and sop.current.content_hash != doc.content_hash)


def record_conflict(doc: SopFile, sop: Sop, root: Path, report: SyncReport) -> None:
    """Report `path: conflict with revision N` and keep the file's text for the admin who resolves it."""
    report.conflicts.append(f"{shown(root / doc.path)}: conflict with revision {sop.current.number}")
    known = db.session.scalar(sa.select(SyncConflict.id).where(
        SyncConflict.sop_id == sop.id, SyncConflict.file_hash == doc.content_hash, SyncConflict.resolved_at.is_(None)))
    if known is None:
        db.session.add(SyncConflict(sop_id=sop.id, path=doc.path, file_hash=doc.content_hash, file_text=doc.text,
                                    revision_id=sop.current.id, found_at=utcnow()))


def apply_one(doc: SopFile, origin: str = "file", draft_id: int | None = None) -> SyncReport:
    """One SOP's text through the same path as a sync of the folder: a revision (rendered), the SOP's
    current pointer, then the `applied` listeners (audiences, re-acknowledgement) in this transaction.
    The caller writes the file and then calls commit_and_announce(report) (the search index follows)."""
    report = SyncReport()
    serialize("sops-sync")
    departments = {d.name: d for d in db.session.scalars(sa.select(Department))}
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == doc.code).options(sa.orm.selectinload(Sop.current)))
    apply(doc, sop, departments, report, origin, draft_id)
    db.session.flush()
    applied.send(current_app._get_current_object(), report=report)
    db.session.flush()
    return report


def retire_one(sop: Sop) -> SyncReport:
    """Retire one SOP the way sync retires one whose file is gone, with the same `applied` listeners."""
    report = SyncReport()
    serialize("sops-sync")
    if sop.retired_at is None:
        sop.retired_at = utcnow()
        report.retired.append(sop.code)
    db.session.flush()
    applied.send(current_app._get_current_object(), report=report)
    db.session.flush()
    return report


def sync(root: Path | None = None) -> SyncReport:
    """Bring the database in line with the files under root (default SOP_DIR). The caller commits."""
    root = Path(root or current_app.config["SOP_DIR"])
    report = SyncReport()
    serialize("sops-sync")  # a second sync waits, then finds everything unchanged
    try:
        sync_org()
    except OrgError as e:  # the SOPs sync against the departments already known
        report.errors.append(f"{shown(e.path)}:{e.line}: {e.reason} (departments and positions not changed)")
    valid, invalid = read_all(root, report)
    departments = {d.name: d for d in db.session.scalars(sa.select(Department))}
    sops = {s.code: s for s in db.session.scalars(sa.select(Sop).options(sa.orm.selectinload(Sop.current)))}
    for doc in valid:
        if in_conflict(doc, sops.get(doc.code)):
            record_conflict(doc, sops[doc.code], root, report)  # neither version is applied
            continue
        apply(doc, sops.get(doc.code), departments, report)
    seen = {doc.code for doc in valid}
    for sop in sops.values():
        # A file that is still there but invalid keeps its SOP alive with the last good revision.
        if sop.code not in seen and sop.path not in invalid and sop.retired_at is None:
            sop.retired_at = utcnow()
            report.retired.append(sop.code)
    rerender_stale()
    db.session.flush()
    applied.send(current_app._get_current_object(), report=report)
    db.session.flush()
    return report

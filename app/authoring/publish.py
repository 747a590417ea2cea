"""Publication has one path: an approved draft becomes a revision through the same code as `flask sops sync`
(render, audiences and re-acknowledgement via `applied`, the search index via `synced`), and its file is
written into SOP_DIR (write, then rename) so that the folder stays a complete library.

Also here: resolving a sync conflict (a file changed on disk under a browser revision) and exporting the
library as files."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import current_app

from app import audit
from app.auth.models import User
from app.authoring.drafts import revision_text, target_path
from app.authoring.models import Draft, DraftAttachment
from app.authoring.permissions import AuthoringError
from app.extensions import db, serialize
from app.org import Department, Position
from app.sops.content import ContentError, check_attachment, parse_sop_text
from app.clock import utcnow
from app.sops.models import Sop, SopRevision, SyncConflict
from app.sops.sync import apply_one, commit_and_announce, retire_one

RETIRED_DIR = ".retired"  # retired files move here; sync does not read hidden folders


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over the target: readers (and a sync
    running at the same moment) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def files_or_nothing():
    """A file that cannot be written (disk full, permissions) undoes the transaction: nothing is published."""
    try:
        yield
    except OSError as e:
        db.session.rollback()
        raise AuthoringError("The SOP folder could not be written (%(reason)s); nothing was published.", 503,
                             reason=e.strerror or type(e).__name__) from e


def inside(root: Path, rel: str) -> Path:
    path = (root / PurePosixPath(rel)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise AuthoringError("The path %(path)s is outside the SOP folder.", 422, path=rel)
    return path


def parse_draft(draft: Draft, path: str):
    root = Path(current_app.config["SOP_DIR"])
    departments = set(db.session.scalars(sa.select(Department.name)))
    positions = set(db.session.scalars(sa.select(Position.name)))
    try:
        return parse_sop_text(draft.text, path, departments, positions, inside(root, path).parent,
                              {a.name for a in draft.attachments})
    except ContentError as e:
        raise AuthoringError("Line %(line)s: %(reason)s", 422, line=e.line, reason=e.reason) from None


def publish(draft: Draft) -> SopRevision | None:
    """Publish an approved draft and commit: the revision (origin 'browser', draft_id) goes through sync's
    apply + `applied`; the attachments and then the .md are written into SOP_DIR; the search index follows
    after the commit. A retire draft retires the SOP (sync's path for a removed file) and moves its file to
    SOP_DIR/.retired/; it returns None."""
    if draft.state != "approved":
        raise AuthoringError("Only an approved draft can be published.", 409)
    root = Path(current_app.config["SOP_DIR"])
    serialize("sops-sync")  # one publication or sync at a time
    if draft.kind == "retire":
        return retire(draft, root)
    path = target_path(draft)
    doc = parse_draft(draft, path)
    target = inside(root, path)
    report = apply_one(doc, origin="browser", draft_id=draft.id)
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == draft.code))
    rev = sop.current
    with files_or_nothing():
        for attachment in draft.attachments:
            write_atomic(target.parent / attachment.name, attachment.data)
        write_atomic(target, doc.text.encode("utf-8"))  # its SHA-256 is the revision's content_hash
    draft.sop_id, draft.state, draft.published_revision_id = sop.id, "published", rev.id
    draft.holder_id, draft.held_until = None, None
    audit.record("doc.publish", f"sop:{sop.code}", {"draft": draft.id, "revision": rev.number,
                                                    "sha256": rev.content_hash, "path": path}, actor=None)
    commit_and_announce(report)
    return rev


def retire(draft: Draft, root: Path) -> None:
    sop = draft.sop
    report = retire_one(sop)
    source = inside(root, sop.path)
    if source.is_file():
        with files_or_nothing():
            write_atomic(inside(root, f"{RETIRED_DIR}/{sop.path}"), source.read_bytes())
            source.unlink()
    draft.state, draft.published_revision_id = "published", sop.current_revision_id
    audit.record("doc.retire", f"sop:{sop.code}", {"draft": draft.id, "revision": sop.current.number,
                                                   "moved_to": f"{RETIRED_DIR}/{sop.path}"}, actor=None)
    commit_and_announce(report)


# --- conflicts ---------------------------------------------------------------------------------------------

def open_conflicts() -> list[SyncConflict]:
    return list(db.session.scalars(sa.select(SyncConflict).where(SyncConflict.resolved_at.is_(None))
                                   .order_by(SyncConflict.found_at)))


def resolve_conflict(conflict: SyncConflict, admin: User, choice: str) -> SyncConflict:
    """An admin decides a sync conflict; both versions are kept either way and it commits.
    'portal': the file is rewritten from the portal's current revision (the file's text stays in the
    conflict row). 'file': the file's text becomes a new revision through the sync path."""
    if admin.role != "admin":
        raise AuthoringError("Only an administrator can resolve a conflict.", 403)
    if conflict.resolved_at is not None:
        raise AuthoringError("This conflict has been resolved already.", 409)
    if choice not in ("portal", "file"):
        raise AuthoringError("Choose the portal's version or the file's.", 422)
    root = Path(current_app.config["SOP_DIR"])
    serialize("sops-sync")
    sop = conflict.sop
    report = None
    if choice == "portal":
        with files_or_nothing():
            write_atomic(inside(root, sop.path), revision_text(sop.current).encode("utf-8"))
    else:
        departments = set(db.session.scalars(sa.select(Department.name)))
        positions = set(db.session.scalars(sa.select(Position.name)))
        try:
            doc = parse_sop_text(conflict.file_text, conflict.path, departments, positions,
                                 inside(root, conflict.path).parent, content_hash=conflict.file_hash)
        except ContentError as e:
            raise AuthoringError("The file's text no longer passes its checks (line %(line)s: %(reason)s).", 422,
                                 line=e.line, reason=e.reason) from None
        report = apply_one(doc, origin="file")
        conflict.new_revision_id = sop.current_revision_id
    conflict.resolved_at, conflict.resolved_by_id, conflict.resolution = utcnow(), admin.id, choice
    audit.record("sops.conflict_resolved", f"sop:{sop.code}", {
        "conflict": conflict.id, "choice": choice, "file_sha256": conflict.file_hash,
        "revision": conflict.revision.number, "new_revision": sop.current.number}, actor=admin)
    if report is not None:
        commit_and_announce(report)
    else:
        db.session.commit()
    return conflict


# --- export ------------------------------------------------------------------------------------------------

def attachment_bytes(rev: SopRevision, name: str) -> bytes | None:
    """An attachment of a revision: the file beside the SOP, else the upload of the draft that published it."""
    folder = (Path(current_app.config["SOP_DIR"]) / PurePosixPath(rev.source_path)).parent
    try:
        return check_attachment(folder, name, 0).read_bytes()
    except (ContentError, OSError):
        pass
    if rev.draft_id is not None:
        return db.session.scalar(sa.select(DraftAttachment.data).where(
            DraftAttachment.draft_id == rev.draft_id, DraftAttachment.name == name))
    return None


def export(directory: Path) -> list[str]:
    """Write every current SOP's file and its attachments under directory, at their SOP_DIR paths.
    Returns the SOP files written."""
    directory = Path(directory)
    written = []
    sops = db.session.scalars(sa.select(Sop).where(Sop.retired_at.is_(None), Sop.current_revision_id.is_not(None))
                              .options(sa.orm.joinedload(Sop.current)).order_by(Sop.path))
    for sop in sops:
        target = inside(directory, sop.path)
        write_atomic(target, revision_text(sop.current).encode("utf-8"))
        for name in sop.current.attachments:
            data = attachment_bytes(sop.current, name)
            if data is not None:
                write_atomic(target.parent / name, data)
        written.append(sop.path)
    return written

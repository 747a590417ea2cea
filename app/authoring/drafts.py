"""Drafts: start one, edit it (optimistic version + an edit lease), check it, attach files, rebase it.
Each function raises AuthoringError with the status the page answers with; the caller commits."""
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import audit
from app.auth.models import User
from app.authoring.models import OPEN_STATES, Draft, DraftAttachment
from app.authoring.permissions import AuthoringError, can_author
from app.extensions import db
from app.org import Department, Position
from app.sops.content import ID_RE, ContentError, parse_sop_text, split_front_matter, load_front_matter
from app.sops.diff import meta_diff, table_diff, text_diff
from app.clock import utcnow
from app.sops.models import Sop, SopRevision

__all__ = ["AuthoringError", "Holder", "Problem", "start_draft", "new_text", "compose", "split", "check",
           "check_draft", "save", "acquire", "release", "add_attachment", "remove_attachment", "rebase",
           "revision_text", "open_draft", "is_stale"]

# Front matter keys in the order the editor writes them (the DESIGN example's order).
KEY_ORDER = ("id", "title", "department", "departments", "positions", "tags", "version", "effective", "review_by",
             "owner", "reviewers", "approvers", "requires_ack", "ack_within_days", "change", "attachments")
DATE_KEYS = ("effective", "review_by")
# Uploads: extension → (content type, test of the first bytes / the zip's members).
ATTACHMENT_KINDS = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
OOXML_PART = {".docx": "word/document.xml", ".xlsx": "xl/workbook.xml"}
UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>:\"|?*\\/]")
SKELETON = """## 目的

## 适用范围

## 职责

## 操作步骤

| 步骤 | 标准 | 提示 |
|---|---|---|
| 1 |  |  |
"""


@dataclass
class Holder:
    """Someone else has the draft open in the editor until `until`."""
    user: User
    until: datetime


@dataclass
class Problem:
    line: int  # a line of the whole text (front matter included), 1-based
    reason: str


class DraftConflict(AuthoringError):
    """Someone else saved the draft since this editor loaded it. `kept_text` is the refused text, so the
    page can show it and nothing typed is lost; `other` is who saved in between."""
    status = 409

    def __init__(self, text: str, kept_text: str, other: User | None, **params):
        super().__init__(text, **params)
        self.kept_text, self.other = kept_text, other


# --- text: compose, split, check --------------------------------------------------------------------

def compose(meta_form: dict, body: str) -> str:
    """Front matter (as the editor's form gives it) + body → the file's text. Stable key order, Chinese kept."""
    meta = {}
    for key in [*KEY_ORDER, *sorted(k for k in meta_form if k not in KEY_ORDER)]:
        value = meta_form.get(key)
        if value is None or value == "" or value == [] or (key not in KEY_ORDER and value is False):
            continue
        if key in DATE_KEYS and isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                pass  # kept as typed; check() reports it at its line
        if key == "version":
            value = str(value)
        meta[key] = value
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, default_flow_style=None, width=1000)
    return f"---\n{front}---\n{body.replace(chr(13) + chr(10), chr(10)).lstrip(chr(10))}"


def split(text: str) -> tuple[dict, str]:
    """The file's text → (front matter as a dict with dates as YYYY-MM-DD, body). AuthoringError (422) with
    the line when the front matter cannot be read: the editor then shows the raw text."""
    try:
        front, body, _line = split_front_matter(text.replace("\r\n", "\n"))
        meta = load_front_matter(front)
    except ContentError as e:
        raise AuthoringError("Line %(line)s: %(reason)s", 422, line=e.line, reason=e.reason) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise AuthoringError("Line %(line)s: %(reason)s", 422, line=2,
                             reason="front matter must be a mapping of 'key: value' lines")
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in meta.items()}, body


def check(text: str, department_names, position_names, path: str = "draft.md", folder: Path | None = None,
          attachments=frozenset()) -> list[Problem]:
    """What would stop this text from publishing, each with its line in the whole text. Uses the same
    validation as sync (app.sops.content.parse_sop_text)."""
    folder = folder or Path(current_app.config["SOP_DIR"]) / PurePosixPath(path).parent
    try:
        parse_sop_text(text, path, set(department_names), set(position_names), folder, set(attachments))
    except ContentError as e:
        return [Problem(e.line, e.reason)]
    return []


def key_line(text: str, key: str) -> int:
    for n, line in enumerate(text.split("\n"), start=1):
        if line.startswith(f"{key}:"):
            return n
    return 2


def check_draft(draft: Draft) -> list[Problem]:
    """check() for this draft: its SOP's folder and uploads, and the id and department it must keep."""
    departments = set(db.session.scalars(sa.select(Department.name)))
    positions = set(db.session.scalars(sa.select(Position.name)))
    path = target_path(draft)
    uploaded = {a.name for a in draft.attachments}
    problems = check(draft.text, departments, positions, path, attachments=uploaded)
    if problems:
        return problems
    meta, _body = split(draft.text)
    if str(meta.get("id")).strip() != draft.code:
        problems.append(Problem(key_line(draft.text, "id"), f"id must stay {draft.code!r}"))
    if meta.get("department") != draft.department.name:
        problems.append(Problem(key_line(draft.text, "department"),
                                f"department must stay {draft.department.name!r} (start a draft in the other department)"))
    listed = set(meta.get("attachments") or [])
    for name in sorted(uploaded - listed):
        problems.append(Problem(key_line(draft.text, "attachments"),
                                f"attachment {name!r} is uploaded but not listed under attachments:"))
    return problems


def target_path(draft: Draft) -> str:
    """Where the draft's file lives under SOP_DIR: the SOP's path, or <department folder>/<code>.md."""
    if draft.sop is not None:
        return draft.sop.path
    folders = [PurePosixPath(p).parent.as_posix() for p in db.session.scalars(
        sa.select(Sop.path).where(Sop.department_id == draft.department_id).order_by(Sop.id))]
    folder = max(set(folders), key=folders.count) if folders else slug(draft.department)
    return f"{folder}/{draft.code.lower()}.md" if folder not in ("", ".") else f"{draft.code.lower()}.md"


def slug(department: Department) -> str:
    name = (department.name_en or department.code or "").strip().lower()
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-") or department.code.lower()


# --- texts to start from ------------------------------------------------------------------------------

def new_text(department: Department, code: str, title: str) -> str:
    """A new SOP's text: front matter + the department's template body (content/templates/<department>.md)
    or a blank skeleton."""
    templates = Path(current_app.config["CONTENT_DIR"]) / "templates"
    body = SKELETON
    for name in (department.name, department.code, department.code.lower()):
        path = templates / f"{name}.md"
        if path.is_file():
            body = path.read_text(encoding="utf-8")
            if body.startswith("---"):  # a template with its own front matter: keep only its body
                try:
                    body = split_front_matter(body.replace("\r\n", "\n"))[1]
                except ContentError:
                    pass
            break
    meta = {"id": code, "title": title, "department": department.name, "version": "1.0",
            "effective": date.today().isoformat(), "requires_ack": False, "change": "material"}
    return compose(meta, body)


def revision_text(rev: SopRevision) -> str:
    """The file text of a revision: the draft that made it, else the file when it still has the revision's
    hash, else front matter + body rebuilt from what the revision stored."""
    if rev.draft_id is not None:
        draft = db.session.get(Draft, rev.draft_id)
        if draft is not None:
            return draft.text
    path = Path(current_app.config["SOP_DIR"]) / PurePosixPath(rev.source_path)
    try:
        raw = path.read_bytes()
    except OSError:
        raw = None
    if raw is not None and hashlib.sha256(raw).hexdigest() == rev.content_hash:
        return raw.decode("utf-8").replace("\r\n", "\n")
    meta = {k: v for k, v in rev.meta.items()}
    return compose(meta, rev.markdown)


# --- starting and finding drafts ---------------------------------------------------------------------

def open_draft(code: str) -> Draft | None:
    return db.session.scalar(sa.select(Draft).where(Draft.code == code, Draft.state.in_(OPEN_STATES)))


def start_draft(user: User, *, department: Department, text: str | None = None, sop: Sop | None = None,
                kind: str = "edit", source: str = "blank", import_report: list[str] | None = None,
                attachments: dict[str, bytes] | None = None) -> Draft:
    """Start a draft (kind 'edit' or 'retire' of sop, or 'new'). For 'edit' the text defaults to the current
    revision's file. One open draft per SOP: when there is one, it is returned unchanged (the caller
    redirects to it). A new SOP's code is its text's front matter `id`."""
    if kind not in ("edit", "new", "retire"):
        raise AuthoringError("Unknown kind of draft.", 422)
    if sop is not None:
        department = sop.department
    if not can_author(user, department, sop):
        raise AuthoringError("You may not write %(dept)s SOPs.", 403, dept=department.name)
    if kind == "new":
        if text is None:
            raise AuthoringError("A new SOP needs its text.", 422)
        try:
            meta, _body = split(text)
        except AuthoringError:
            meta = {}
        code = str(meta.get("id") or "").strip()
        if not ID_RE.match(code):
            raise AuthoringError("The id %(code)s must look like FO-NA-001.", 422, code=code or "''")
        if db.session.scalar(sa.select(Sop.id).where(Sop.code == code)) is not None:
            raise AuthoringError("An SOP with the id %(code)s exists already; open it and choose Edit.", 409, code=code)
        base = None
    else:
        if sop is None or sop.current is None:
            raise AuthoringError("There is no such SOP.", 404)
        if sop.retired_at is not None:
            raise AuthoringError("This SOP has been retired.", 409)
        code, base = sop.code, sop.current
        if text is None:
            text = revision_text(base)
            source = "revision" if source == "blank" else source
    existing = open_draft(code)
    if existing is not None:
        return existing
    now = utcnow()
    draft = Draft(sop=sop, code=code, department=department, kind=kind, source=source, base_revision=base,
                  state="draft", text=text.replace("\r\n", "\n"), change_note="", author_id=user.id,
                  created_at=now, updated_at=now, updated_by_id=user.id, version=1,
                  import_report=json.dumps(import_report, ensure_ascii=False) if import_report is not None else None)
    try:
        with db.session.begin_nested():
            db.session.add(draft)
    except IntegrityError:  # someone started one at the same moment: use theirs
        return open_draft(code)
    for name, data in (attachments or {}).items():
        add_attachment(draft, user, name, data)
    audit.record("doc.draft", f"draft:{draft.id}", {"sop": code, "kind": kind, "source": source,
                                                    "base_revision": base.number if base else None}, actor=user)
    return draft


# --- editing ------------------------------------------------------------------------------------------

def may_edit(draft: Draft, user: User) -> None:
    if not (user.id == draft.author_id or can_author(user, draft.department, draft.sop)):
        raise AuthoringError("You may not write %(dept)s SOPs.", 403, dept=draft.department.name)
    if draft.state != "draft":
        raise AuthoringError("This draft has been submitted; it can be changed only after it is returned.", 409)


def aware(at: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back without their zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def local_hm(at: datetime) -> str:
    """HH:MM in the portal's time zone."""
    return aware(at).astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).strftime("%H:%M")


def lease_holder(draft: Draft, user: User) -> Holder | None:
    if draft.holder_id not in (None, user.id) and draft.held_until is not None and aware(draft.held_until) > utcnow():
        return Holder(draft.holder, aware(draft.held_until))
    return None


def acquire(draft: Draft, user: User) -> Holder | None:
    """Take or renew the edit lease (AUTHORING_LEASE_MINUTES). Returns who holds it when someone else does."""
    may_edit(draft, user)
    other = lease_holder(draft, user)
    if other is not None:
        return other
    draft.holder_id = user.id
    draft.held_until = utcnow() + timedelta(minutes=current_app.config["AUTHORING_LEASE_MINUTES"])
    return None


def release(draft: Draft, user: User) -> None:
    """Give the lease back (the editor was closed)."""
    if draft.holder_id == user.id:
        draft.holder_id, draft.held_until = None, None


def save(draft: Draft, user: User, text: str, change_note: str, base_version: int) -> Draft:
    """Save the editor's text. Refused with 409 (DraftConflict: who, and the refused text kept) when someone
    else saved since base_version or holds the lease. The version check is one conditional UPDATE, so two
    saves racing each other cannot both win."""
    may_edit(draft, user)
    text = text.replace("\r\n", "\n")
    other = lease_holder(draft, user)
    if other is not None:
        raise DraftConflict("%(name)s has this draft open until %(until)s. Your text was not saved; it is "
                            "shown below so that nothing is lost.", text, other.user, name=other.user.display_name,
                            until=local_hm(other.until))
    lease = utcnow() + timedelta(minutes=current_app.config["AUTHORING_LEASE_MINUTES"])
    done = db.session.execute(
        sa.update(Draft).where(Draft.id == draft.id, Draft.version == base_version, Draft.state == "draft")
        .values(text=text, change_note=(change_note or "").strip()[:2000], version=Draft.version + 1,
                updated_at=utcnow(), updated_by_id=user.id, holder_id=user.id, held_until=lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(draft)
    if done != 1:
        who = draft.updated_by or draft.author
        raise DraftConflict("%(name)s saved this draft at %(at)s, after you opened it. Your text was not saved; "
                            "it is shown below so that nothing is lost.", text, who, name=who.display_name,
                            at=local_hm(draft.updated_at))
    return draft


# --- attachments ----------------------------------------------------------------------------------------

def safe_name(name: str) -> str:
    """The file's own name: no folders, no control or reserved characters."""
    name = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    if not name or name.startswith(".") or UNSAFE_NAME.search(name) or len(name) > 200:
        raise AuthoringError("The file name %(name)s cannot be used; rename the file.", 422, name=repr(name))
    return name


def sniff(suffix: str, data: bytes) -> bool:
    """Does the content match its extension? First bytes for PDF and images; the main part for Office files."""
    if suffix == ".pdf":
        return data.startswith(b"%PDF-")
    if suffix == ".png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if suffix in (".jpg", ".jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return OOXML_PART[suffix] in z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def add_attachment(draft: Draft, user: User, name: str, data: bytes, content_type: str | None = None) -> DraftAttachment:
    """Attach an uploaded file (pdf, docx, xlsx, png, jpg), checked by its content, not its name; the size
    limit is AUTHORING_MAX_ATTACHMENT. A file of the same name is replaced."""
    may_edit(draft, user)
    name = safe_name(name)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in ATTACHMENT_KINDS:
        raise AuthoringError("Only PDF, Word (.docx), Excel (.xlsx), PNG and JPEG files can be attached.", 415)
    limit = current_app.config["AUTHORING_MAX_ATTACHMENT"]
    if len(data) > limit:
        raise AuthoringError("%(name)s is %(size)s MB; the limit is %(limit)s MB.", 413, name=name,
                             size=f"{len(data) / 1048576:.1f}", limit=f"{limit / 1048576:.1f}")
    if not sniff(suffix, data):
        raise AuthoringError("%(name)s is not really a %(kind)s file.", 415, name=name, kind=suffix[1:].upper())
    digest = hashlib.sha256(data).hexdigest()
    existing = next((a for a in draft.attachments if a.name == name), None)
    if existing is None:
        existing = DraftAttachment(draft=draft, name=name)
        db.session.add(existing)
    existing.content_type, existing.size, existing.sha256, existing.data = ATTACHMENT_KINDS[suffix], len(data), digest, data
    existing.uploaded_by_id, existing.uploaded_at = user.id, utcnow()
    db.session.flush()
    audit.record("doc.attach", f"draft:{draft.id}", {"name": name, "size": len(data), "sha256": digest}, actor=user)
    return existing


def remove_attachment(draft: Draft, user: User, name: str) -> None:
    may_edit(draft, user)
    found = next((a for a in draft.attachments if a.name == name), None)
    if found is None:
        raise AuthoringError("There is no such attachment.", 404)
    draft.attachments.remove(found)
    db.session.delete(found)
    audit.record("doc.detach", f"draft:{draft.id}", {"name": name}, actor=user)


# --- rebase ---------------------------------------------------------------------------------------------

def is_stale(draft: Draft) -> bool:
    """The SOP has a newer current revision than the one the draft started from."""
    return draft.sop is not None and draft.base_revision_id != draft.sop.current_revision_id


def rebase(draft: Draft, user: User) -> dict:
    """Move the draft's base to the SOP's current revision and return what changed between the old base and
    it ({"base": rev, "current": rev, "meta": …, "text": hunks, "tables": …}) so that the author merges by
    hand. A submitted draft goes back to 'draft': its text must be reviewed again."""
    if not (user.id == draft.author_id or can_author(user, draft.department, draft.sop)):
        raise AuthoringError("You may not write %(dept)s SOPs.", 403, dept=draft.department.name)
    if not draft.is_open:
        raise AuthoringError("This draft is closed.", 409)
    if not is_stale(draft):
        raise AuthoringError("This draft is based on the current revision already.", 409)
    base, current = draft.base_revision, draft.sop.current
    changes = {"base": base, "current": current, "meta": meta_diff(base.meta if base else {}, current.meta),
               "text": text_diff(base.markdown if base else "", current.markdown),
               "tables": table_diff(base.markdown if base else "", current.markdown)}
    draft.base_revision_id, draft.base_revision = current.id, current
    draft.state = "draft"
    draft.version += 1  # an editor open on the old base must reload
    audit.record("doc.rebase", f"draft:{draft.id}", {"from": base.number if base else None, "to": current.number},
                 actor=user)
    return changes

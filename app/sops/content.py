"""Reading one SOP file: front matter schema and validation. Every problem carries a line number."""
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath

from app.frontmatter import (ContentError, ContentLines, as_list, as_text, decode, key_lines_of,  # noqa: F401
                             load_front_matter, split_front_matter)

ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
ATTACHMENT_TYPES = {".xlsx", ".xls", ".docx", ".doc", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".csv", ".txt"}
FIELDS = {
    "id", "title", "department", "departments", "positions", "tags", "version", "effective", "review_by",
    "owner", "requires_ack", "ack_within_days", "change", "attachments", "reviewers", "approvers",
}


@dataclass
class SopFile:
    path: str  # relative to SOP_DIR, posix
    meta: dict
    body: str
    content_hash: str
    body_line: int  # line where the body starts, for messages
    key_lines: dict = field(default_factory=dict)
    text: str = ""  # the whole text as read (front matter + body, \n line ends)

    @property
    def code(self) -> str:
        return self.meta["id"]

    def meta_date(self, key: str) -> date | None:
        value = self.meta.get(key)
        return date.fromisoformat(value) if value else None


def as_date(meta: dict, key: str, line: int, required: bool) -> date | None:
    value = meta.get(key)
    if value is None and not required:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ContentError(line, f"{key} must be a date YYYY-MM-DD, got {value!r}")


def validate(meta, key_lines: dict, folder: Path, departments: set[str], positions: set[str],
             uploaded: set[str] = frozenset()) -> dict:
    """Check the front matter; return it normalised. `folder` is the SOP file's folder (for attachments)."""
    if not isinstance(meta, dict):
        raise ContentError(2, "front matter must be a mapping of 'key: value' lines")
    at = lambda key: key_lines.get(key, 2)  # noqa: E731
    for key in meta:
        if key not in FIELDS:
            raise ContentError(at(key), f"unknown field {key!r} (known: {', '.join(sorted(FIELDS))})")
    texts = {key: as_text(meta, key, at(key)) for key in ("id", "title", "department", "owner")}
    for key in ("id", "title", "department", "version", "effective"):
        if meta.get(key) in (None, ""):
            raise ContentError(at(key), f"missing required field {key!r}")
    code = texts["id"]
    if not ID_RE.match(code):
        raise ContentError(at("id"), f"id {code!r} must look like FO-NA-001 (capital letters/digits joined by '-')")
    if not isinstance(meta["version"], str):
        raise ContentError(at("version"), f'version must be quoted text, e.g. version: "{meta["version"]}"')
    title = texts["title"]
    if len(title) > 200:
        raise ContentError(at("title"), "title is longer than 200 characters")
    if texts["department"] not in departments:
        raise ContentError(at("department"), f"unknown department {texts['department']!r} (see content/org.yaml)")
    depts = as_list(meta, "departments", at("departments"))
    for d in depts:
        if d not in departments:
            raise ContentError(at("departments"), f"unknown department {d!r} (see content/org.yaml)")
    pos = as_list(meta, "positions", at("positions"))
    for p in pos:
        if p not in positions:
            raise ContentError(at("positions"), f"unknown position {p!r} (see content/org.yaml)")
    effective = as_date(meta, "effective", at("effective"), True)
    review_by = as_date(meta, "review_by", at("review_by"), False)
    if review_by and review_by <= effective:
        raise ContentError(at("review_by"), f"review_by {review_by} must be after effective {effective}")
    change = meta.get("change", "material")
    if change not in ("material", "minor"):
        raise ContentError(at("change"), f"change must be 'material' or 'minor', got {change!r}")
    requires_ack = meta.get("requires_ack", False)
    if not isinstance(requires_ack, bool):
        raise ContentError(at("requires_ack"), "requires_ack must be true or false")
    days = meta.get("ack_within_days", 7)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
        raise ContentError(at("ack_within_days"), "ack_within_days must be a whole number of days from 0 to 365")
    attachments = as_list(meta, "attachments", at("attachments"))
    for name in attachments:
        check_attachment(folder, name, at("attachments"), present=name in uploaded)
    return {
        "id": code, "title": title, "department": texts["department"], "departments": depts, "positions": pos,
        "tags": as_list(meta, "tags", at("tags")), "version": meta["version"].strip(),
        "effective": effective.isoformat(), "review_by": review_by.isoformat() if review_by else None,
        "owner": texts["owner"], "requires_ack": requires_ack, "ack_within_days": days,
        "change": change, "attachments": attachments,
        # Who reviews and approves a draft of this SOP (usernames or positions); empty: the department's managers.
        "reviewers": as_list(meta, "reviewers", at("reviewers")), "approvers": as_list(meta, "approvers", at("approvers")),
    }


def check_attachment(folder: Path, name: str, line: int, present: bool = False) -> Path:
    """An attachment sits beside its SOP (or below it); '..' and absolute paths are refused."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in name:
        raise ContentError(line, f"attachment {name!r} must be a file beside the SOP (no '..', no absolute path)")
    if pure.suffix.lower() not in ATTACHMENT_TYPES:
        raise ContentError(line, f"attachment {name!r} has a type the portal does not serve")
    path = (folder / pure).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ContentError(line, f"attachment {name!r} points outside the SOP's folder")
    if not present and not path.is_file():
        raise ContentError(line, f"attachment {name!r} is missing")
    return path


def parse_sop_text(text: str, path: str, departments: set[str], positions: set[str], folder: Path,
                   attachments: set[str] = frozenset(), content_hash: str | None = None) -> SopFile:
    """Validate one SOP's text (front matter + body); raise ContentError(line, reason) with a line of `text`.

    `path` is the file's path relative to SOP_DIR; `folder` the folder its attachments sit in. Names in
    `attachments` count as present without a file (a draft's uploads, written only on publication).
    Sync (files) and drafts (the browser) both validate through here."""
    text = text.replace("\r\n", "\n")
    front, body, body_line = split_front_matter(text)
    meta = load_front_matter(front)
    key_lines = key_lines_of(front)
    meta = validate(meta, key_lines, folder, departments, positions, attachments)
    if not body.strip():
        raise ContentError(body_line, "the SOP has no text below its front matter")
    return SopFile(
        path=path, meta=meta, body=body, body_line=body_line,
        content_hash=content_hash or hashlib.sha256(text.encode("utf-8")).hexdigest(), key_lines=key_lines,
        text=text,
    )


def read_sop(path: Path, root: Path, departments: set[str], positions: set[str], max_bytes: int) -> SopFile:
    """Read and validate one file; raise ContentError(line, reason)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ContentError(1, f"file is {size / 1048576:.1f} MB; the limit is {max_bytes / 1048576:.1f} MB")
    raw = path.read_bytes()
    return parse_sop_text(decode(raw), path.relative_to(root).as_posix(), departments, positions, path.parent,
                          content_hash=hashlib.sha256(raw).hexdigest())

"""The editor's front-matter form: form fields to a meta dict and back, and problems placed at their field or line."""
import re
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l

from app.frontmatter import ContentError, key_lines_of, split_front_matter

# The fields the form edits; every other key of the front matter (id, owner, attachments, reviewers…) is kept as is.
FORM_FIELDS = ("title", "version", "department", "departments", "positions", "tags", "requires_ack",
               "ack_within_days", "review_by", "change", "reviewers", "approvers")
LIST_FIELDS = ("departments", "positions", "tags", "reviewers", "approvers")
FIELD_LABELS = {"title": _l("Title"), "version": _l("Version"), "department": _l("Department"),
                "departments": _l("Departments that must read it"), "positions": _l("Positions that must read it"),
                "tags": _l("Tags"), "requires_ack": _l("Readers must sign that they have read it"),
                "ack_within_days": _l("Days to sign"), "review_by": _l("Review by"), "change": _l("Kind of change"),
                "reviewers": _l("Reviewers (usernames or positions; empty: the department's managers)"),
                "approvers": _l("Approvers (usernames or positions; empty: the department's managers)")}
SEPARATORS = re.compile(r"[,，、;；\n]+")


def as_text(value) -> str:
    """A list shown in one text box: 前台接待、夜审员."""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def form_values(meta: dict) -> dict:
    """What the form shows for a front matter."""
    values = {k: as_text(meta.get(k)) for k in FORM_FIELDS}
    values["requires_ack"] = bool(meta.get("requires_ack"))
    values["change"] = meta.get("change") or "material"
    return values


def from_form(form, meta: dict) -> dict:
    """The front matter after the form's changes. Values are kept as typed when they do not parse (a number
    field holding 'abc'), so validation reports them at their line instead of the form losing them."""
    meta = dict(meta)
    for key in ("title", "version", "department"):
        if key in form:
            meta[key] = form.get(key, "").strip()
    for key in LIST_FIELDS:
        if key in form:
            items = [s.strip() for s in SEPARATORS.split(form.get(key, "")) if s.strip()]
            if items:
                meta[key] = items
            else:
                meta.pop(key, None)
    if "change" in form:
        meta["change"] = form.get("change") if form.get("change") in ("material", "minor") else form.get("change", "")
    if "ack_within_days" in form:
        raw = form.get("ack_within_days", "").strip()
        meta["ack_within_days"] = int(raw) if raw.isdigit() else raw
    if "review_by" in form:
        raw = form.get("review_by", "").strip()
        try:
            meta["review_by"] = date.fromisoformat(raw) if raw else None
        except ValueError:
            meta["review_by"] = raw
        if meta["review_by"] is None:
            meta.pop("review_by")
    if "form_sent" in form:  # an unticked checkbox sends nothing
        meta["requires_ack"] = "requires_ack" in form
    return meta


@dataclass
class Placed:
    """Problems of one text, each where the person can fix it: at a form field, or at a line of the body."""
    fields: dict[str, list[str]] = field(default_factory=dict)
    body: list[tuple[int, str]] = field(default_factory=list)  # (line of the body textarea, reason)
    other: list[tuple[int, str]] = field(default_factory=list)  # (line of the whole text, reason)

    def __bool__(self) -> bool:
        return bool(self.fields or self.body or self.other)


def place(text: str, problems) -> Placed:
    """Put each problem (line of the whole text, reason) at the form field whose line it is, or at its body line."""
    placed = Placed()
    try:
        front, _body, body_line = split_front_matter(text.replace("\r\n", "\n"))
    except ContentError:
        front, body_line = "", 1
    keys = sorted(((n, k) for k, n in key_lines_of(front).items()), reverse=True)
    for p in problems:
        line, reason = p.line, p.reason
        if line >= body_line:
            placed.body.append((line - body_line + 1, reason))
            continue
        key = next((k for n, k in keys if n <= line), None)
        if key in FORM_FIELDS:
            placed.fields.setdefault(key, []).append(reason)
        else:
            placed.other.append((line, reason))
    return placed

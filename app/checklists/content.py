"""Checklist templates in Markdown: front matter, `##` sections, `- [ ]` items with their annotations.

An item line may carry, anywhere in its text:
    (第3天) / (day 3)        due on the plan's 3rd working day (onboarding)
    [[FO-NA-001]]            read and acknowledge this SOP (complete only when signed)
    {备注} / {note}          a note is required as evidence
    {数值} / {number}        a number is required as evidence (e.g. the closing balance)
    {照片} / {photo}         a photo is required as evidence (taken with the phone's camera)
    @经理 / @manager, @IT / @it, @新员工 / @newhire   who does it (default: the person the run is for)
"""
import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from app.frontmatter import ContentError, as_list, as_text, decode, key_lines_of, load_front_matter, split_front_matter

KINDS = ("onboarding", "recurring", "adhoc")
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
            "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6}
FIELDS = {"id", "title", "kind", "departments", "positions", "schedule"}
TASK = re.compile(r"^\s*[-*+]\s+\[[ xX]\]\s+(.+?)\s*$")
HEADING = re.compile(r"^(#{2,3})\s+(.+?)\s*#*\s*$")
OFFSET = re.compile(r"[（(]\s*(?:第\s*([^）)]*?)\s*天|day\s+([^）)]*?))\s*[)）]", re.I)
SOP_REF = re.compile(r"\[\[\s*([^\]]+?)\s*\]\]")
EVIDENCE = {"备注": "note", "note": "note", "数值": "number", "number": "number", "照片": "photo", "photo": "photo"}
EVIDENCE_RE = re.compile(r"\{(" + "|".join(EVIDENCE) + r")\}", re.I)
ROLES = {"经理": "manager", "manager": "manager", "it": "it", "新员工": "assignee", "newhire": "assignee",
         "员工": "assignee"}
ROLE_RE = re.compile(r"(?<![\w.])@(\S+)")


@dataclass
class Item:
    section: str
    text: str  # without the annotations
    line: int
    day: int | None = None
    sop: str | None = None
    evidence: str = ""  # "" | note | number | photo
    role: str = "assignee"  # assignee | manager | it


def parse_item(raw: str, section: str, line: int, known_sops: set[str]) -> Item:
    item = Item(section=section, text=raw, line=line)
    m = OFFSET.search(raw)
    if m:
        value = (m.group(1) or m.group(2) or "").strip()
        if not value.isdigit() or int(value) < 1:
            raise ContentError(line, f"due offset {m.group(0)!r} is not a day number such as (第3天) or (day 3)")
        item.day = int(value)
    refs = SOP_REF.findall(raw)
    if len(refs) > 1:
        raise ContentError(line, "an item may reference one SOP")
    if refs:
        if refs[0] not in known_sops:
            raise ContentError(line, f"unknown SOP {refs[0]!r} (no such id in content/sops)")
        item.sop = refs[0]
    evidence = EVIDENCE_RE.search(raw)
    if evidence:
        item.evidence = EVIDENCE[evidence.group(1).lower()]
    role = ROLE_RE.search(raw)
    if role:
        name = role.group(1).lower()
        if name not in ROLES:
            raise ContentError(line, f"unknown role @{role.group(1)} (use @经理, @IT or @新员工)")
        item.role = ROLES[name]
    text = ROLE_RE.sub("", EVIDENCE_RE.sub("", OFFSET.sub("", raw)))
    text = SOP_REF.sub(lambda r: r.group(1), text)
    item.text = re.sub(r"\s{2,}", " ", text).strip()
    if not item.text:
        raise ContentError(line, "the item has no text besides its annotations")
    return item


def parse_items(body: str, first_line: int, known_sops: set[str], default_section: str = "") -> list[Item]:
    """Every task-list item under its section heading; code fences are skipped."""
    items, section, fence = [], default_section, False
    for n, line in enumerate(body.split("\n"), start=first_line):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
            continue
        if fence:
            continue
        heading = HEADING.match(line)
        if heading:
            section = heading.group(2).strip()
            continue
        task = TASK.match(line)
        if task:
            items.append(parse_item(task.group(1), section, n, known_sops))
    return items


def parse_schedule(value, line: int) -> dict:
    """daily | {weekly: [mon, thu]} | {shifts: TEAM}: {"every": "day"}, {"every": "week", "days": [0, 3]}, or
    {"every": "shift", "team": "CS-HOTLINE"} (one run per shift of that duty team each day)."""
    if value in (None, "daily", "每天"):
        return {"every": "day"}
    if isinstance(value, dict) and set(value) == {"shifts"} and isinstance(value["shifts"], str):
        return {"every": "shift", "team": value["shifts"].strip()}
    if isinstance(value, dict) and set(value) == {"weekly"}:
        days = value["weekly"] if isinstance(value["weekly"], list) else [value["weekly"]]
        try:
            return {"every": "week", "days": sorted({WEEKDAYS[str(d).lower()] for d in days})}
        except KeyError:
            pass
    raise ContentError(line, "schedule must be 'daily', 'weekly: [mon, thu]' or 'shifts: TEAM-CODE'")


@dataclass
class TemplateFile:
    path: str
    meta: dict
    items: list[Item]
    content_hash: str
    id_line: int = 2

    @property
    def code(self) -> str:
        return self.meta["id"]

    def items_json(self) -> list[dict]:
        return [asdict(i) for i in self.items]


def read_template(path: Path, root: Path, known_sops: set[str], departments: set[str], positions: set[str]) -> TemplateFile:
    """Read and validate one template file; raise ContentError(line, reason)."""
    raw = path.read_bytes()
    text = decode(raw).replace("\r\n", "\n")
    front, body, body_line = split_front_matter(text)
    meta = load_front_matter(front)
    if not isinstance(meta, dict):
        raise ContentError(2, "front matter must be a mapping of 'key: value' lines")
    lines = key_lines_of(front)
    at = lambda key: lines.get(key, 2)  # noqa: E731
    for key in meta:
        if key not in FIELDS:
            raise ContentError(at(key), f"unknown field {key!r} (known: {', '.join(sorted(FIELDS))})")
    texts = {key: as_text(meta, key, at(key)) for key in ("id", "title")}
    for key in ("id", "title", "kind"):
        if not meta.get(key):
            raise ContentError(at(key), f"missing required field {key!r}")
    if meta["kind"] not in KINDS:
        raise ContentError(at("kind"), f"kind must be one of {', '.join(KINDS)}")
    depts, pos = as_list(meta, "departments", at("departments")), as_list(meta, "positions", at("positions"))
    for d in depts:
        if d not in departments:
            raise ContentError(at("departments"), f"unknown department {d!r} (see content/org.yaml)")
    for p in pos:
        if p not in positions:
            raise ContentError(at("positions"), f"unknown position {p!r} (see content/org.yaml)")
    if meta["kind"] == "recurring" and not depts:
        raise ContentError(at("kind"), "a recurring checklist names the departments (teams) that run it")
    items = parse_items(body, body_line, known_sops)
    if not items:
        raise ContentError(body_line, "the checklist has no items (write them as '- [ ] …' lines)")
    meta = {"id": texts["id"], "title": texts["title"], "kind": meta["kind"],
            "departments": depts, "positions": pos,
            "schedule": parse_schedule(meta.get("schedule"), at("schedule")) if meta["kind"] == "recurring" else None}
    return TemplateFile(path=path.relative_to(root).as_posix(), meta=meta, items=items,
                        content_hash=hashlib.sha256(raw).hexdigest(), id_line=at("id"))

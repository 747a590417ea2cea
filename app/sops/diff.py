"""Differences between two revisions: front matter, text lines, and Markdown tables cell by cell."""
import difflib
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

META_FIELDS = ("title", "version", "effective", "review_by", "change", "department", "departments", "positions",
               "tags", "owner", "requires_ack", "ack_within_days", "attachments")
# What a reader sees for a front-matter key in a diff (版本, 生效日期, 复审日期 …), never the key itself.
META_LABELS = {"title": _l("Title"), "version": _l("Version"), "effective": _l("Effective"), "review_by": _l("Review by"),
               "change": _l("Kind of change"), "department": _l("Department"), "departments": _l("Departments"),
               "positions": _l("Positions"), "tags": _l("Tags"), "owner": _l("Owner"),
               "requires_ack": _l("Requires acknowledgement"), "ack_within_days": _l("Days to sign"),
               "attachments": _l("Attachments")}


@dataclass
class Table:
    heading: str  # the heading the table sits under
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]

    @property
    def key(self) -> tuple:
        return (self.heading, self.header)


@dataclass
class TableDiff:
    heading: str
    header: tuple[str, ...]
    status: str  # same | changed | added | removed
    rows: list[dict] = field(default_factory=list)  # {"status": …, "cells": [(text, changed)]}


def cells(line: str) -> tuple[str, ...]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return tuple(c.strip() for c in line.split("|"))


def is_separator(line: str) -> bool:
    return bool(line.strip()) and set(line.replace("|", "").replace(" ", "")) <= set(":-") and "-" in line


def tables(md: str) -> list[Table]:
    """Pipe tables with a header separator row, each tagged with the heading above it."""
    found, heading, lines, i = [], "", md.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("#"):
            heading = line.strip("# ").strip()
        if "|" in line and i + 1 < len(lines) and is_separator(lines[i + 1]):
            header, rows, i = cells(line), [], i + 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(cells(lines[i]))
                i += 1
            found.append(Table(heading, header, rows))
            continue
        i += 1
    return found


STEP_NUMBER = re.compile(r"^\s*(?:\d+|[一二三四五六七八九十]+)\s*[.、)）]?\s*")


def row_key(row: tuple) -> tuple:
    """Rows are matched without their step numbers, so inserting step 4 does not 'change' steps 5, 6, 7."""
    return tuple(STEP_NUMBER.sub("", c) for c in row)


def changed_row(a: tuple, b: tuple) -> dict:
    marks = [(c, k >= len(a) or a[k] != c) for k, c in enumerate(b)]
    return {"status": "changed" if a != b else "same", "old": a, "cells": marks}


def row_diff(old: list[tuple], new: list[tuple]) -> list[dict]:
    out = []
    matcher = difflib.SequenceMatcher(a=[row_key(r) for r in old], b=[row_key(r) for r in new], autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            out += [changed_row(old[a1 + k], new[b1 + k]) for k in range(b2 - b1)]
            continue
        pairs = min(a2 - a1, b2 - b1) if op == "replace" else 0
        out += [changed_row(old[a1 + k], new[b1 + k]) for k in range(pairs)]
        out += [{"status": "removed", "cells": [(c, True) for c in row]} for row in old[a1 + pairs:a2]]
        out += [{"status": "added", "cells": [(c, True) for c in row]} for row in new[b1 + pairs:b2]]
    return out


def table_diff(old_md: str, new_md: str) -> list[TableDiff]:
    old = {t.key: t for t in tables(old_md)}
    new = tables(new_md)
    out = []
    for t in new:
        before = old.pop(t.key, None)
        if before is None:
            out.append(TableDiff(t.heading, t.header, "added", row_diff([], t.rows)))
        else:
            rows = row_diff(before.rows, t.rows)
            out.append(TableDiff(t.heading, t.header, "changed" if any(r["status"] != "same" for r in rows) else "same", rows))
    out += [TableDiff(t.heading, t.header, "removed", row_diff(t.rows, [])) for t in old.values()]
    return out


def text_diff(old_md: str, new_md: str, context: int = 3) -> list[list[dict]]:
    """Hunks of lines: {"op": " "|"-"|"+", "old": n, "new": n, "text": …}."""
    a, b = old_md.split("\n"), new_md.split("\n")
    hunks = []
    for group in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_grouped_opcodes(context):
        hunk = []
        for op, a1, a2, b1, b2 in group:
            if op == "equal":
                hunk += [{"op": " ", "old": a1 + k + 1, "new": b1 + k + 1, "text": a[a1 + k]} for k in range(a2 - a1)]
                continue
            hunk += [{"op": "-", "old": a1 + k + 1, "new": None, "text": a[a1 + k]} for k in range(a2 - a1)]
            hunk += [{"op": "+", "old": None, "new": b1 + k + 1, "text": b[b1 + k]} for k in range(b2 - b1)]
        hunks.append(hunk)
    return hunks


def meta_diff(old: dict, new: dict) -> list[tuple[str, object, object]]:
    return [(k, old.get(k), new.get(k)) for k in META_FIELDS if old.get(k) != new.get(k)]

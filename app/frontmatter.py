"""Reading a content file's front matter (SOPs, checklists, teams): the '---' block, its YAML within
app.safeyaml's limits, typed values, and errors that carry a line number. Knows no feature."""
import copy
import functools
import re
from dataclasses import dataclass

import yaml

from app import safeyaml

FRONT_MATTER_MAX_CHARS = 64 * 1024  # a real front matter is a few hundred bytes
EXAMPLES = {"id": "FO-NA-001", "title": "夜审操作规程", "department": "前厅部", "owner": "it-support"}


class ContentError(ValueError):
    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


@dataclass
class ContentLines:
    """What a content sync (checklists, teams) reports: one line per file or part skipped, then a summary.
    Iterates as all its lines."""
    errors: list[str]
    summary: list[str]

    def __iter__(self):
        return iter([*self.errors, *self.summary])


def split_front_matter(text: str) -> tuple[str, str, int]:
    """Return (front matter, body, body's first line)."""
    if not text.startswith("---"):
        raise ContentError(1, "no front matter: the file must start with a line '---'")
    lines = text.split("\n")
    if lines[0].strip() != "---":
        raise ContentError(1, "the first line must be exactly '---'")
    for n, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            return "\n".join(lines[1 : n - 1]), "\n".join(lines[n:]), n + 1
    raise ContentError(1, "front matter is not closed by a line '---'")


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ContentError(line, f"not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8") from None


def as_list(meta: dict, key: str, line: int) -> list[str]:
    value = meta.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise ContentError(line, f"{key} must be a list of names, e.g. {key}: [a, b]")
    return [str(v).strip() for v in value]


def as_text(meta: dict, key: str, line: int) -> str:
    """A one-line value such as a title or a department: text or a number, never a list or a mapping."""
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ContentError(line, f"{key} must be one value on its line, e.g. {key}: {EXAMPLES.get(key, 'text')}")
    return str(value).strip()


def key_lines_of(front: str) -> dict[str, int]:
    lines = {}
    for n, line in enumerate(front.split("\n"), start=2):
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if m and m.group(1) not in lines:
            lines[m.group(1)] = n
    return lines


def load_front_matter(front: str):
    """The front matter's YAML (read within app.safeyaml's limits), or ContentError at the line of the problem.
    Each call gets its own copy: callers may change it."""
    return copy.deepcopy(parsed_front_matter(front))


@functools.lru_cache(maxsize=256)
def parsed_front_matter(front: str):
    """The editor's preview reads the same front matter on every keystroke; PyYAML's pure-Python reader is slow."""
    try:
        return safeyaml.load(front, FRONT_MATTER_MAX_CHARS)
    except yaml.YAMLError as e:
        raise ContentError(safeyaml.error_line(e, 2), f"front matter is not valid YAML: {safeyaml.error_reason(e)}") from None

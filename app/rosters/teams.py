"""Teams and shift types from content/rosters/teams.yaml, checked line by line and synced with the SOPs.

    teams:
      - code: FO-DESK
        name: 前台接待组
        department: 前厅部
        supervisor: fo.manager
        members: [fo.staff, fo.night, newhire]
        rules: {max_consecutive: 6, min_days_off: 4, min_rest_hours: 11}
        pattern: {on: 5, off: 2}
        shifts:
          - {code: N, name: 夜班, start: "23:30", end: "08:00", colour: "#5b6bbf", min_staff: 1,
             holiday_min_staff: 1, sops: [FO-NA-001]}
"""
import json
import re
from datetime import date, time
from pathlib import Path

import sqlalchemy as sa
import yaml
from flask import current_app

from app import safeyaml
from app.auth.models import User
from app.extensions import db
from app.org import Department
from app.rosters.models import ShiftType, Team
from app.rosters.shifts import span
from app.frontmatter import ContentError, ContentLines
from app.clock import utcnow
from app.sops.models import Sop
from app.sops.signals import applied

TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
RULES = {"max_consecutive", "min_days_off", "min_rest_hours"}
EXAMPLES = {"department": "前厅部", "supervisor": "fo.manager"}


def parse_time(value, line: int, what: str) -> time:
    m = TIME_RE.match(str(value).strip())
    if not m:
        raise ContentError(line, f"{what} {value!r} must be a time HH:MM")
    return time(int(m.group(1)), int(m.group(2)))


def line_of(text: str, needle: str, default: int = 1) -> int:
    for n, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            return n
    return default


def key_line(text: str, key: str, team_line: int) -> int:
    """The line of `key:` in the team that starts at team_line (the team's line when not found)."""
    for n, line in enumerate(text.split("\n")[team_line - 1:], start=team_line):
        if re.match(rf"\s*(- )?{key}\s*:", line):
            return n
    return team_line


def check_shifts(shifts: list[dict], text: str) -> None:
    """Zero-length shifts and shifts of one team that overlap each other are refused."""
    spans = []
    for s in shifts:
        at = line_of(text, f"code: {s['code']}")
        if s["start"] == s["end"]:
            raise ContentError(at, f"shift {s['code']} starts and ends at {s['start']:%H:%M}: it has no length")
        spans.append((s, at, span(date(2026, 1, 5), s["start"], s["end"])))
    for i, (a, _at, sa_) in enumerate(spans):
        for b, at_b, sb in spans[i + 1:]:
            # Compare on consecutive days too, so that a night shift and the next morning's shift are checked.
            later = span(date(2026, 1, 6), b["start"], b["end"])
            earlier = span(date(2026, 1, 4), b["start"], b["end"])
            if sa_.overlaps(sb) or sa_.overlaps(later) or sa_.overlaps(earlier):
                raise ContentError(at_b, f"shift {b['code']} overlaps shift {a['code']}")


def text_value(value, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value.strip()) <= limit


def names(value) -> bool:
    return value is None or isinstance(value, list) and all(isinstance(v, str) for v in value)


def whole_numbers(value, keys: set[str] | None = None) -> bool:
    return value is None or isinstance(value, dict) and (keys is None or set(value) <= keys) and \
        all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000 for v in value.values())


def check_team_shape(entry, text: str) -> int:
    """A team is a mapping of the documented keys with values of the documented kinds; returns its line."""
    if not isinstance(entry, dict):
        raise ContentError(line_of(text, str(entry)), "each team is a mapping (code: …, name: …, shifts: […])")
    at = line_of(text, f"code: {entry.get('code')}")
    for key, limit in (("code", 32), ("name", 100)):
        if not text_value(entry.get(key), limit):
            raise ContentError(at, f"a team needs a {key} (text of at most {limit} characters)")
    for key in ("department", "supervisor"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ContentError(key_line(text, key, at), f"{key} is one name, e.g. {key}: {EXAMPLES[key]}")
    if not names(entry.get("members")):
        raise ContentError(key_line(text, "members", at), "members is a list of usernames, e.g. members: [fo.staff]")
    if not whole_numbers(entry.get("rules"), RULES):
        raise ContentError(key_line(text, "rules", at), f"rules are whole numbers among {', '.join(sorted(RULES))}")
    if not whole_numbers(entry.get("pattern"), {"on", "off"}):
        raise ContentError(key_line(text, "pattern", at), "pattern is {on: days, off: days} in whole numbers")
    if not isinstance(entry.get("shifts") or [], list):
        raise ContentError(at, "shifts is a list of shifts")
    for s in entry.get("shifts") or []:
        sat = line_of(text, f"code: {s.get('code')}", at) if isinstance(s, dict) else at
        if not isinstance(s, dict) or not text_value(s.get("code"), 16) or not text_value(s.get("name"), 50):
            raise ContentError(sat, "a shift needs a code (up to 16 characters) and a name (up to 50)")
        if not names(s.get("sops")) or not whole_numbers({k: s[k] for k in ("min_staff", "holiday_min_staff") if k in s}) \
                or s.get("colour") is not None and not text_value(s["colour"], 16):
            raise ContentError(sat, "sops is a list of SOP ids, min_staff and holiday_min_staff whole numbers, "
                                    "colour a short text such as \"#5b6bbf\"")
    return at


def read_teams(path: Path) -> list[dict]:
    """Validate the file; raise ContentError(line, reason) at the first problem."""
    text = path.read_text(encoding="utf-8")
    try:
        data = safeyaml.load(text) or {}
    except yaml.YAMLError as e:
        raise ContentError(safeyaml.error_line(e), f"not valid YAML: {safeyaml.error_reason(e)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("teams") or [], list):
        raise ContentError(1, "the file must hold 'teams:' followed by a list of teams")
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    depts = {d.name: d for d in db.session.scalars(sa.select(Department))}
    sops = set(db.session.scalars(sa.select(Sop.code)))
    teams, codes = [], set()
    for entry in data.get("teams") or []:
        at = check_team_shape(entry, text)
        if entry["code"] in codes:
            raise ContentError(at, f"duplicate team code {entry['code']!r}")
        codes.add(entry["code"])
        if entry.get("department") and entry["department"] not in depts:
            raise ContentError(at, f"unknown department {entry['department']!r}")
        for name in [*(entry.get("members") or []), *([entry["supervisor"]] if entry.get("supervisor") else [])]:
            if name not in users:
                raise ContentError(line_of(text, str(name), at), f"unknown member {name!r} (no such username)")
        shifts = []
        for s in entry.get("shifts") or []:
            sat = line_of(text, f"code: {s.get('code')}", at)
            for code in s.get("sops") or []:
                if code not in sops:
                    raise ContentError(sat, f"unknown SOP {code!r}")
            shifts.append({**s, "start": parse_time(s.get("start"), sat, "start"), "end": parse_time(s.get("end"), sat, "end")})
        if not shifts:
            raise ContentError(at, f"team {entry['code']} has no shifts")
        check_shifts(shifts, text)
        teams.append({**entry, "shifts": shifts})
    return teams


def sync_teams(path: Path | None = None) -> ContentLines:
    """Upsert teams and shift types; a team or shift no longer in the file is retired (entries stay)."""
    path = path or Path(current_app.config["CONTENT_DIR"]) / "rosters" / "teams.yaml"
    if not path.is_file():
        return ContentLines([], [])
    try:
        teams = read_teams(path)
    except ContentError as e:
        return ContentLines([f"{path}:{e.line}: {e.reason} (teams not changed)"], [])
    except (OSError, UnicodeDecodeError) as e:
        return ContentLines([f"{path}:1: cannot be read ({e}) (teams not changed)"], [])
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    depts = {d.name: d for d in db.session.scalars(sa.select(Department))}
    existing = {t.code: t for t in db.session.scalars(sa.select(Team))}
    for entry in teams:
        team = existing.get(entry["code"]) or Team(code=entry["code"])
        db.session.add(team)
        team.name, team.retired_at = entry["name"], None
        team.department = depts.get(entry.get("department"))
        team.supervisor = users.get(entry.get("supervisor"))
        team.members = [users[n] for n in entry.get("members") or []]
        team.rules_json = json.dumps(entry.get("rules") or {})
        team.pattern_json = json.dumps(entry.get("pattern") or {})
        db.session.flush()
        known = {s.code: s for s in team.shift_types}
        for s in entry["shifts"]:
            st = known.get(s["code"]) or ShiftType(team_id=team.id, code=s["code"])
            db.session.add(st)
            st.name, st.start, st.end, st.retired_at = s["name"], s["start"], s["end"], None
            st.colour = str(s.get("colour") or "#dde3ec")
            st.min_staff, st.holiday_min_staff = int(s.get("min_staff", 1)), int(s.get("holiday_min_staff", s.get("min_staff", 1)))
            st.sops = "|" + "|".join(s.get("sops") or []) + "|" if s.get("sops") else ""
        for code, st in known.items():
            if code not in {s["code"] for s in entry["shifts"]} and st.retired_at is None:
                st.retired_at = utcnow()
    for code, team in existing.items():
        if code not in {e["code"] for e in teams} and team.retired_at is None:
            team.retired_at = utcnow()
    db.session.flush()
    return ContentLines([], [f"rosters: {len(teams)} teams"])


@applied.connect
def sync_with_sops(app, report, **_extra) -> None:
    outcome = sync_teams()
    report.errors.extend(outcome.errors)
    report.notes.extend(outcome.summary)

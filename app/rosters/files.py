"""A month of roster as CSV/XLSX (export, and an all-or-nothing import) and iCalendar feeds."""
import csv
import io
import secrets
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from icalendar import Calendar, Event
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from app import audit
from app.spreadsheet import cell
from app.auth.models import User
from app.extensions import LOCALES, db
from app.rosters.models import CalendarToken, RosterEntry, Team
from app.rosters.service import RosterError
from app.rosters.shifts import span

# Headed in the reader's language; an import reads the keys or the headers in any UI language.
COLUMNS = {"date": _l("Date"), "username": _l("Username"), "name": _l("Name"), "shift": _l("Shift")}


def headers() -> list[str]:
    return [str(label) for label in COLUMNS.values()]


def column_keys() -> dict[str, str]:
    """Every header a file may carry for a column (date, 日期, Date …) → the column's key."""
    keys = {key: key for key in COLUMNS}
    for locale in LOCALES:
        with force_locale(locale):
            keys.update({str(label).strip().lower(): key for key, label in COLUMNS.items()})
    return keys


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def month_rows(team: Team, month: date) -> list[list[str]]:
    first, last = month_bounds(month)
    rows = db.session.scalars(sa.select(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.day >= first,
                                                           RosterEntry.day <= last)
                              .options(sa.orm.joinedload(RosterEntry.user), sa.orm.joinedload(RosterEntry.shift_type))
                              .order_by(RosterEntry.day, RosterEntry.user_id))
    return [[e.day, cell(e.user.username), cell(e.user.display_name), e.shift_type.code] for e in rows]


def to_csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([headers(), *([day.isoformat(), *rest] for day, *rest in rows)])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[list]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("roster")
    sheet.append(headers())
    for day, *rest in rows:
        when = WriteOnlyCell(sheet, value=day)  # a date cell, which sorts and filters as a date
        when.number_format = "yyyy-mm-dd"
        sheet.append([when, *rest])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_rows(data: bytes, filename: str) -> list[tuple[int, dict]]:
    """(line, row) pairs from a CSV or XLSX upload; line 1 is the header."""
    if filename.lower().endswith(".xlsx"):
        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True).active
        except Exception:  # openpyxl raises many kinds for a file that is not a workbook
            raise RosterError("The file is not an .xlsx workbook.") from None
        values = [[("" if v is None else str(v)) for v in row] for row in sheet.iter_rows(values_only=True)]
    else:
        try:
            values = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        except UnicodeDecodeError:
            raise RosterError("The file is not UTF-8 text. Save it as CSV UTF-8.") from None
    if not values:
        raise RosterError("line 1: the file is empty")
    keys = column_keys()
    header = [keys.get(h.strip().lower(), h.strip().lower()) for h in values[0]]
    missing = {"date", "username", "shift"} - set(header)
    if missing:
        raise RosterError("line 1: missing column(s): %(cols)s", cols=", ".join(sorted(missing)))
    return [(n, dict(zip(header, [v.strip() for v in row]))) for n, row in enumerate(values[1:], start=2) if any(row)]


def import_month(actor, team: Team, month: date, data: bytes, filename: str) -> int:
    """Replace the team's month with the file. Every bad row is reported as 'line N: reason' and nothing changes."""
    first, last = month_bounds(month)
    members = {m.username: m for m in team.members}
    shifts = {s.code: s for s in team.shift_types if s.retired_at is None}
    errors, entries, seen = [], [], set()
    for line, row in read_rows(data, filename):
        try:
            day = date.fromisoformat(row.get("date", "")[:10])
        except ValueError:
            errors.append(f"line {line}: '{row.get('date', '')}' is not a date YYYY-MM-DD")
            continue
        if not first <= day <= last:
            errors.append(f"line {line}: {day} is not in {first:%Y-%m}")
        elif row.get("username") not in members:
            errors.append(f"line {line}: unknown member '{row.get('username')}'")
        elif row.get("shift") not in shifts:
            errors.append(f"line {line}: unknown shift '{row.get('shift')}'")
        elif (day, row["username"], row["shift"]) in seen:
            errors.append(f"line {line}: the same person and shift twice on {day}")
        else:
            seen.add((day, row["username"], row["shift"]))
            entries.append(RosterEntry(team_id=team.id, shift_type_id=shifts[row["shift"]].id,
                                       user_id=members[row["username"]].id, day=day, source="import",
                                       updated_by_id=actor.id))
    if errors:
        raise RosterError("%(errors)s", errors="\n".join(errors))
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.day >= first,
                                                    RosterEntry.day <= last))
    db.session.add_all(entries)
    audit.record("roster.import", f"team:{team.code}", {"month": f"{first:%Y-%m}", "rows": len(entries), "file": filename})
    return len(entries)


# iCalendar ----------------------------------------------------------------------------------------------


def new_token(owner: User, team: Team | None = None) -> CalendarToken:
    token = CalendarToken(token=secrets.token_urlsafe(24), owner_id=owner.id, team_id=team.id if team else None,
                          user_id=None if team else owner.id)
    db.session.add(token)
    audit.record("calendar.token", f"team:{team.code}" if team else f"user:{owner.username}", {})
    return token


def feed(token: CalendarToken, today: date) -> bytes:
    """Shifts from 30 days back to 120 days ahead, as UTC instants (calendars show them in local time)."""
    stmt = sa.select(RosterEntry).where(RosterEntry.day >= today - timedelta(days=30), RosterEntry.day <= today + timedelta(days=120)) \
        .options(sa.orm.joinedload(RosterEntry.shift_type), sa.orm.joinedload(RosterEntry.user)).order_by(RosterEntry.day)
    stmt = stmt.where(RosterEntry.team_id == token.team_id) if token.team_id else stmt.where(RosterEntry.user_id == token.user_id)
    teams = {t.id: t for t in db.session.scalars(sa.select(Team))}
    cal = Calendar()
    cal.add("prodid", "-//SOP Portal//rosters//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", teams[token.team_id].name if token.team_id else "我的排班")
    for e in db.session.scalars(stmt):
        s = span(e.day, e.shift_type.start, e.shift_type.end)
        event = Event()
        event.add("uid", f"roster-entry-{e.id}@sop-portal")
        event.add("summary", f"{e.shift_type.name} · {teams[e.team_id].name}" + (f" · {e.user.display_name}" if token.team_id else ""))
        event.add("dtstart", s.start)
        event.add("dtend", s.end)
        event.add("dtstamp", e.updated_at)
        cal.add_component(event)
    return cal.to_ical()

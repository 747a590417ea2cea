"""Signatures of one SOP as CSV or XLSX, every field of the record in each row, headed in the reader's language.

Times: the CSV carries ISO 8601 with the offset (2026-11-30T15:39:00+08:00); the XLSX carries a real date cell on
the local clock (spreadsheets have no time zones), its zone named in the header. A version is written "v3.0": a
CSV has no cell types, so Excel and LibreOffice read a bare 3.0 as the number 3, while v3.0 stays text in both,
reads as the portal shows it and needs no quote or formula."""
import csv
import io

from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from app.acks.models import Acknowledgement
from app.spreadsheet import cell
from app.sops.models import Sop
from app.web import iso_local

COLUMNS = {"sop": _l("SOP"), "title": _l("Title"), "revision": _l("Revision"), "version": _l("Version"),
           "change": _l("Change"), "content_sha256": _l("Content SHA-256"), "username": _l("Username"),
           "printed_name": _l("Name as signed"), "department": _l("Department"), "signed_at": _l("Signed at"),
           "meaning": _l("Meaning"), "auth_method": _l("How"), "ip": "IP", "voluntary": _l("Voluntary"),
           "status": _l("Status")}
AUTH_METHODS = {"password": _l("with password"), "session": _l("logged in"), "demo": _l("demo data")}
TIME_COLUMN = list(COLUMNS).index("signed_at")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def headers(time_label: str) -> list[str]:
    return [time_label if key == "signed_at" else str(label) for key, label in COLUMNS.items()]


def rows(sop: Sop, acks: list[Acknowledgement]):
    """Each signature's values, its time left as an instant for the format to write."""
    basis = sop.current.basis_id
    for a in acks:
        values = [cell(v) for v in (
            sop.code, sop.title, a.revision.number, f"v{a.revision.version}", a.revision.change, a.content_sha256,
            a.user.username, a.printed_name, a.user.department.name if a.user.department else "", None, a.meaning,
            AUTH_METHODS.get(a.auth_method, a.auth_method), a.ip, _("yes") if a.voluntary else _("no"),
            _("current") if a.basis_id == basis and sop.retired_at is None else _("superseded"))]
        values[TIME_COLUMN] = a.signed_at
        yield values


def to_csv(sop: Sop, acks: list[Acknowledgement]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers(str(COLUMNS["signed_at"])))
    for row in rows(sop, acks):
        row[TIME_COLUMN] = iso_local(row[TIME_COLUMN])
        writer.writerow(row)
    return out.getvalue().encode("utf-8-sig")  # the BOM lets Excel read the Chinese as UTF-8


def to_xlsx(sop: Sop, acks: list[Acknowledgement]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Signatures")[:31])
    sheet.append(headers(f"{COLUMNS['signed_at']} ({get_timezone().zone})"))
    for row in rows(sop, acks):
        at = WriteOnlyCell(sheet, value=to_user_timezone(row[TIME_COLUMN]).replace(tzinfo=None, microsecond=0))
        at.number_format = DATETIME_FORMAT
        row[TIME_COLUMN] = at
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

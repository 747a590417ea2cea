"""Signatures of one SOP as CSV or XLSX, every field of the record in each row."""
import csv
import io

from flask_babel import gettext as _
from openpyxl import Workbook

from app.acks.models import Acknowledgement
from app.spreadsheet import cell
from app.sops.models import Sop

COLUMNS = ["sop", "title", "revision", "version", "change", "content_sha256", "username", "printed_name",
           "department", "signed_at_utc", "meaning", "auth_method", "ip", "voluntary", "status"]


def rows(sop: Sop, acks: list[Acknowledgement]):
    basis = sop.current.basis_id
    for a in acks:
        yield [cell(v) for v in (
            sop.code, sop.title, a.revision.number, a.revision.version, a.revision.change, a.content_sha256,
            a.user.username, a.printed_name, a.user.department.name if a.user.department else "",
            a.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"), a.meaning, a.auth_method, a.ip,
            "yes" if a.voluntary else "no",
            "current" if a.basis_id == basis and sop.retired_at is None else "superseded")]


def to_csv(sop: Sop, acks: list[Acknowledgement]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows(sop, acks))
    return out.getvalue().encode("utf-8-sig")  # the BOM lets Excel read the Chinese as UTF-8


def to_xlsx(sop: Sop, acks: list[Acknowledgement]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Signatures")[:31])
    sheet.append(COLUMNS)
    for row in rows(sop, acks):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

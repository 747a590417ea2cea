"""What acknowledgement has waiting (SOPs to sign) and the dashboard's overdue signatures."""
from collections import defaultdict

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from app.acks.duties import DONE, OVERDUE, duties, person_duties
from app.acks.models import Acknowledgement
from app.auth.models import User
from app.extensions import db
from app.sops.models import SopRevision
from app.waiting import Item, Row, Section, dashboard_section, waiting_for, watch

watch(Acknowledgement.id, SopRevision.id)  # a signature; a new revision to sign (audience changes are audited)


@waiting_for
def sops_to_sign(user, limit: int | None) -> tuple[list[Item], int]:
    """A person has about a hundred duties: read them all, build items for the `limit` most urgent only."""
    todo = sorted((d for d in person_duties(user.id) if d.state != DONE),
                  key=lambda d: (d.due, f"{d.code} {d.title}"))  # Item.sort_key's order for these items
    return [Item("sign", f"{d.code} {d.title}", url_for("acks.sign_page", code=d.code), d.due,
                 _("Version %(v)s", v=d.version), key=f"sign:{d.code}")
            for d in todo[:limit]], len(todo)


@dashboard_section
def overdue_signatures(department_id: int) -> Section:
    """People of the department with signatures past their due date, one row per person."""
    late = defaultdict(list)
    for d in duties(User.department_id == department_id):
        if d.state == OVERDUE:
            late[d.user_id].append(d)
    people = db.session.scalars(sa.select(User).where(User.id.in_(late)).order_by(User.username)) if late else []
    rows = tuple(Row((u.id,), u.display_name, _("%(n)s SOPs: %(codes)s", n=len(late[u.id]),
                                                  codes=", ".join(sorted(d.code for d in late[u.id]))),
                     url_for("acks.person", username=u.username), min(d.due for d in late[u.id]))
                 for u in people)
    return Section("overdue_signatures", _("People with overdue signatures"), rows, order=10)

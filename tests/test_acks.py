"""Required reading, read receipts, signatures, versions, reports, exports and reminders."""
import csv
import io
import re
import shutil
import socket
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from app.acks.duties import duties
from app.acks.models import Acknowledgement, ReadReceipt, SopAudience
from app.audit import AuditEvent
from app.auth.models import User
from app.extensions import db
from app.sops.models import Sop, SopRevision
from app.sops.sync import sync
from tests.conftest import HX, ROOT, THREE_WAYS, Auth, page_or_fragment

NEWHIRE_SOPS = {"FO-CI-001", "FO-HO-001", "IT-MEM-001"}


def user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def sop(code: str) -> Sop:
    db.session.expire_all()
    return db.session.scalar(sa.select(Sop).where(Sop.code == code))


def acks(username: str, code: str | None = None) -> list[Acknowledgement]:
    db.session.expire_all()
    stmt = sa.select(Acknowledgement).where(Acknowledgement.user_id == user(username).id)
    if code:
        stmt = stmt.where(Acknowledgement.sop_id == sop(code).id)
    return list(db.session.scalars(stmt))


def events(action: str, actor: str | None = None) -> list[AuditEvent]:
    """Audit events of one kind (by one actor): the demo's own signatures are in the trail too."""
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    return list(db.session.scalars(stmt))


def sign(auth: Auth, code: str, password: str = "demo-2026", headers=None, revision_id=None, **kw):
    data = {"password": password, "revision_id": revision_id or sop(code).current_revision_id}
    return auth.post(f"/sops/{code}/ack", data, token_from=f"/sops/{code}/ack", headers=headers or {}, **kw)


def revise(tmp_path: Path, rel: str, change: str, version: str, text: str) -> None:
    """Publish a new revision of one demo SOP: copy the content, edit the file, sync the copy."""
    root = tmp_path / "sops"
    if not root.exists():
        shutil.copytree(ROOT / "content" / "sops", root)
    path = root / rel
    body = path.read_text(encoding="utf-8")
    body = re.sub(r"^change: .*$", f"change: {change}", body, count=1, flags=re.M)
    body = re.sub(r'^version: .*$', f'version: "{version}"', body, count=1, flags=re.M)
    path.write_text(body + "\n" + text + "\n", encoding="utf-8")
    assert sync(root).revised
    db.session.commit()


# Required reading -------------------------------------------------------------------------------


def test_front_matter_decides_who_must_read_and_by_when(app):
    newhire = user("newhire")
    mine = {d.code: d for d in duties(User.id == newhire.id)}
    assert set(mine) == NEWHIRE_SOPS
    checkin = sop("FO-CI-001").current
    # The later of the effective date and the start date (today for the new hire), plus ack_within_days.
    begin = max(checkin.effective, newhire.start_date)
    assert mine["FO-CI-001"].due == begin + timedelta(days=checkin.ack_within_days)
    assert all(d.state == "outstanding" for d in mine.values())
    # Positions and departments both count: the night auditor reads night audit, everyone in 前厅部 the outage SOP.
    night = {d.code for d in duties(User.id == user("fo.night").id)}
    assert {"FO-NA-001", "IT-MEM-001", "FO-HO-001"} <= night and "FO-CI-001" not in night


def test_sops_not_requiring_acknowledgement_are_never_owed(app):
    codes = {d.code for d in duties()}
    assert "FO-CO-001" not in codes and "FIN-ERP-002" not in codes  # requires_ack: false


def test_admin_adds_and_removes_people_and_groups(client, auth):
    auth.login("admin")
    r = auth.post("/sops/IT-SEC-002/audience", {"kind": "user", "name": "newhire"}, headers=HX)
    assert r.status_code == 200 and "林晓" in r.get_data(as_text=True)
    assert "IT-SEC-002" in {d.code for d in duties(User.id == user("newhire").id)}
    r = auth.post("/sops/IT-SEC-002/audience", {"kind": "position", "name": "礼宾员"})
    assert r.status_code == 200 and "礼宾员" in r.get_data(as_text=True)
    r = auth.post("/sops/IT-SEC-002/audience", {"kind": "user", "name": "nobody"})
    assert r.status_code == 422 and "nobody" in r.get_data(as_text=True)
    row = db.session.scalar(sa.select(SopAudience).where(SopAudience.source == "admin", SopAudience.kind == "user"))
    r = auth.post(f"/sops/IT-SEC-002/audience/{row.id}/delete", headers=HX)
    assert r.status_code == 200
    assert "IT-SEC-002" not in {d.code for d in duties(User.id == user("newhire").id)}
    assert [e.action for e in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("ack.%assign")))] \
        == ["ack.assign", "ack.assign", "ack.unassign"]
    content_row = db.session.scalar(sa.select(SopAudience).where(SopAudience.source == "content"))
    assert auth.post(f"/sops/{sop('IT-SEC-002').code}/audience/{content_row.id}/delete").status_code == 404


def test_a_new_position_changes_duties_from_then_on_and_keeps_signatures(client, auth):
    auth.login("fo.staff")
    signed_before = len(acks("fo.staff"))
    assert signed_before == 3
    auth.logout()
    auth.login("admin")
    target = user("fo.staff")
    r = auth.post(f"/admin/users/{target.id}/edit", {"department": "前厅部", "positions": "夜审员", "role": "staff",
                                                     "active": "y"})
    assert r.status_code in (200, 303)
    mine = {d.code: d for d in duties(User.id == target.id)}
    assert "FO-NA-001" in mine and "FO-CI-001" not in mine
    # Due from the day the new duties began, not already overdue from the SOP's old effective date.
    assert mine["FO-NA-001"].due == date.today() + timedelta(days=sop("FO-NA-001").current.ack_within_days)
    assert len(acks("fo.staff")) == signed_before


def test_sync_follows_front_matter_changes_of_the_audience(app, tmp_path):
    revise(tmp_path, "front-office/check-in.md", "minor", "9.1", "")
    root = tmp_path / "sops"
    path = root / "front-office/check-in.md"
    path.write_text(path.read_text(encoding="utf-8").replace("positions: [前台接待, 前台主管]", "positions: [前台主管]"),
                    encoding="utf-8")
    sync(root)
    db.session.commit()
    assert "FO-CI-001" not in {d.code for d in duties(User.id == user("newhire").id)}


# Read receipts ----------------------------------------------------------------------------------


def test_opening_an_sop_records_first_last_and_count(client, auth):
    auth.login("newhire")
    for _ in range(3):
        assert client.get("/sops/FO-CI-001").status_code == 200
    client.get("/sops/FO-NA-001?rev=1")
    db.session.expire_all()
    rows = {(r.revision_id, r.count) for r in db.session.scalars(
        sa.select(ReadReceipt).where(ReadReceipt.user_id == user("newhire").id))}
    old = db.session.scalar(sa.select(SopRevision.id).where(SopRevision.sop_id == sop("FO-NA-001").id,
                                                            SopRevision.number == 1))
    assert rows == {(sop("FO-CI-001").current_revision_id, 3), (old, 1)}
    receipt = db.session.scalar(sa.select(ReadReceipt).where(ReadReceipt.revision_id == sop("FO-CI-001").current_revision_id))
    assert receipt.first_at <= receipt.last_at


def test_the_read_receipt_is_the_only_write_and_one_statement(client, auth, app):
    auth.login("newhire")
    client.get("/sops/FO-CI-001")  # fills the page cache
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        client.get("/sops/FO-CI-001")
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    writes = [s for s in statements if s in ("INSERT", "UPDATE", "DELETE")]
    assert writes == ["INSERT"]  # INSERT … ON CONFLICT DO UPDATE
    assert statements.count("SELECT") <= 3  # the session's user, the SOP's state, the to-do badge's watched maxima


# Signing ----------------------------------------------------------------------------------------


@THREE_WAYS
def test_sign_panel_page_and_fragment(client, auth, headers, fragment):
    auth.login("newhire")
    html = page_or_fragment(client, "/sops/FO-CI-001/ack", headers, fragment, '<section class="ack-panel')
    assert "我已阅读并理解本规程" in html and 'name="password"' in html and "须在" in html


def test_sign_records_every_field_once_and_audits(client, auth):
    auth.login("newhire")
    r = sign(auth, "FO-CI-001", headers=HX)
    assert r.status_code == 200 and r.headers["HX-Trigger-After-Settle"] == "acks-changed"
    assert "你已于" in r.get_data(as_text=True)
    (a,) = acks("newhire")
    rev = sop("FO-CI-001").current
    assert (a.revision_id, a.basis_id, a.printed_name, a.auth_method, a.ip, a.voluntary) == \
        (rev.id, rev.basis_id, "林晓", "password", "127.0.0.1", False)
    assert a.content_sha256 == rev.content_hash and len(a.content_sha256) == 64
    assert a.meaning.startswith("我已阅读并理解本规程")
    signed = a.signed_at.astimezone(timezone.utc) if a.signed_at.tzinfo else a.signed_at.replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - signed) < timedelta(minutes=2)  # stored in UTC
    (event,) = events("ack.sign", "newhire")
    assert event.actor == "newhire" and event.object == "sop:FO-CI-001" and rev.content_hash in event.detail


def test_without_javascript_signing_redirects_back_to_the_sop(client, auth):
    auth.login("newhire")
    r = sign(auth, "FO-CI-001")
    assert r.status_code == 303 and r.headers["Location"].endswith("/sops/FO-CI-001")
    assert len(acks("newhire")) == 1


def test_double_submit_and_retry_make_one_record_and_no_error(client, auth):
    auth.login("newhire")
    first, second = sign(auth, "FO-CI-001", headers=HX), sign(auth, "FO-CI-001", headers=HX)
    assert first.status_code == second.status_code == 200
    assert "你已于" in second.get_data(as_text=True)
    assert len(acks("newhire")) == 1 and len(events("ack.sign", "newhire")) == 1


def test_two_tabs_signing_at_once_make_one_record(app):
    clients = [app.test_client() for _ in range(2)]
    auths = [Auth(c) for c in clients]
    for a in auths:
        a.login("newhire")
    rev_id = sop("FO-CI-001").current_revision_id
    tokens = [a.token("/sops/FO-CI-001/ack") for a in auths]
    db.session.commit()
    barrier, results = threading.Barrier(2), []

    def go(c, token):
        barrier.wait()
        r = c.post("/sops/FO-CI-001/ack", data={"password": "demo-2026", "revision_id": rev_id, "csrf_token": token},
                   headers=HX)
        results.append(r.status_code)

    threads = [threading.Thread(target=go, args=(c, t)) for c, t in zip(clients, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200]
    assert len(acks("newhire")) == 1


def test_the_database_refuses_a_second_record_for_the_same_revision(app):
    a = acks("fo.staff")[0]
    db.session.add(Acknowledgement(user_id=a.user_id, revision_id=a.revision_id, sop_id=a.sop_id, basis_id=a.basis_id,
                                   printed_name="x", signed_at=a.signed_at, meaning="x", content_sha256="x",
                                   auth_method="x"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_signatures_cannot_be_changed_or_deleted(app):
    a = acks("fo.staff")[0]
    for statement in (sa.update(Acknowledgement).where(Acknowledgement.id == a.id).values(printed_name="forged"),
                      sa.delete(Acknowledgement).where(Acknowledgement.id == a.id)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.session.execute(statement)
            db.session.flush()
        db.session.rollback()


def test_wrong_password_is_refused_audited_and_records_nothing(client, auth):
    auth.login("newhire")
    r = sign(auth, "FO-CI-001", password="wrong", headers=HX)
    assert r.status_code == 401 and "密码不正确" in r.get_data(as_text=True)
    assert acks("newhire") == [] and len(events("ack.failed")) == 1


def test_wrong_passwords_are_rate_limited(limited_app):
    client = limited_app.test_client()
    auth = Auth(client)
    auth.login("newhire")
    codes = [sign(auth, "FO-CI-001", password="wrong").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_missing_or_expired_csrf_token_says_refresh_and_sign_again(client, auth):
    auth.login("newhire")
    data = {"password": "demo-2026", "revision_id": sop("FO-CI-001").current_revision_id}
    r = client.post("/sops/FO-CI-001/ack", data=data)
    assert r.status_code == 400 and "重新签署" in r.get_data(as_text=True)
    r = client.post("/sops/FO-CI-001/ack", data=data, headers=HX)
    assert r.status_code == 400 and r.headers["HX-Refresh"] == "true"
    assert "重新签署" in client.get("/").get_data(as_text=True)  # the flash shown after the refresh
    assert acks("newhire") == []


def test_reauthentication_once_per_session_when_configured(client, auth, app):
    app.config["ACK_REAUTH"] = "session"
    auth.login("newhire")
    assert sign(auth, "FO-CI-001").status_code == 303
    assert 'name="password"' not in client.get("/sops/FO-HO-001/ack").get_data(as_text=True)
    assert sign(auth, "FO-HO-001", password="").status_code == 303
    assert sorted(a.auth_method for a in acks("newhire")) == ["password", "session"]
    auth.logout()
    auth.login("newhire")
    assert sign(auth, "IT-MEM-001", password="").status_code == 401  # a new login asks again


def test_signing_a_retired_sop_or_a_superseded_revision_is_refused_with_a_reason(client, auth, app, tmp_path):
    auth.login("fo.night")
    old = db.session.scalar(sa.select(SopRevision.id).where(SopRevision.sop_id == sop("FO-NA-001").id,
                                                            SopRevision.number == 1))
    r = sign(auth, "FO-NA-001", revision_id=old, headers=HX)
    assert r.status_code == 409 and "已被第 2 版取代" in r.get_data(as_text=True)
    s = sop("FO-HO-001")
    s.retired_at = s.current.created_at
    db.session.commit()
    r = sign(auth, "FO-HO-001", headers=HX)
    assert r.status_code == 409 and "已停用" in r.get_data(as_text=True)
    assert len(acks("fo.night", "FO-NA-001")) == 1  # only the demo's old one


def test_signing_an_sop_not_assigned_is_voluntary(client, auth):
    auth.login("newhire")
    assert "自愿" in client.get("/sops/IT-SRV-003/ack").get_data(as_text=True)
    assert sign(auth, "IT-SRV-003").status_code == 303
    (a,) = acks("newhire")
    assert a.voluntary is True


# Versions ---------------------------------------------------------------------------------------


def test_material_revision_asks_to_sign_again_with_the_diff_since_last_signed(client, auth):
    auth.login("fo.night")
    state = {d.code: d.state for d in duties(User.id == user("fo.night").id)}
    assert state["FO-NA-001"] != "done"  # signed revision 1; revision 2 is material
    html = client.get("/sops/FO-NA-001/ack").get_data(as_text=True)
    assert 'id="ack-resign"' in html and "#1 → #2" in html and 'id="changes"' in html
    assert "重新签" in client.get("/reading").get_data(as_text=True)
    assert sign(auth, "FO-NA-001").status_code == 303
    assert {d.code: d.state for d in duties(User.id == user("fo.night").id)}["FO-NA-001"] == "done"
    assert len(acks("fo.night", "FO-NA-001")) == 2  # the earlier signature stays


def test_minor_revision_keeps_signatures_and_material_one_supersedes(client, auth, tmp_path):
    fo_staff = user("fo.staff")
    assert {d.code: d.state for d in duties(User.id == fo_staff.id)}["FO-CI-001"] == "done"
    revise(tmp_path, "front-office/check-in.md", "minor", "9.1", "（错别字修正）")
    assert {d.code: d.state for d in duties(User.id == fo_staff.id)}["FO-CI-001"] == "done"
    auth.login("fo.staff")
    assert "变更较小" in client.get("/sops/FO-CI-001/ack").get_data(as_text=True)
    revise(tmp_path, "front-office/check-in.md", "material", "10.0", "## 新增步骤\n\n核对电子身份证。")
    assert {d.code: d.state for d in duties(User.id == fo_staff.id)}["FO-CI-001"] != "done"
    html = client.get("/sops/FO-CI-001/ack").get_data(as_text=True)
    assert "核对电子身份证" in html and 'id="ack-resign"' in html


# My required reading and the badge ----------------------------------------------------------------


def test_my_required_reading_page_home_panel_and_badge(client, auth):
    auth.login("newhire")
    html = client.get("/reading").get_data(as_text=True)
    for code in NEWHIRE_SOPS:
        assert f'href="/sops/{code}"' in html
    assert "已签 0 / 3" in html
    home = client.get("/").get_data(as_text=True)
    assert 'id="reading-panel"' in home and "已签 0 / 3" in home
    assert ">3</span>" in client.get("/reading/badge").get_data(as_text=True)
    sign(auth, "FO-CI-001")
    assert ">2</span>" in client.get("/reading/badge").get_data(as_text=True)
    assert "已签 1 / 3" in client.get("/reading").get_data(as_text=True)


def test_empty_required_reading(client, auth):
    auth.login("admin")
    for d in duties(User.id == user("admin").id):
        sign(auth, d.code)
    html = client.get("/").get_data(as_text=True)
    assert "全部已签" in html or "没有需要你签署的规程" in html


def test_overdue_items_come_first(app):
    fo_night = user("fo.night")
    from app.acks.duties import by_state
    groups = by_state(duties(User.id == fo_night.id))
    assert groups["overdue"] and all(d.due < date.today() for d in groups["overdue"])


# Manager reports --------------------------------------------------------------------------------


def test_manager_sees_own_department_only(client, auth):
    auth.login("fo.manager")
    html = client.get("/acks/").get_data(as_text=True)
    assert "前厅部" in html and "客服中心" not in html
    assert client.get("/acks/departments/FO").status_code == 200
    assert client.get("/acks/departments/CS").status_code == 403
    assert client.get("/acks/departments/CS/matrix").status_code == 403
    assert client.get("/acks/people/cs.agent").status_code == 403
    assert client.get("/acks/people/nobody").status_code == 404
    assert client.get("/acks/people/fo.night").status_code == 200


def test_admin_sees_every_department(client, auth):
    auth.login("admin")
    html = client.get("/acks/").get_data(as_text=True)
    assert all(name in html for name in ("前厅部", "客服中心", "IT支持部", "财务部"))
    assert client.get("/acks/departments/CS").status_code == 200


def test_department_report_counts_per_sop(client, auth):
    auth.login("fo.manager")
    html = client.get("/acks/departments/FO").get_data(as_text=True)
    row = re.search(r'href="/acks/sops/FO-CI-001".*?</tr>', html, re.S).group(0)
    nums = [int(n) for n in re.findall(r'<td class="num[^"]*">(\d+)</td>', row)]
    assert nums[:2] == [3, 1]  # 前台接待 fo.staff, fo.desk2 and newhire must sign; fo.staff has


@pytest.mark.parametrize("days_ahead", [0, 3, 20, 45, 400])
def test_counts_by_the_database_agree_with_every_duty(app, days_ahead):
    """The reports count in SQL, grouping old start dates together; each count must equal the duties' own."""
    from collections import Counter

    from app.acks.duties import counts
    day = date.today() + timedelta(days=days_ahead)
    people = {u.id: u.department_id for u in db.session.scalars(sa.select(User))}
    expected = Counter((people[d.user_id], d.sop_id, d.state) for d in duties(today=day))
    got = Counter()
    for dept, sop_key, state, n in counts(today=day):
        got[(dept, sop_key.sop_id, state)] += n
    assert +got == expected and sum(expected.values()) > 50
    assert len({state for _d, _s, state in expected}) >= 2


@THREE_WAYS
def test_sop_report_drills_down_by_state(client, auth, headers, fragment):
    auth.login("fo.manager")
    html = page_or_fragment(client, "/acks/sops/FO-CI-001?status=done", headers, fragment, '<section id="people"')
    assert "李娜" in html and "演示数据" in html and re.search(r"#\d+ v", html)  # how they signed, in words
    html = client.get("/acks/sops/FO-CI-001?status=outstanding").get_data(as_text=True)
    assert "林晓" in html and "李娜" not in html


def test_sop_report_of_a_manager_shows_only_their_people(client, auth):
    auth.login("cs.manager")
    html = client.get("/acks/sops/IT-MEM-001?status=done").get_data(as_text=True)
    assert "李娜" not in html and "陈静" not in html


def test_heat_map_has_a_cell_per_person_and_sop(client, auth):
    auth.login("fo.manager")
    html = client.get("/acks/departments/FO/matrix").get_data(as_text=True)
    assert 'id="matrix"' in html and "cell-done" in html and "cell-outstanding" in html
    assert html.count("<tr><th><a href=\"/acks/people/") == 5  # fo.manager, fo.staff, fo.night, newhire, fo.desk2


def test_person_report_lists_duties_and_signature_history(client, auth):
    auth.login("fo.manager")
    html = client.get("/acks/people/fo.night").get_data(as_text=True)
    assert 'id="person-history"' in html and "FO-NA-001" in html and "#1 v" in html


def test_exports_carry_every_signature_field_and_are_audited(client, auth):
    auth.login("admin")
    r = auth.post("/acks/sops/FO-NA-001/export", {"format": "csv"})
    assert r.status_code == 200 and r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert {row["用户名"] for row in rows} == {"fo.night", "fo.manager"}
    night = next(row for row in rows if row["用户名"] == "fo.night")
    assert night["修订版"] == "1" and night["状态"] == "已被取代" and night["签署时姓名"] == "周强"
    assert len(night["内容 SHA-256"]) == 64 and night["签署含义"] and night["认证方式"] == "演示数据"
    signed = datetime.fromisoformat(night["签署时间"])  # ISO 8601 with its offset, on the local clock
    assert signed.utcoffset() == timedelta(hours=8)
    assert signed == acks("fo.night", "FO-NA-001")[0].signed_at.replace(tzinfo=timezone.utc, microsecond=0)
    r = auth.post("/acks/sops/FO-NA-001/export", {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(r.get_data())).active
    values = list(sheet.values)
    assert values[0][:3] == ("规程", "标题", "修订版") and values[0][9] == "签署时间 (Asia/Shanghai)" and len(values) == 3
    assert [e.detail for e in events("acks.export")] == ['{"format": "csv", "rows": 2}', '{"format": "xlsx", "rows": 2}']


def test_export_keeps_versions_text_dates_as_date_cells_and_heads_columns_in_the_users_language(client, auth):
    admin = user("admin")
    admin.locale = "en"
    db.session.commit()
    auth.login("admin")
    r = auth.post("/acks/sops/FO-NA-001/export", {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    night = next(row for row in rows if row["Username"] == "fo.night")
    # A bare 3.0 in a CSV becomes the number 3 in Excel and LibreOffice; v3.0 cannot be read as a number.
    version = acks("fo.night", "FO-NA-001")[0].revision.version
    assert night["Version"] == f"v{version}" and not re.fullmatch(r"[\d.]+", night["Version"])
    assert night["How"] == "demo data" and night["Signed at"].endswith("+08:00")
    r = auth.post("/acks/sops/FO-NA-001/export", {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(r.get_data())).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:4] == ["SOP", "Title", "Revision", "Version"] and header[9] == "Signed at (Asia/Shanghai)"
    at = next(sheet.iter_rows(min_row=2, max_row=2))[9]
    assert at.is_date and isinstance(at.value, datetime) and at.number_format == "yyyy-mm-dd hh:mm:ss"
    assert at.value in {(a.signed_at.replace(tzinfo=timezone.utc) + timedelta(hours=8)).replace(tzinfo=None, microsecond=0)
                        for a in acks("fo.night", "FO-NA-001") + acks("fo.manager", "FO-NA-001")}


def test_exported_names_cannot_become_spreadsheet_formulas(client, auth):
    u = user("fo.staff")
    u.display_name = "=HYPERLINK(\"http://evil\")"
    db.session.commit()
    auth.login("fo.staff")
    sign(auth, "FO-VIP-001")  # voluntary, records the hostile name
    auth.logout()
    auth.login("admin")
    r = auth.post("/acks/sops/FO-VIP-001/export", {"format": "xlsx"})
    cells = [c for row in load_workbook(io.BytesIO(r.get_data())).active.values for c in row]
    assert "'=HYPERLINK(\"http://evil\")" in cells and not any(str(c).startswith("=") for c in cells)


def test_sign_off_sheet_lists_everyone_who_must_sign(client, auth):
    auth.login("fo.manager")
    html = client.get("/acks/sops/FO-CI-001/sheet").get_data(as_text=True)
    assert "签字表" in html and "李娜" in html and "林晓" in html and sop("FO-CI-001").current.content_hash in html


# Reminders --------------------------------------------------------------------------------------


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    inbox = Inbox()
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox.messages
    controller.stop()


def test_remind_sends_one_digest_per_person_and_a_summary_per_manager(app, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    result = app.test_cli_runner().invoke(args=["acks", "remind"])
    assert result.exit_code == 0, result.output
    by_to = {}
    for m in inbox:
        by_to.setdefault(m["To"], []).append(m)
    newhire = by_to.pop(next(k for k in by_to if "newhire@" in k))
    assert len(newhire) == 1
    body = newhire[0].get_payload(decode=True).decode()
    assert all(code in body for code in NEWHIRE_SOPS) and "/sops/FO-CI-001/ack" in body
    night = next(m for k, ms in by_to.items() for m in ms if "fo.night@" in k).get_payload(decode=True).decode()
    lines = [line for line in night.splitlines() if line.startswith(("!", "-"))]
    states = ["overdue" if line.startswith("!") else "outstanding" for line in lines]
    assert "overdue" in states and states == sorted(states, key=["overdue", "outstanding"].index)
    summaries = [m for k, ms in by_to.items() if "fo.manager@" in k for m in ms]
    assert any("林晓" in m.get_payload(decode=True).decode() for m in summaries)
    assert f"sent {len(inbox)} emails" in result.output
    assert events("acks.remind")


def test_how_someone_signed_is_shown_in_words(client, auth):
    auth.login("fo.manager")
    html = client.get("/acks/people/fo.night").get_data(as_text=True).split('id="person-history"')[1]
    assert "<td>演示数据</td>" in html and "<td>demo</td>" not in html

"""Document control, service level: permissions, drafts, review and approval signatures, the one publication
path (file + revision + audiences + index), sync conflicts, export, periodic review, retirement, feedback."""
import hashlib
import io
import json
import zipfile
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from app.acks.duties import DONE, duties
from app.acks.models import SopAudience
from app.audit import AuditEvent
from app.auth.models import User
from app.authoring import drafts, feedback, periodic, publish, review
from app.authoring.drafts import DraftConflict, check, compose, new_text, split, start_draft
from app.authoring.models import DocSignature, Draft
from app.authoring.permissions import AuthoringError, grant_editor
from app.extensions import db
from app.org import Department, Position
from app.search import search
from app.sops.models import Sop, SopRevision, SyncConflict
from app.sops.sync import commit_and_announce, sync
from tests.conftest import with_demo_index
from tests.test_acks import smtp  # noqa: F401 - the fixture: a real SMTP server on loopback

PW = "demo-2026"
NIGHT = "FO-NA-001"


@pytest.fixture
def lib(library):
    return library


def user(name: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == name))


def sop(code: str = NIGHT) -> Sop:
    return db.session.scalar(sa.select(Sop).where(Sop.code == code))


def dept(name: str) -> Department:
    return db.session.scalar(sa.select(Department).where(Department.name == name))


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def saved(draft: Draft, author: User, text: str, note: str = "夜审时间调整") -> Draft:
    return drafts.save(draft, author, text, note, draft.version)


def reviewed_draft(author="fo.staff", change=("positions: [夜审员, 前台主管, 前厅经理]",
                                              "positions: [夜审员, 前台主管, 前厅经理, 礼宾员]"), code=NIGHT) -> Draft:
    """A draft of code by author (granted editor), changed, submitted and passed by fo.manager."""
    a = user(author)
    if a.role == "staff":
        grant_editor(user("admin"), a, sop(code).department)
    d = start_draft(a, department=sop(code).department, sop=sop(code))
    text = edit(d.text, "完整、准确入账", "完整、准确入账并复核鸵鸟指标")
    if change:
        text = edit(text, *change) if change[0] in text else text
    saved(d, a, text)
    review.submit(d, a)
    review.review_pass(d, user("fo.manager"), PW)
    db.session.commit()
    return d


# --- permissions ----------------------------------------------------------------------------------------

def test_who_may_author_a_department_sop(lib):
    fo = sop().department
    with pytest.raises(AuthoringError) as e:
        start_draft(user("fo.staff"), department=fo, sop=sop())
    assert e.value.status == 403
    with pytest.raises(AuthoringError) as e:  # a manager of another department
        start_draft(user("it.manager"), department=fo, sop=sop())
    assert e.value.status == 403
    grant_editor(user("admin"), user("fo.staff"), fo)
    d = start_draft(user("fo.staff"), department=fo, sop=sop())
    assert d.author_id == user("fo.staff").id and d.kind == "edit"
    assert [e.object for e in events("doc.editor_grant")] == ["user:fo.staff"]
    with pytest.raises(AuthoringError) as e:
        grant_editor(user("fo.manager"), user("fo.night"), fo)
    assert e.value.status == 403


def test_edit_starts_from_the_current_revision_and_a_second_edit_reuses_the_draft(lib):
    d = start_draft(user("fo.manager"), department=dept("前厅部"), sop=sop())
    db.session.commit()
    assert d.base_revision_id == sop().current_revision_id and d.state == "draft"
    assert d.text == (lib / "front-office" / "night-audit.md").read_text(encoding="utf-8")
    again = start_draft(user("admin"), department=dept("前厅部"), sop=sop())
    assert again.id == d.id


def test_front_matter_names_reviewers_by_position(lib):
    from app.authoring.permissions import approvers, reviewers
    d = start_draft(user("fo.manager"), department=dept("前厅部"), sop=sop())
    assert [u.username for u in reviewers(d)] == ["fo.manager"]  # default: the department's managers
    d.text = edit(d.text, "owner: front-office", "owner: front-office\nreviewers: [夜审员]\napprovers: [admin]")
    assert [u.username for u in reviewers(d)] == ["fo.night"]
    assert [u.username for u in approvers(d)] == ["admin"]


def test_a_reviewer_of_another_department_is_refused(lib):
    a = user("fo.manager")
    d = start_draft(a, department=dept("前厅部"), sop=sop())
    saved(d, a, edit(d.text, "完整、准确入账", "完整准确入账"))
    review.submit(d, a)
    with pytest.raises(AuthoringError) as e:
        review.review_pass(d, user("it.manager"), PW)
    assert e.value.status == 403 and d.state == "in_review"
    assert db.session.scalar(sa.select(sa.func.count(DocSignature.id)).where(DocSignature.meaning == "reviewed")) == 0


# --- texts ------------------------------------------------------------------------------------------------

def test_new_text_uses_the_department_template_or_a_skeleton(lib):
    fo = dept("前厅部")
    text = new_text(fo, "FO-LF-001", "失物招领")
    meta, body = split(text)
    assert meta["id"] == "FO-LF-001" and meta["title"] == "失物招领" and meta["department"] == "前厅部"
    assert "## 操作步骤" in body and "| 步骤 | 标准 | 提示 |" in body
    (lib.parent / "templates").mkdir()
    (lib.parent / "templates" / "前厅部.md").write_text("## 前厅模板\n\n内容\n", encoding="utf-8")
    assert split(new_text(fo, "FO-LF-001", "失物招领"))[1] == "## 前厅模板\n\n内容\n"


def test_compose_and_split_round_trip_in_a_stable_order(lib):
    meta = {"tags": ["夜审"], "title": "夜审", "id": "FO-X-001", "department": "前厅部", "version": "3.10",
            "effective": "2026-03-01", "requires_ack": True, "positions": ["夜审员"], "review_by": ""}
    text = compose(meta, "## 目的\n\n正文\n")
    assert text.splitlines()[:9] == ["---", "id: FO-X-001", "title: 夜审", "department: 前厅部", "positions: [夜审员]",
                                     "tags: [夜审]", "version: '3.10'", "effective: 2026-03-01", "requires_ack: true"]
    back, body = split(text)
    assert back == {k: v for k, v in meta.items() if v != ""} and body == "## 目的\n\n正文\n"
    assert check(text, {"前厅部"}, {"夜审员"}) == []


@pytest.mark.parametrize("change,line,reason", [
    (("department: 前厅部", "department: 前厅"), 4, "unknown department"),
    (("title: 夜审操作规程", "title: 夜审: 操作规程"), 3, "not valid YAML"),
    (("review_by: 2027-03-01", "review_by: 2025-03-01"), 9, "must be after effective"),
    (("change: material", "change: major"), 13, "change must be"),
    (("---\n\n## 目的", "---\n\n"), 16, "no text below"),
])
def test_check_reports_front_matter_errors_at_their_line(lib, change, line, reason):
    text = (lib / "front-office" / "night-audit.md").read_text(encoding="utf-8")
    text = edit(text, *change)
    if change[1] == "---\n\n":
        text = text[: text.index("---\n\n", 4) + 5]
    names = set(db.session.scalars(sa.select(Department.name)))
    positions = set(db.session.scalars(sa.select(Position.name)))
    problems = check(text, names, positions, "front-office/night-audit.md")
    assert len(problems) == 1 and problems[0].line == line and reason in problems[0].reason


def test_submit_refuses_a_draft_with_errors_with_its_line(lib):
    a = user("fo.manager")
    d = start_draft(a, department=dept("前厅部"), sop=sop())
    with pytest.raises(AuthoringError, match="change note"):
        review.submit(d, a)
    saved(d, a, edit(d.text, "positions: [夜审员, 前台主管, 前厅经理]", "positions: [夜审员, 火星人]"))
    with pytest.raises(AuthoringError, match="Line 5: unknown position") as e:
        review.submit(d, a)
    assert e.value.status == 422 and d.state == "draft"
    saved(d, a, edit(d.text, "id: FO-NA-001", "id: FO-NA-009").replace("火星人", "前厅经理"))
    with pytest.raises(AuthoringError, match="Line 2: id must stay"):
        review.submit(d, a)


# --- saving: two people, one draft ----------------------------------------------------------------------

def test_two_saves_from_the_same_version_the_second_is_refused_with_the_name_and_text_kept(lib):
    fo = dept("前厅部")
    grant_editor(user("admin"), user("fo.staff"), fo)
    d = start_draft(user("fo.manager"), department=fo, sop=sop())
    db.session.commit()
    base = d.version
    first = edit(d.text, "完整、准确入账", "完整准确入账（陈）")
    drafts.save(d, user("fo.manager"), first, "陈的修改", base)
    drafts.release(d, user("fo.manager"))
    db.session.commit()
    second = edit(d.text, "完整准确入账（陈）", "完整准确入账（李）")
    with pytest.raises(DraftConflict) as e:
        drafts.save(d, user("fo.staff"), second, "李的修改", base)
    assert e.value.status == 409 and e.value.other.username == "fo.manager" and "陈静" in str(e.value)
    assert e.value.kept_text == second  # nothing typed is lost: the page shows it
    db.session.rollback()
    assert db.session.get(Draft, d.id).text == first and db.session.get(Draft, d.id).version == base + 1


def test_the_edit_lease_tells_the_second_editor_who_holds_the_draft(lib):
    fo = dept("前厅部")
    grant_editor(user("admin"), user("fo.staff"), fo)
    d = start_draft(user("fo.manager"), department=fo, sop=sop())
    assert drafts.acquire(d, user("fo.manager")) is None
    db.session.commit()
    db.session.expire_all()  # read back from the database, as the next request would
    holder = drafts.acquire(d, user("fo.staff"))
    assert holder.user.username == "fo.manager"
    local = drafts.local_hm(holder.until)  # the portal's time zone (Asia/Shanghai), not UTC
    assert local == holder.until.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    with pytest.raises(DraftConflict, match=f"陈静 has this draft open until {local}"):
        drafts.save(d, user("fo.staff"), d.text + "\n李", "", d.version)
    d.held_until = holder.until - timedelta(minutes=11)  # expired: the next one takes it
    assert drafts.acquire(d, user("fo.staff")) is None and d.holder_id == user("fo.staff").id


# --- attachments ------------------------------------------------------------------------------------------

def zip_bytes(*members: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), f"<{name}/>")
    return buf.getvalue()


def docx_bytes() -> bytes:
    return zip_bytes("[Content_Types].xml", "word/document.xml")


def test_attachments_are_checked_by_content_size_and_name(lib):
    a = user("fo.manager")
    d = start_draft(a, department=dept("前厅部"), sop=sop())
    with pytest.raises(AuthoringError) as e:
        drafts.add_attachment(d, a, "virus.pdf", b"MZ\x90\x00 this is an exe")
    assert e.value.status == 415
    with pytest.raises(AuthoringError) as e:
        drafts.add_attachment(d, a, "table.xlsx", docx_bytes())  # a zip, but not a workbook
    assert e.value.status == 415
    with pytest.raises(AuthoringError) as e:
        drafts.add_attachment(d, a, "run.exe", b"MZ")
    assert e.value.status == 415
    lib_app_limit = 1024
    from flask import current_app
    current_app.config["AUTHORING_MAX_ATTACHMENT"] = lib_app_limit
    with pytest.raises(AuthoringError) as e:
        drafts.add_attachment(d, a, "big.pdf", b"%PDF-" + b"0" * lib_app_limit)
    assert e.value.status == 413
    current_app.config["AUTHORING_MAX_ATTACHMENT"] = 10 * 1024 * 1024
    att = drafts.add_attachment(d, a, "../../etc/交接单.docx", docx_bytes())
    png = drafts.add_attachment(d, a, "C:\\Users\\x\\图.png", b"\x89PNG\r\n\x1a\n....")
    assert (att.name, png.name) == ("交接单.docx", "图.png")
    assert att.sha256 == hashlib.sha256(docx_bytes()).hexdigest() and att.content_type.endswith("document")


# --- the whole path: submit, review, approve, publish --------------------------------------------------------

def test_submit_review_approve_publishes_through_the_sync_path(lib, app, demo_index):
    with_demo_index(app, demo_index)  # the index search_index.rebuild() builds over the demo, built once a session
    a, manager = user("fo.staff"), user("fo.manager")
    before = sop().current
    assert next(iter(duties(User.id == manager.id, sop_id=sop().id))).state == DONE  # signed the current basis
    assert not duties(User.username == "fo.concierge", sop_id=sop().id)
    d = reviewed_draft()
    assert d.state == "reviewed"
    meanings = [(s.meaning, s.user.username, s.auth_method) for s in review.signatures(d)]
    assert meanings == [("authored", "fo.staff", "session"), ("reviewed", "fo.manager", "password")]
    with pytest.raises(AuthoringError) as e:  # the author cannot approve
        review.approve(d, a, PW)
    assert e.value.status == 403
    review.approve(d, manager, PW)
    db.session.commit()
    rev = sop().current
    assert d.state == "published" and d.published_revision_id == rev.id and rev.number == before.number + 1
    assert rev.origin == "browser" and rev.draft_id == d.id and rev.change == "material"
    # The file: written (then renamed) into SOP_DIR, byte for byte the approved text.
    path = lib / "front-office" / "night-audit.md"
    assert path.read_text(encoding="utf-8") == d.text
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rev.content_hash
    assert not list(path.parent.glob(".*.tmp"))
    # Signatures: append-only records with the hash of what was signed, each with an audit event.
    sha = hashlib.sha256(d.text.encode()).hexdigest()
    approved = [s for s in review.signatures(d) if s.meaning == "approved"][0]
    assert approved.content_sha256 == sha and approved.printed_name == "陈静" and not approved.self_approved
    assert approved.meaning_text.startswith("批准发布")
    assert json.loads(events("doc.approve")[-1].detail)["sha256"] == sha
    assert json.loads(events("doc.review")[-1].detail)["sha256"] == sha
    assert review.revision_signatures(rev)["approved"].id == approved.id
    # Audiences follow the front matter: 礼宾员 was added to positions.
    positions = {p.name: p.id for p in db.session.scalars(sa.select(Position))}
    rows = {(r.kind, r.ref_id) for r in db.session.scalars(sa.select(SopAudience).where(
        SopAudience.sop_id == sop().id, SopAudience.source == "content"))}
    assert ("position", positions["礼宾员"]) in rows and ("position", positions["前厅经理"]) in rows
    # Material change: whoever signed the old basis owes the new one.
    assert next(iter(duties(User.id == manager.id, sop_id=sop().id))).state != DONE
    # Search finds the new text; a later sync finds the file unchanged.
    assert NIGHT in [h.code for h in search("鸵鸟指标").hits]
    report = sync()
    commit_and_announce(report)
    assert report.revised == [] and report.conflicts == [] and sop().current_revision_id == rev.id


def test_signature_records_refuse_update_and_delete(lib):
    d = reviewed_draft()
    for statement in ("UPDATE doc_signature SET printed_name = 'x'", "DELETE FROM doc_signature"):
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    assert len(review.signatures(db.session.get(Draft, d.id))) == 2


def test_audit_verify_checks_each_document_signature_against_its_entry(lib, app):
    from app import audit
    d = reviewed_draft()
    db.session.commit()
    assert audit.full_check().problems == []  # submit (编制) and review (审核) each match their entry
    reviewer = user("fo.manager")
    forged = DocSignature(draft_id=d.id, sop_id=sop().id, meaning="approved", meaning_text="批准发布",
                          user_id=reviewer.id, printed_name=reviewer.display_name, signed_at=d.updated_at,
                          content_sha256="0" * 64, auth_method="password", ip="", self_approved=False, note="")
    db.session.add(forged)
    db.session.commit()
    db.session.expire_all()
    found = audit.full_check().problems
    assert found == [f"signature without its audit entry: doc_signature id {forged.id} (approved, user id {reviewer.id})"]
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 1


def test_document_signatures_cannot_be_truncated(lib):
    reviewed_draft()
    db.session.commit()
    statement = "TRUNCATE doc_signature" if db.engine.dialect.name == "postgresql" else "DELETE FROM doc_signature"
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocSignature)) == 2


def test_a_wrong_password_is_refused_audited_and_signs_nothing(lib):
    d = reviewed_draft()
    with pytest.raises(AuthoringError) as e:
        review.approve(d, user("fo.manager"), "wrong")
    db.session.commit()  # as the view does: the audit entry stays
    assert e.value.status == 401 and db.session.get(Draft, d.id).state == "reviewed"
    assert [s.meaning for s in review.signatures(d)] == ["authored", "reviewed"]
    failed = events("doc.failed")
    assert len(failed) == 1 and failed[0].actor == "fo.manager" and json.loads(failed[0].detail)["step"] == "approve"
    assert sop().current.origin == "file"


def test_return_needs_a_comment_and_sends_the_draft_back(lib):
    a = user("fo.manager")
    grant_editor(user("admin"), user("fo.staff"), dept("前厅部"))
    d = start_draft(user("fo.staff"), department=dept("前厅部"), sop=sop())
    saved(d, user("fo.staff"), edit(d.text, "完整、准确入账", "完整准确入账"))
    review.submit(d, user("fo.staff"))
    with pytest.raises(AuthoringError) as e:
        review.return_draft(d, a, "  ")
    assert e.value.status == 422 and d.state == "in_review"
    with pytest.raises(AuthoringError) as e:
        drafts.save(d, user("fo.staff"), d.text, "x", d.version)  # a submitted draft is not editable
    assert e.value.status == 409
    review.return_draft(d, a, "第3步写清楚时间")
    assert d.state == "draft" and d.comments[-1].kind == "return" and d.comments[-1].body == "第3步写清楚时间"
    saved(d, user("fo.staff"), d.text + "\n补充说明。\n")
    review.submit(d, user("fo.staff"))
    assert d.state == "in_review"
    assert [s.meaning for s in review.signatures(d)] == ["authored", "authored"]


def test_own_draft_approval_is_refused_unless_allowed_for_a_one_person_department(lib):
    from flask import current_app
    a = user("fo.manager")  # the only manager of 前厅部
    d = start_draft(a, department=dept("前厅部"), sop=sop())
    saved(d, a, edit(d.text, "完整、准确入账", "完整准确入账"))
    review.submit(d, a)
    with pytest.raises(AuthoringError) as e:
        review.review_pass(d, a, PW)
    assert e.value.status == 403
    current_app.config["AUTHORING_ALLOW_SELF_APPROVAL"] = True
    review.review_pass(d, a, PW)
    review.approve(d, a, PW)
    db.session.commit()
    sigs = review.signatures(d)
    assert [(s.meaning, s.self_approved) for s in sigs] == [("authored", False), ("reviewed", True), ("approved", True)]
    assert d.self_approved and d.state == "published"
    assert json.loads(events("doc.approve")[-1].detail)["self_approved"] is True


def test_self_approval_stays_refused_when_the_department_has_another_approver(lib):
    from flask import current_app
    current_app.config["AUTHORING_ALLOW_SELF_APPROVAL"] = True
    a = user("fo.manager")
    d = start_draft(a, department=dept("前厅部"), sop=sop())
    d.text = edit(d.text, "owner: front-office", "owner: front-office\napprovers: [fo.manager, admin]")
    d.change_note = "x"
    review.submit(d, a)
    review.review_pass(d, a, PW)  # no other reviewer: allowed and recorded
    with pytest.raises(AuthoringError) as e:
        review.approve(d, a, PW)
    assert e.value.status == 403


def test_a_stale_draft_is_refused_until_rebased(lib):
    d = reviewed_draft()
    path = lib / "front-office" / "night-audit.md"
    path.write_text(edit(path.read_text(encoding="utf-8"), "完整、准确入账", "完整、准确地入账"), encoding="utf-8")
    commit_and_announce(sync())
    with pytest.raises(AuthoringError, match="Rebase") as e:
        review.approve(d, user("fo.manager"), PW)
    assert e.value.status == 409
    assert [s.meaning for s in review.signatures(d)] == ["authored", "reviewed"]
    changes = drafts.rebase(d, user("fo.staff"))
    assert d.state == "draft" and d.base_revision_id == sop().current_revision_id
    assert any(line["op"] == "+" and "完整、准确地入账" in line["text"] for hunk in changes["text"] for line in hunk)


def test_script_and_html_in_the_body_stay_inert_once_published(lib):
    a, m = user("fo.manager"), user("admin")
    d = start_draft(a, department=dept("前厅部"), sop=sop())
    evil = ('\n<script>alert(1)</script>\n\n<div hx-get="/logout" hx-trigger="load" data-hx-post="/x" '
            'onclick="steal()">点我</div>\n\n<img src=x onerror="alert(2)">\n')
    saved(d, a, d.text + evil)
    review.submit(d, a)
    review.review_pass(d, m, PW)
    review.approve(d, m, PW)
    db.session.commit()
    html = sop().current.html
    for bad in ("<script", "hx-get", "hx-trigger", "data-hx-post", "onclick", "onerror"):
        assert bad not in html
    assert "点我" in html


def test_effective_date_waits_for_publish_due(lib, app):
    d = reviewed_draft()
    later = date.today() + timedelta(days=3)
    review.approve(d, user("fo.manager"), PW, effective_on=later)
    db.session.commit()
    assert d.state == "approved" and sop().current.origin == "file"
    runner = app.test_cli_runner()
    r = runner.invoke(args=["authoring", "publish-due"])
    assert r.exit_code == 0 and "0 approved drafts due" in r.output
    n = sop().current.number
    assert review.publish_due(later) == [f"{NIGHT}: revision {n + 1} published", "1 approved drafts due"]
    assert db.session.get(Draft, d.id).state == "published" and sop().current.origin == "browser"


def test_a_new_sop_is_published_into_its_department_folder(lib):
    a, m = user("fo.manager"), user("admin")
    d = start_draft(a, department=dept("前厅部"), text=new_text(dept("前厅部"), "FO-LF-001", "失物招领"), kind="new",
                    source="template")
    saved(d, a, d.text.replace("| 1 |  |  |", "| 1 | 登记失物 | 拍照 |"))
    drafts.add_attachment(d, a, "失物登记表.xlsx", xlsx_bytes())
    with pytest.raises(AuthoringError, match="not listed under attachments"):
        review.submit(d, a)
    meta, body = split(d.text)
    saved(d, a, compose({**meta, "attachments": ["失物登记表.xlsx"]}, body))
    review.submit(d, a)
    review.review_pass(d, m, PW)
    review.approve(d, m, PW)
    db.session.commit()
    new = sop("FO-LF-001")
    assert new.path == "front-office/fo-lf-001.md" and new.current.origin == "browser" and d.sop_id == new.id
    assert (lib / "front-office" / "fo-lf-001.md").read_text(encoding="utf-8") == d.text
    assert (lib / "front-office" / "失物登记表.xlsx").read_bytes() == xlsx_bytes()
    report = sync()
    assert report.created == [] and report.errors == [] and report.conflicts == []


def xlsx_bytes() -> bytes:
    return zip_bytes("[Content_Types].xml", "xl/workbook.xml")


# --- conflicts ------------------------------------------------------------------------------------------------

def published_night(lib) -> SopRevision:
    d = reviewed_draft()
    review.approve(d, user("fo.manager"), PW)
    db.session.commit()
    return sop().current


def test_a_file_edited_after_a_browser_publication_is_a_conflict_and_applies_neither(lib, app):
    rev = published_night(lib)
    path = lib / "front-office" / "night-audit.md"
    on_disk = edit(path.read_text(encoding="utf-8"), "完整、准确入账", "服务器上改的")
    path.write_text(on_disk, encoding="utf-8")
    r = app.test_cli_runner().invoke(args=["sops", "sync"])
    assert r.exit_code == 0
    assert f"front-office/night-audit.md: conflict with revision {rev.number}" in r.output
    assert "1 in conflict" in r.output
    db.session.expire_all()
    assert sop().current_revision_id == rev.id
    conflicts = publish.open_conflicts()
    assert len(conflicts) == 1 and conflicts[0].file_text == on_disk and conflicts[0].revision_id == rev.id
    app.test_cli_runner().invoke(args=["sops", "sync"])  # reported again, recorded once
    assert db.session.scalar(sa.select(sa.func.count(SyncConflict.id))) == 1


def test_resolving_a_conflict_by_taking_the_file_keeps_both_as_revisions(lib):
    rev = published_night(lib)
    path = lib / "front-office" / "night-audit.md"
    path.write_text(edit(path.read_text(encoding="utf-8"), "完整、准确入账", "服务器上改的"), encoding="utf-8")
    commit_and_announce(sync())
    conflict = publish.open_conflicts()[0]
    with pytest.raises(AuthoringError) as e:
        publish.resolve_conflict(conflict, user("fo.manager"), "file")
    assert e.value.status == 403
    publish.resolve_conflict(conflict, user("admin"), "file")
    current = sop().current
    assert current.number == rev.number + 1 and current.origin == "file" and "服务器上改的" in current.markdown
    assert db.session.get(SopRevision, rev.id).origin == "browser"  # the portal's version stays a revision
    assert conflict.resolution == "file" and conflict.new_revision_id == current.id
    assert sync().revised == []  # the file and the database agree again


def test_resolving_a_conflict_by_keeping_the_portal_rewrites_the_file(lib):
    rev = published_night(lib)
    path = lib / "front-office" / "night-audit.md"
    portal_text = path.read_text(encoding="utf-8")
    on_disk = edit(portal_text, "完整、准确入账", "服务器上改的")
    path.write_text(on_disk, encoding="utf-8")
    commit_and_announce(sync())
    conflict = publish.open_conflicts()[0]
    publish.resolve_conflict(conflict, user("admin"), "portal")
    assert path.read_text(encoding="utf-8") == portal_text and sop().current_revision_id == rev.id
    assert conflict.resolution == "portal" and conflict.file_text == on_disk  # the file's version is kept
    report = sync()
    assert report.conflicts == [] and report.revised == []
    with pytest.raises(AuthoringError) as e:
        publish.resolve_conflict(conflict, user("admin"), "file")
    assert e.value.status == 409


# --- export ---------------------------------------------------------------------------------------------------

def test_export_writes_every_current_sop_and_its_attachments(lib, app, tmp_path):
    published_night(lib)
    out = tmp_path / "export"
    r = app.test_cli_runner().invoke(args=["sops", "export", str(out)])
    live = list(db.session.scalars(sa.select(Sop).where(Sop.retired_at.is_(None))))
    assert r.exit_code == 0 and f"{len(live)} SOPs written" in r.output
    for s in live:
        exported = out / s.path
        assert hashlib.sha256(exported.read_bytes()).hexdigest() == s.current.content_hash, s.path
    assert (out / "front-office" / "夜审交接表.xlsx").read_bytes() == (lib / "front-office" / "夜审交接表.xlsx").read_bytes()


# --- periodic review ---------------------------------------------------------------------------------------------

def test_periodic_review_moves_review_by_without_a_new_revision(lib):
    s, manager = sop("FO-HO-001"), user("fo.manager")  # review_by 2026-11-01: overdue in the demo
    today = date(2026, 11, 30)
    assert s in periodic.overdue_reviews(today, dept("前厅部"))
    before = (s.current_revision_id, {d.user_id for d in duties(sop_id=s.id) if d.state == DONE})
    with pytest.raises(AuthoringError) as e:
        periodic.confirm_still_valid(s, manager, "wrong", date(2027, 11, 1), today)
    assert e.value.status == 401 and events("doc.failed")
    with pytest.raises(AuthoringError) as e:
        periodic.confirm_still_valid(s, user("it.manager"), PW, date(2027, 11, 1), today)
    assert e.value.status == 403
    sig = periodic.confirm_still_valid(s, manager, PW, date(2027, 11, 1), today)
    db.session.commit()
    assert sig.meaning == "periodic_review" and sig.revision_id == s.current_revision_id
    assert sig.content_sha256 == s.current.content_hash
    assert s.current.review_due == date(2027, 11, 1) and not s.current.review_overdue(today)
    assert s not in periodic.overdue_reviews(today, dept("前厅部"))
    assert (s.current_revision_id, {d.user_id for d in duties(sop_id=s.id) if d.state == DONE}) == before
    assert len(s.revisions) == 1 or max(r.number for r in s.revisions) == s.current.number


def test_due_reviews_of_an_owner(lib):
    s = sop("CS-SH-001")  # owner: zhou.min, review_by 2027-05-01
    zhou = User(username="zhou.min", display_name="周敏", password_hash="x", role="staff")
    db.session.add(zhou)
    db.session.flush()
    assert periodic.due_reviews(date(2027, 4, 10), user=zhou) == [s]
    assert periodic.due_reviews(date(2027, 3, 1), user=zhou) == []


# --- retire ------------------------------------------------------------------------------------------------------

def test_retiring_goes_through_approval_and_search_leaves_it_out(lib, app, demo_index):
    with_demo_index(app, demo_index)  # the index search_index.rebuild() builds over the demo, built once a session
    assert NIGHT in [h.code for h in search("夜审").hits]
    a, m = user("fo.staff"), user("fo.manager")
    grant_editor(user("admin"), a, dept("前厅部"))
    d = start_draft(a, department=dept("前厅部"), sop=sop(), kind="retire")
    d.change_note = "夜审改由系统自动完成"
    review.submit(d, a)
    review.review_pass(d, m, PW)
    assert sop().retired_at is None
    review.approve(d, m, PW)
    db.session.commit()
    assert sop().retired_at is not None and d.state == "published"
    assert [s.meaning for s in review.signatures(d)][-1] == "retire_approved"
    assert not (lib / "front-office" / "night-audit.md").exists()
    assert (lib / ".retired" / "front-office" / "night-audit.md").exists()
    assert NIGHT not in [h.code for h in search("夜审").hits]
    report = sync()  # the moved file is not read back in
    assert NIGHT not in report.created + report.revised and sop().retired_at is not None


# --- feedback ------------------------------------------------------------------------------------------------------

def test_a_reader_flags_a_section_and_the_owner_answers(lib):
    reader, owner = user("fo.night"), user("fo.manager")
    s = sop()
    anchor = s.current.toc[0]["id"]
    fb = feedback.flag(reader, s, None, anchor, "wrong", "第二步的时间不对")
    with pytest.raises(AuthoringError) as e:
        feedback.flag(reader, s, None, anchor, "nonsense", "")
    assert e.value.status == 422
    assert fb.anchor == anchor and feedback.queue(owner) == [fb] and feedback.queue(user("it.manager")) == []
    with pytest.raises(AuthoringError) as e:
        feedback.reply(fb, user("fo.staff"), "不是你回答")
    assert e.value.status == 403
    d = start_draft(owner, department=s.department, sop=s)
    feedback.reply(fb, owner, "已改，见新版本")
    feedback.link(fb, owner, d)
    feedback.close(fb, owner)
    db.session.commit()
    mine = feedback.mine(reader)
    assert mine == [fb] and mine[0].reply == "已改，见新版本" and mine[0].draft_id == d.id and mine[0].closed_at
    assert feedback.queue(owner) == []
    with pytest.raises(AuthoringError) as e:
        feedback.get_feedback(fb.id, user("cs.agent"))
    assert e.value.status == 403


def test_the_managers_reminder_lists_overdue_reviews_until_one_is_confirmed(lib, app, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)

    def overdue_reviews() -> list[str]:
        """The lines under the summary's 本部门复审逾期的规程 heading sent to fo.manager."""
        inbox.clear()
        r = app.test_cli_runner().invoke(args=["acks", "remind"])
        assert r.exit_code == 0, r.output
        text = "\n".join(m.get_payload(decode=True).decode() for m in inbox if "fo.manager@" in m["To"])
        if "本部门复审逾期的规程：" not in text:
            return []
        lines = text.split("本部门复审逾期的规程：", 1)[1].replace("\r\n", "\n").strip().split("\n")
        return [line.split()[1] for line in lines if line.startswith("! ")]

    codes = overdue_reviews()
    assert "FO-HO-001" in codes and "FO-CO-001" in codes  # review_by 2026-11-01, 2026-04-01
    assert all(code.startswith("FO-") for code in codes)  # not another department's
    periodic.confirm_still_valid(sop("FO-HO-001"), user("fo.manager"), PW, date.today() + timedelta(days=365))
    db.session.commit()
    assert "FO-HO-001" not in overdue_reviews() and "FO-CO-001" in overdue_reviews()


def test_a_step_that_lost_a_race_is_refused_and_signs_nothing(lib):
    """The approver's page still says 'reviewed' but a reviewer has just returned the draft: the state change is
    one conditional UPDATE, so the approval gets 409 and no signature is written."""
    d = reviewed_draft()
    db.session.execute(sa.update(Draft).where(Draft.id == d.id).values(state="draft")
                       .execution_options(synchronize_session=False))  # another request, not seen by this one
    assert d.state == "reviewed"
    with pytest.raises(AuthoringError, match="Someone else acted") as e:
        review.approve(d, user("fo.manager"), PW)
    assert e.value.status == 409 and d.state == "draft"
    assert [s.meaning for s in review.signatures(d)] == ["authored", "reviewed"] and sop().current.origin == "file"


def test_a_file_that_cannot_be_written_publishes_nothing(lib, monkeypatch):
    d = reviewed_draft()
    before = sop().current_revision_id

    def full(*_args, **_kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish, "write_atomic", full)
    with pytest.raises(AuthoringError, match="No space left on device") as e:
        review.approve(d, user("fo.manager"), PW)
    assert e.value.status == 503
    db.session.commit()
    d = db.session.get(Draft, d.id)
    assert d.state == "reviewed" and sop().current_revision_id == before
    assert [s.meaning for s in review.signatures(d)] == ["authored", "reviewed"]
    assert db.session.scalar(sa.select(sa.func.count(SopRevision.id)).where(SopRevision.origin == "browser")) == 0

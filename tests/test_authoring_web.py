"""Document control in the browser's terms: every page and form of app/authoring's views (the service rules
themselves are tested in tests/test_authoring.py)."""
import io
import re
import shutil
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from app.audit import AuditEvent
from app.auth.models import User
from app.authoring import drafts
from app.authoring.models import DocSignature, Draft, Feedback
from app.authoring.views_form import form_values
from app.extensions import db
from app.sops.models import Sop
from tests.conftest import HX, HX_BOOSTED, HX_RESTORE, ROOT, THREE_WAYS, Auth, page_or_fragment

PASSWORD = "demo-2026"


def user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def sop(code: str) -> Sop:
    db.session.expire_all()
    return db.session.scalar(sa.select(Sop).where(Sop.code == code))


def get_draft(draft_id: int) -> Draft:
    db.session.expire_all()
    return db.session.get(Draft, draft_id)


def draft_id_of(response) -> int:
    assert response.status_code == 303, response.status_code
    return int(re.search(r"/drafts/(\d+)$", response.headers["Location"]).group(1))


def start_edit(auth: Auth, code: str = "FO-NA-001") -> int:
    return draft_id_of(auth.post(f"/sops/{code}/edit", token_from=f"/sops/{code}"))


def editor_form(d: Draft, body: str | None = None, **changes) -> dict:
    """What the editor's form sends for this draft, with some fields changed."""
    meta, text_body = drafts.split(d.text)
    form = {k: v for k, v in form_values(meta).items() if v not in (None, False)}
    form.update(form_sent="1", body=text_body if body is None else body, change_note=d.change_note,
                base_version=d.version)
    form.update(changes)
    return form


def save(auth: Auth, draft_id: int, headers=None, **changes):
    form = editor_form(get_draft(draft_id), **changes)
    return auth.post(f"/drafts/{draft_id}", form, token_from=f"/drafts/{draft_id}", headers=headers or {})


def submit(auth: Auth, draft_id: int, **changes):
    form = editor_form(get_draft(draft_id), **changes)
    return auth.post(f"/drafts/{draft_id}/submit", form, token_from=f"/drafts/{draft_id}")


def sign_step(auth: Auth, draft_id: int, step: str, password: str = PASSWORD, **form):
    return auth.post(f"/drafts/{draft_id}/{step}", {"password": password, **form}, token_from=f"/drafts/{draft_id}")


def submitted_draft(client, auth: Auth, note: str = "夜审时间调整") -> int:
    """fo.manager edits night audit, changes a step, submits; then logs out."""
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    body = drafts.split(get_draft(draft_id).text)[1].replace("## ", "## 修订：", 1)
    r = submit(auth, draft_id, body=body, change_note=note)
    assert r.status_code == 303, r.get_data(as_text=True)
    auth.logout()
    return draft_id


# The editor ------------------------------------------------------------------------------------------------------


def test_edit_starts_a_draft_from_the_current_revision_and_opens_the_editor(client, auth, library):
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    d = get_draft(draft_id)
    assert d.base_revision_id == sop("FO-NA-001").current_revision_id and d.author.username == "fo.manager"
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="draft-form"' in html and 'name="body"' in html and "夜审操作规程" in html
    assert 'id="editor-toolbar"' in html and "js/editor.js" in html and "mermaid.esm.min.mjs" in html
    assert f'name="base_version" value="{d.version}"' in html
    # A second 编辑 opens the same draft.
    assert start_edit(auth) == draft_id


def test_save_plain_form_redirects_and_htmx_autosave_answers_with_the_time(client, auth, library):
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    r = save(auth, draft_id, title="夜审操作规程（修订）")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/drafts/{draft_id}")
    assert "title: 夜审操作规程（修订）" in get_draft(draft_id).text
    r = save(auth, draft_id, headers=HX, body="## 目的\n\n自动保存的文字\n")
    html = r.get_data(as_text=True)
    d = get_draft(draft_id)
    assert r.status_code == 200 and html.lstrip().startswith('<div id="save-status"') and "已保存" in html
    assert f'name="base_version" value="{d.version}"' in html and "<time datetime=" in html
    assert "自动保存的文字" in d.text


def test_two_editors_saving_the_same_version_the_second_gets_409_naming_the_first(app, client, auth, library):
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    base = get_draft(draft_id).version
    other = app.test_client()
    other_auth = Auth(other)
    other_auth.login("admin")
    r = other.post(f"/drafts/{draft_id}", data={**editor_form(get_draft(draft_id), body="## 管理员的版本\n"),
                                                "csrf_token": other_auth.token(f"/drafts/{draft_id}")}, headers=HX)
    assert r.status_code == 200
    mine = "## 经理的版本\n\n我的文字不能丢\n"
    r = auth.post(f"/drafts/{draft_id}", {**editor_form(get_draft(draft_id), body=mine), "base_version": base},
                  token_from=f"/drafts/{draft_id}", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "data-conflict" in html and "王磊" in html  # admin's name
    assert "我的文字不能丢" in html  # the refused text comes back, nothing typed is lost
    assert "管理员的版本" in get_draft(draft_id).text and "经理的版本" not in get_draft(draft_id).text
    # Without JavaScript: the editor page again, 409, the person's text in the textarea.
    r = auth.post(f"/drafts/{draft_id}", {**editor_form(get_draft(draft_id), body=mine), "base_version": base},
                  token_from=f"/drafts/{draft_id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "<html" in html and re.search(r'<textarea id="body"[^>]*>## 经理的版本', html)


def test_preview_renders_like_a_published_page_and_keeps_script_and_htmx_inert(client, auth, library):
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    body = ("## 步骤\n\n<script>alert(1)</script>\n\n<div hx-get=\"/logout\" hx-trigger=\"load\">x</div>\n\n"
            "<img src=x onerror=alert(2)>\n\n[点我](javascript:alert(3))\n\n```mermaid\nflowchart TD\n  A-->B\n```\n")
    form = editor_form(get_draft(draft_id), body=body)
    r = auth.post(f"/drafts/{draft_id}/preview", form, token_from=f"/drafts/{draft_id}", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and '<div class="sop-body" id="preview" hx-disable>' in html
    assert "<script" not in html and "alert(1)" not in html and "hx-get" not in html and "hx-trigger" not in html
    assert "onerror" not in html and "javascript:" not in html
    assert '<div class="mermaid">' in html and '<h2 id="步骤">步骤</h2>' in html
    assert get_draft(draft_id).text.count("<script>") == 0  # a preview saves nothing


def test_preview_shows_front_matter_and_body_problems_with_their_lines(client, auth, library):
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    form = editor_form(get_draft(draft_id), positions="前台接待、不存在的岗位")
    html = auth.post(f"/drafts/{draft_id}/preview", form, token_from=f"/drafts/{draft_id}", headers=HX).get_data(as_text=True)
    assert 'id="problems" class="problems" hx-swap-oob="true"' in html
    assert re.search(r'<a href="#f-positions">必读岗位</a>: unknown position &#39;不存在的岗位&#39;', html)
    form = editor_form(get_draft(draft_id), body="")
    html = auth.post(f"/drafts/{draft_id}/preview", form, token_from=f"/drafts/{draft_id}", headers=HX).get_data(as_text=True)
    assert 'data-goto-line="1"' in html and "正文第 1 行" in html and "no text below its front matter" in html
    # The full editor page shows the same problem at its field.
    save(auth, draft_id, ack_within_days="400")
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert re.search(r'class="field has-error"><label for="f-ack_within_days">.*?ack_within_days must be', html, re.S)


def test_full_review_cycle_return_resubmit_review_approve_publishes_the_file(client, auth, library):
    draft_id = submitted_draft(client, auth)
    assert get_draft(draft_id).state == "in_review"
    auth.login("admin")
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="review-diff"' in html and "修订：" in html and 'id="review-form"' in html and 'id="return-form"' in html
    r = auth.post(f"/drafts/{draft_id}/return", {"comment": ""}, token_from=f"/drafts/{draft_id}")
    assert r.status_code == 422 and "退回必须填写意见" in r.get_data(as_text=True)
    r = auth.post(f"/drafts/{draft_id}/return", {"comment": "第二步的时间写错了"}, token_from=f"/drafts/{draft_id}")
    assert r.status_code == 303 and get_draft(draft_id).state == "draft"
    auth.logout()
    auth.login("fo.manager")
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="returned"' in html and "第二步的时间写错了" in html and 'id="draft-form"' in html
    r = submit(auth, draft_id, change_note="夜审时间调整（已按意见修改）")
    assert r.status_code == 303 and get_draft(draft_id).state == "in_review"
    auth.logout()
    auth.login("admin")
    assert sign_step(auth, draft_id, "review").status_code == 303
    assert get_draft(draft_id).state == "reviewed"
    r = sign_step(auth, draft_id, "approve")
    assert r.status_code == 303
    d = get_draft(draft_id)
    assert d.state == "published" and d.published_revision.origin == "browser"
    assert "## 修订：" in (library / sop("FO-NA-001").path).read_text(encoding="utf-8")
    meanings = [s.meaning for s in db.session.scalars(sa.select(DocSignature).where(DocSignature.draft_id == draft_id))]
    assert meanings == ["authored", "authored", "reviewed", "approved"]
    # The SOP page (and its print) shows 编制 / 审核 / 批准 with names.
    html = client.get("/sops/FO-NA-001").get_data(as_text=True)
    block = re.search(r'<div class="doc-control" id="doc-control">.*?</div>', html, re.S).group(0)
    assert "编制" in block and "陈静" in block and "审核" in block and "批准" in block and "王磊" in block
    old = client.get(f"/sops/FO-NA-001?rev={d.published_revision.number - 1}").get_data(as_text=True)
    assert 'id="obsolete"' in old and "已作废" in old


def test_approval_with_a_wrong_password_is_refused_and_audited(client, auth, library):
    draft_id = submitted_draft(client, auth)
    auth.login("admin")
    sign_step(auth, draft_id, "review")
    r = sign_step(auth, draft_id, "approve", password="wrong")
    html = r.get_data(as_text=True)
    assert r.status_code == 401 and 'id="approve-error"' in html and get_draft(draft_id).state == "reviewed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "doc.failed")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocSignature)
                             .where(DocSignature.draft_id == draft_id, DocSignature.meaning == "approved")) == 0


# Who may do what -------------------------------------------------------------------------------------------------

# Each route with a concrete URL (draft 1 is started by the fixture below), and the method.
ROUTES = [
    ("GET", "/drafts/"), ("GET", "/drafts/new"), ("POST", "/drafts/new"), ("GET", "/drafts/import"),
    ("POST", "/drafts/import"), ("POST", "/sops/FO-NA-001/edit"), ("GET", "/drafts/{id}"), ("POST", "/drafts/{id}"),
    ("POST", "/drafts/{id}/preview"), ("POST", "/drafts/{id}/attachments"), ("GET", "/drafts/{id}/files/a.png"), ("POST", "/drafts/{id}/submit"),
    ("POST", "/drafts/{id}/comment"), ("POST", "/drafts/{id}/return"), ("POST", "/drafts/{id}/review"),
    ("POST", "/drafts/{id}/approve"), ("POST", "/drafts/{id}/rebase"), ("POST", "/sops/FO-NA-001/retire"),
    ("GET", "/sops/FO-NA-001/authoring"), ("POST", "/sops/FO-NA-001/still-valid"), ("POST", "/sops/FO-NA-001/feedback"),
    ("GET", "/feedback/"), ("POST", "/feedback/{fb}/reply"), ("POST", "/feedback/{fb}/link"),
    ("POST", "/feedback/{fb}/close"), ("GET", "/admin/conflicts"), ("POST", "/admin/conflicts/999999"),
    ("GET", "/admin/editors"), ("POST", "/admin/editors"),
]
DRAFT_ROUTES = [(m, u) for m, u in ROUTES if "{id}" in u]
FEEDBACK_ROUTES = [(m, u) for m, u in ROUTES if "{fb}" in u]


@pytest.fixture
def night_draft(client, auth, library):
    """An open draft of FO-NA-001 by fo.manager, and a reader's feedback on it; nobody logged in afterwards."""
    auth.login("fo.manager")
    draft_id = start_edit(auth)
    auth.logout()
    fb = Feedback(sop_id=sop("FO-NA-001").id, revision_id=sop("FO-NA-001").current_revision_id, kind="wrong",
                  note="第三步错了", user_id=user("fo.night").id)
    db.session.add(fb)
    db.session.commit()
    return {"id": draft_id, "fb": fb.id}


def test_every_authoring_route_is_listed_here(app):
    def shape(url: str) -> str:
        return re.sub(r"<[^>]+>|\{\w+\}|\d+|FO-NA-001|a\.png", "<>", url)

    served = {(m, shape(r.rule)) for r in app.url_map.iter_rules() if r.endpoint.startswith("authoring.")
              for m in r.methods if m in ("GET", "POST")}
    assert {(m, shape(u)) for m, u in ROUTES} == served


@pytest.mark.parametrize("method,url", ROUTES)
def test_login_required(client, auth, night_draft, method, url):
    url = url.format(**night_draft)
    data = {"csrf_token": auth.token()} if method == "POST" else None
    r = client.open(url, method=method, data=data)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    r = client.open(url, method=method, data=data, headers=HX)
    assert r.status_code == 401 and r.headers["HX-Redirect"].endswith("/login")


@pytest.mark.parametrize("method,url", DRAFT_ROUTES + FEEDBACK_ROUTES)
def test_other_departments_get_403_and_unknown_ids_404(client, auth, night_draft, method, url):
    """it.manager (another department) and cs.agent (staff) have nothing to do with 前厅部's draft or feedback."""
    for username in ("it.manager", "cs.agent"):
        auth.login(username)
        r = client.open(url.format(**night_draft), method=method,
                        data={"csrf_token": auth.token(), "password": PASSWORD, "comment": "x", "body": "x"})
        assert r.status_code == 403, (username, url, r.status_code)
        auth.logout()
    auth.login("admin")
    r = client.open(url.format(id=999999, fb=999999), method=method, data={"csrf_token": auth.token()})
    assert r.status_code == 404


@pytest.mark.parametrize("url", ["/sops/FO-NA-001/edit", "/sops/FO-NA-001/retire", "/sops/NO-SUCH-1/edit"])
def test_only_authors_edit_or_retire_an_sop(client, auth, library, url):
    auth.login("fo.staff")  # a reader of 前厅部, not an author
    r = auth.post(url)
    assert r.status_code == (404 if "NO-SUCH" in url else 403)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draft)) == 0


def test_staff_without_a_grant_cannot_start_or_import(client, auth, library):
    auth.login("fo.staff")
    assert client.get("/drafts/new").status_code == 403
    assert client.get("/drafts/import").status_code == 403
    r = auth.post("/drafts/new", {"department": "1", "code": "FO-ZZ-001", "title": "x"})
    assert r.status_code == 422 and db.session.scalar(sa.select(sa.func.count()).select_from(Draft)) == 0
    assert client.get("/drafts/").status_code == 200  # their own list (feedback) is there for everyone


def test_reviewer_from_another_department_cannot_review(client, auth, library):
    draft_id = submitted_draft(client, auth)
    auth.login("it.manager")
    assert client.get(f"/drafts/{draft_id}").status_code == 403
    assert sign_step(auth, draft_id, "review").status_code == 403
    assert get_draft(draft_id).state == "in_review"


def test_the_author_cannot_review_or_approve_their_own_draft(client, auth, library):
    draft_id = submitted_draft(client, auth)
    auth.login("fo.manager")
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="review-form"' not in html and 'id="approve-form"' not in html
    assert sign_step(auth, draft_id, "review").status_code == 403
    assert get_draft(draft_id).state == "in_review"


@pytest.mark.parametrize("method,url", [r for r in ROUTES if r[0] == "POST"])
def test_every_post_needs_the_csrf_token(client, auth, night_draft, method, url):
    auth.login("admin")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    r = client.post(url.format(**night_draft), data={"password": PASSWORD, "comment": "x", "body": "x", "reply": "x"})
    assert r.status_code == 400
    r = client.post(url.format(**night_draft), data={"body": "x"}, headers=HX)  # htmx without X-CSRFToken
    assert r.status_code == 400 and r.headers["HX-Refresh"] == "true"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before


# Pages: plain, htmx, history restore, boosted ----------------------------------------------------------------------


@THREE_WAYS
def test_editor_page_three_ways(client, auth, night_draft, headers, fragment):
    auth.login("fo.manager")
    html = page_or_fragment(client, f"/drafts/{night_draft['id']}", headers, fragment, '<div id="editor"')
    assert 'id="draft-form"' in html


@THREE_WAYS
def test_review_page_three_ways(client, auth, library, headers, fragment):
    draft_id = submitted_draft(client, auth)
    auth.login("admin")
    html = page_or_fragment(client, f"/drafts/{draft_id}", headers, fragment, '<div id="draft-review"')
    assert 'id="review-form"' in html


@THREE_WAYS
@pytest.mark.parametrize("url,root", [("/drafts/new", '<form id="new-form"'), ("/drafts/import", '<form id="import-form"'),
                                      ("/feedback/", '<div id="feedback-lists"'),
                                      ("/sops/FO-NA-001/authoring", '<div id="sop-tools"')])
def test_pages_three_ways(client, auth, library, url, root, headers, fragment):
    auth.login("fo.manager")
    page_or_fragment(client, url, headers, fragment, root)


def test_drafts_index_is_a_page_for_every_request(client, auth, night_draft):
    auth.login("fo.manager")
    for headers in ({}, HX, HX_RESTORE, HX_BOOSTED):
        html = client.get("/drafts/", headers=headers).get_data(as_text=True)
        assert "<html" in html and 'id="my-drafts"' in html and f"/drafts/{night_draft['id']}" in html


# New, import, attachments, rebase, retire --------------------------------------------------------------------------


def test_new_sop_from_the_blank_page(client, auth, library):
    auth.login("fo.manager")
    r = auth.post("/drafts/new", {"department": str(user("fo.manager").department_id), "code": "fo-lf-001",
                                  "title": "失物招领流程", "start": "blank"}, token_from="/drafts/new")
    d = get_draft(draft_id_of(r))
    assert d.kind == "new" and d.code == "FO-LF-001" and "title: 失物招领流程" in d.text and "## 操作步骤" in d.text
    r = auth.post("/drafts/new", {"department": str(user("fo.manager").department_id), "code": "FO-NA-001",
                                  "title": "重复"}, token_from="/drafts/new", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and html.lstrip().startswith('<form id="new-form"') and 'id="code-error"' in html
    r = auth.post("/drafts/new", {"department": str(user("it.manager").department_id), "code": "IT-ZZ-001",
                                  "title": "别的部门"}, token_from="/drafts/new")
    assert r.status_code == 422 and "请选择您有编写权限的部门" in r.get_data(as_text=True)


def test_import_a_markdown_file_opens_the_editor_with_its_report(client, auth, library):
    auth.login("fo.manager")
    data = {"department": str(user("fo.manager").department_id), "code": "FO-IM-001",
            "file": (io.BytesIO("# 行李寄存\n\n## 目的\n\n规范行李寄存。\n".encode()), "luggage.md")}
    r = auth.post("/drafts/import", data, token_from="/drafts/import", content_type="multipart/form-data")
    draft_id = draft_id_of(r)
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="import-report"' in html and "luggage.md → FO-IM-001" in html and "规范行李寄存" in html


def test_import_refuses_a_renamed_binary_and_creates_nothing(client, auth, library):
    auth.login("fo.manager")
    data = {"department": str(user("fo.manager").department_id),
            "file": (io.BytesIO(b"\x7fELF\x02\x01\x01" + bytes(200)), "manual.docx")}
    r = auth.post("/drafts/import", data, token_from="/drafts/import", content_type="multipart/form-data")
    assert r.status_code == 422 and 'id="import-error"' in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draft)) == 0


def test_attachment_upload_keeps_the_typed_text_and_lists_the_file(client, auth, night_draft):
    auth.login("fo.manager")
    draft_id = night_draft["id"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    form = {**editor_form(get_draft(draft_id), body="## 目的\n\n上传时还没保存的文字\n"), "file": (io.BytesIO(png), "前台.png")}
    r = auth.post(f"/drafts/{draft_id}/attachments", form, token_from=f"/drafts/{draft_id}",
                  content_type="multipart/form-data")
    assert r.status_code == 303
    d = get_draft(draft_id)
    assert [a.name for a in d.attachments] == ["前台.png"] and "上传时还没保存的文字" in d.text
    assert drafts.split(d.text)[0]["attachments"][-1] == "前台.png"
    # A file that is not what its name says: refused, and the text typed since stays in the editor.
    form = {**editor_form(d, body="## 目的\n\n又改了一些\n"), "file": (io.BytesIO(b"MZ\x90\x00"), "表格.xlsx")}
    r = auth.post(f"/drafts/{draft_id}/attachments", form, token_from=f"/drafts/{draft_id}",
                  content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 415 and 'id="attach-error"' in html and "又改了一些" in html
    assert [a.name for a in get_draft(draft_id).attachments] == ["前台.png"]
    # The preview shows an uploaded image from the draft's own file route; the file is served inline.
    form = editor_form(get_draft(draft_id), body="## 目的\n\n![前台](前台.png)\n")
    html = auth.post(f"/drafts/{draft_id}/preview", form, token_from=f"/drafts/{draft_id}", headers=HX).get_data(as_text=True)
    src = re.search(r'<img[^>]* src="([^"]+)"', html).group(1)
    assert src == f"/drafts/{draft_id}/files/%E5%89%8D%E5%8F%B0.png"
    r = client.get(src)
    assert r.status_code == 200 and r.data == png and r.mimetype == "image/png"
    assert "attachment" not in r.headers.get("Content-Disposition", "")
    assert client.get(f"/drafts/{draft_id}/files/nothing.png").status_code == 404


def test_a_stale_draft_cannot_be_approved_until_rebased_and_the_rebase_shows_the_diff(client, auth, library):
    draft_id = submitted_draft(client, auth)
    path = library / sop("FO-NA-001").path
    path.write_text(path.read_text(encoding="utf-8").replace("## ", "## 文件改动 ", 1), encoding="utf-8")
    from app.sops.sync import sync
    assert sync().revised
    db.session.commit()
    auth.login("admin")
    sign_step(auth, draft_id, "review")
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="stale"' in html
    r = sign_step(auth, draft_id, "approve")
    assert r.status_code == 409 and get_draft(draft_id).state == "reviewed"
    r = auth.post(f"/drafts/{draft_id}/rebase", token_from=f"/drafts/{draft_id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="rebased"' in html and "文件改动" in html and 'id="text-changes"' in html
    d = get_draft(draft_id)
    assert d.base_revision_id == sop("FO-NA-001").current_revision_id and d.state == "draft"


def test_retire_goes_through_approval_and_marks_every_page_obsolete(client, auth, library):
    auth.login("fo.manager")
    r = auth.post("/sops/FO-VIP-001/retire", token_from="/sops/FO-VIP-001")
    draft_id = draft_id_of(r)
    html = client.get(f"/drafts/{draft_id}").get_data(as_text=True)
    assert 'id="submit-form"' in html and 'id="draft-form"' not in html  # nothing to edit, a reason to give
    r = auth.post(f"/drafts/{draft_id}/submit", {"change_note": "服务已取消"}, token_from=f"/drafts/{draft_id}")
    assert r.status_code == 303 and get_draft(draft_id).state == "in_review"
    assert sop("FO-VIP-001").retired_at is None
    auth.logout()
    auth.login("admin")
    sign_step(auth, draft_id, "review")
    assert sign_step(auth, draft_id, "approve").status_code == 303
    assert sop("FO-VIP-001").retired_at is not None
    html = client.get("/sops/FO-VIP-001").get_data(as_text=True)
    assert 'id="obsolete"' in html and "已作废" in html.split('class="print-header"')[1][:200]
    assert 'id="sop-tools"' not in html and 'class="flag' not in html  # no editing or flagging of a retired SOP
    assert re.search(r'<tr class="current obsolete">.*?已作废', html, re.S)


# The SOP page ------------------------------------------------------------------------------------------------------


def test_sop_page_is_the_same_for_everyone_and_loads_the_tools_per_person(client, auth, library):
    auth.login("fo.manager")
    page = client.get("/sops/FO-NA-001").get_data(as_text=True)
    assert 'hx-get="/sops/FO-NA-001/authoring"' in page and 'id="edit-button"' not in page
    tools = client.get("/sops/FO-NA-001/authoring", headers=HX).get_data(as_text=True)
    assert 'id="edit-button"' in tools and 'id="retire-button"' in tools
    auth.logout()
    auth.login("fo.staff")
    assert client.get("/sops/FO-NA-001").get_data(as_text=True).count("edit-button") == 0
    tools = client.get("/sops/FO-NA-001/authoring", headers=HX).get_data(as_text=True)
    assert 'id="edit-button"' not in tools and 'id="retire-button"' not in tools


def test_sections_carry_a_flag_form_and_the_body_stays_inert(client, auth, library):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001").get_data(as_text=True)
    body = html.split('<div class="sop-body">')[1].split('<section class="attachments">')[0]
    pieces = re.findall(r'<div hx-disable>', body)
    flags = re.findall(r'<details class="flag no-print" id="flag-([^"]+)">', body)
    toc = [t["id"] for t in sop("FO-NA-001").current.toc if t["level"] == 2]
    assert flags == toc and len(pieces) >= len(flags)


def test_reader_flags_a_step_without_javascript_and_sees_the_owners_answer(client, auth, library):
    auth.login("fo.night")
    anchor = sop("FO-NA-001").current.toc[1]["id"]
    r = auth.post("/sops/FO-NA-001/feedback", {"kind": "wrong", "note": "交班时间应为 07:00", "anchor": anchor},
                  token_from="/sops/FO-NA-001")
    assert r.status_code == 303 and unquote(r.headers["Location"]).endswith(f"/sops/FO-NA-001#{anchor}")
    r = auth.post("/sops/FO-NA-001/feedback", {"kind": "bogus", "anchor": anchor}, token_from="/sops/FO-NA-001",
                  headers=HX)
    assert r.status_code == 422 and r.get_data(as_text=True).lstrip().startswith('<div class="flag-done notice notice-error"')
    fb = db.session.scalar(sa.select(Feedback))
    auth.logout()
    auth.login("fo.manager")
    html = client.get("/feedback/").get_data(as_text=True)
    assert f'id="fb-{fb.id}"' in html and "交班时间应为 07:00" in html and "此步骤有误" in html
    assert auth.post(f"/feedback/{fb.id}/reply", {"reply": "已核实，下个版本更正"}, token_from="/feedback/").status_code == 303
    r = auth.post(f"/feedback/{fb.id}/link", token_from="/feedback/")
    linked = draft_id_of(r)
    assert get_draft(linked).code == "FO-NA-001"
    assert auth.post(f"/feedback/{fb.id}/close", token_from="/feedback/").status_code == 303
    auth.logout()
    auth.login("fo.night")
    html = client.get("/feedback/").get_data(as_text=True)
    assert f'id="my-fb-{fb.id}"' in html and "已核实，下个版本更正" in html and "陈静" in html
    tools = client.get("/sops/FO-NA-001/authoring", headers=HX).get_data(as_text=True)
    assert "已核实，下个版本更正" in tools
    assert auth.post(f"/feedback/{fb.id}/reply", {"reply": "我也来答"}, token_from="/feedback/").status_code == 403


def test_periodic_review_moves_the_date_without_a_new_revision(client, auth, library):
    owned = sop("FO-NA-001")
    auth.login("fo.manager")
    revisions = len(owned.revisions)
    assert "2028-01-31" not in client.get("/sops/FO-NA-001").get_data(as_text=True)  # the page is now cached
    r = auth.post("/sops/FO-NA-001/still-valid", {"password": "wrong", "next_review_by": "2028-01-31"},
                  token_from="/sops/FO-NA-001/authoring", headers=HX)
    assert r.status_code == 401 and 'id="still-valid-error"' in r.get_data(as_text=True)
    r = auth.post("/sops/FO-NA-001/still-valid", {"password": PASSWORD, "next_review_by": "2028-01-31"},
                  token_from="/sops/FO-NA-001/authoring", headers=HX)
    assert r.status_code == 200 and 'id="still-valid-done"' in r.get_data(as_text=True)
    after = sop("FO-NA-001")
    assert len(after.revisions) == revisions and str(after.current.review_due) == "2028-01-31"
    assert db.session.scalar(sa.select(DocSignature.meaning).where(DocSignature.sop_id == after.id)) == "periodic_review"
    assert "2028-01-31" in client.get("/sops/FO-NA-001").get_data(as_text=True)  # the cached page follows at once


def test_admin_resolves_a_sync_conflict_on_its_page(client, auth, library):
    draft_id = submitted_draft(client, auth)
    auth.login("admin")
    sign_step(auth, draft_id, "review")
    sign_step(auth, draft_id, "approve")
    path = library / sop("FO-NA-001").path
    path.write_text(path.read_text(encoding="utf-8").replace("## 修订：", "## 服务器上改的：", 1), encoding="utf-8")
    from app.sops.sync import sync
    report = sync()
    db.session.commit()
    assert [line for line in report.conflicts if "conflict with revision" in line]
    html = client.get("/admin/conflicts").get_data(as_text=True)
    conflict_id = int(re.search(r'id="conflict-(\d+)"', html).group(1))
    assert "服务器上改的" in html and "与修订版本" in html
    before = len(sop("FO-NA-001").revisions)
    r = auth.post(f"/admin/conflicts/{conflict_id}", {"choice": "file"}, token_from="/admin/conflicts")
    assert r.status_code == 303 and len(sop("FO-NA-001").revisions) == before + 1
    assert "没有待处理的冲突" in client.get("/admin/conflicts").get_data(as_text=True)
    auth.logout()
    auth.login("fo.manager")
    assert client.get("/admin/conflicts").status_code == 403


def test_wrong_signing_passwords_are_rate_limited_per_user(limited_app, tmp_path):
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    limited_app.config.update(SOP_DIR=str(root / "sops"), CONTENT_DIR=str(root))
    client = limited_app.test_client()
    auth = Auth(client)
    draft_id = submitted_draft(client, auth)
    auth.login("admin")
    codes = [sign_step(auth, draft_id, "review", password="wrong").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    assert sign_step(auth, draft_id, "review").status_code == 429  # the right one waits too
    assert get_draft(draft_id).state == "in_review"


def test_an_admin_grants_and_revokes_an_editor_on_the_editors_page(client, auth, library):
    """/admin/editors: a granted staff member may start drafts of the department's SOPs; revoked, no longer."""
    from app.audit import AuditEvent
    from app.org import Department
    front = db.session.scalar(sa.select(Department).where(Department.name == "前厅部"))
    auth.login("admin")
    page = client.get("/admin/editors").get_data(as_text=True)
    assert "前厅部" in page and f'id="editors-{front.id}"' in page
    r = auth.post("/admin/editors", {"action": "grant", "username": "nobody", "department_id": front.id},
                  token_from="/admin/editors")
    assert r.status_code == 303 and "不存在" in client.get("/admin/editors").get_data(as_text=True)
    assert auth.post("/admin/editors", {"action": "grant", "username": "fo.staff", "department_id": front.id},
                     token_from="/admin/editors").status_code == 303
    assert "fo.staff" in client.get("/admin/editors").get_data(as_text=True)
    auth.logout()
    auth.login("fo.staff")
    assert auth.post("/sops/FO-NA-001/edit", token_from="/sops/FO-NA-001").status_code == 303
    auth.logout()
    auth.login("admin")
    assert auth.post("/admin/editors", {"action": "revoke", "username": "fo.staff", "department_id": front.id},
                     token_from="/admin/editors").status_code == 303
    auth.logout()
    auth.login("fo.staff")
    assert auth.post("/sops/FO-CI-001/edit", token_from="/sops/FO-CI-001").status_code == 403
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("doc.editor_%"))
                                      .order_by(AuditEvent.id)))
    assert actions == ["doc.editor_grant", "doc.editor_revoke"]

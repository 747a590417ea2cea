"""The document-control journey in Debian's Chromium: import a Word manual, fix it with the live preview, review,
return, resubmit, approve with a password, staff sign and re-sign with the diff, print, reader feedback."""
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.authoring.models import Draft
from app.extensions import db
from app.search import rebuild
from app.sops.models import Sop
from tests.conftest import ROOT
from tests.test_browser import browser, live  # noqa: F401 - fixtures: Chromium once per module, the served app

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)
SHOTS = ROOT / "instance" / "screenshots"  # never docs/img: a test run leaves the repository as it was
IMG = SHOTS
MANUAL = ROOT / "demo" / "团队入住接待规程.docx"


@pytest.fixture
def library(library):
    """conftest's private content folder, with the search index built before the first publication updates it."""
    rebuild()
    db.session.commit()
    return library


@pytest.fixture
def new_page(browser):
    contexts = []

    def make():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("dialog", lambda d: d.accept())
        return page

    yield make
    for c in contexts:
        c.close()


def login(page, live, username):
    page.goto(f"{live}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo-2026")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("欢迎")


def draft_code() -> str:
    """Read from the test's own session, then end its transaction: it must not hold SQLite's lock while the
    browser's requests write."""
    code = db.session.scalar(sa.select(Draft.code).order_by(Draft.id.desc()).limit(1))
    db.session.commit()
    return code


def review(page, live, draft_url, *, ret: str | None = None):
    """admin opens the draft: returns it with a comment, or passes the review and approves with the password."""
    page.goto(draft_url)
    expect(page.locator("#review-diff, #draft-rendered").first).to_be_visible()
    if ret:
        page.fill("#return-form textarea[name=comment]", ret)
        page.click("#return-form button")
        expect(page.locator(".flash-success")).to_contain_text("已退回编制人修改")
        return
    page.fill("#review-form input[name=password]", "demo-2026")
    page.click("#review-form button")
    expect(page.locator(".flash-success")).to_contain_text("审核已签署")
    page.fill("#approve-form input[name=password]", "wrong-password")
    page.click("#approve-form button")
    expect(page.locator("#approve-error")).to_contain_text("密码")
    page.fill("#approve-form input[name=password]", "demo-2026")
    page.click("#approve-form button", timeout=60_000)  # publication renders, indexes and writes the file
    expect(page.locator("#published")).to_be_visible()


def test_journey_import_review_approve_sign_print_feedback(new_page, live, library):
    IMG.mkdir(parents=True, exist_ok=True)
    author, admin, staff = new_page(), new_page(), new_page()

    # 1. fo.manager imports the demo Word manual and lands in the editor with the import report.
    login(author, live, "fo.manager")
    author.click("nav.mainnav >> text=草稿")
    author.click("text=导入文档")
    author.set_input_files("#i-file", str(MANUAL))
    author.click("#import-form button")
    expect(author.locator("#import-report")).to_contain_text("团队入住接待规程.docx")
    expect(author.locator("#preview h2").first).to_be_visible()
    code = draft_code()

    # Fix a heading: the preview follows as one types; autosave says when it saved (local time).
    body = author.locator("#body")
    text = body.input_value()
    assert "## 适用范围" in text
    author.fill("#body", text.replace("## 适用范围", "## 适用范围与对象", 1))
    expect(author.locator("#preview h2", has_text="适用范围与对象")).to_be_visible()
    expect(author.locator("#save-status")).to_contain_text(re.compile(r"已保存 \d\d:\d\d"))
    # The toolbar inserts a step table (步骤 | 标准 | 提示) at the cursor; the preview shows it.
    author.evaluate("document.getElementById('body').setSelectionRange(0, 0)")
    author.click("#editor-toolbar button:has-text('步骤表')")
    expect(author.locator("#preview table th", has_text="提示").first).to_be_visible()
    author.fill("#body", author.locator("#body").input_value().replace("| 步骤 | 标准 | 提示 |\n|---|---|---|\n| 1. |  |  |\n| 2. |  |  |\n", "", 1))
    # Who must read and sign it.
    author.fill("#f-positions", "前台接待")
    author.check("#f-requires_ack")
    author.fill("#f-ack_within_days", "7")
    author.fill("#f-change_note", "由 Word 手册导入")
    # A flowchart from the toolbar is drawn by the vendored mermaid in the preview (under the strict CSP).
    author.evaluate("const b = document.getElementById('body'); b.setSelectionRange(b.value.length, b.value.length)")
    author.click("#editor-toolbar button:has-text('流程图')")
    author.wait_for_function("() => { const n = document.querySelectorAll('#preview .mermaid svg .node');"
                             " return n.length >= 2 && n[0].getBoundingClientRect().width > 10; }")
    expect(author.locator("#save-status")).to_contain_text("已保存")
    author.set_viewport_size({"width": 1360, "height": 1250})
    author.evaluate("window.scrollTo(0, 0); document.getElementById('body').scrollTop = 0")
    author.screenshot(path=str(IMG / "editor.png"))
    author.set_viewport_size({"width": 1360, "height": 900})
    author.click("#submit-button")
    expect(author.locator(".flash-success")).to_contain_text("已提交审核")
    draft_url = author.url

    # 2. A reviewer (admin: the department's only manager wrote it) returns it with a comment.
    login(admin, live, "admin")
    review(admin, live, draft_url, ret="第五步请写明叫醒时间由谁确认")

    # 3. The author sees the comment, fixes it, submits again.
    author.goto(draft_url)
    expect(author.locator("#returned")).to_contain_text("叫醒时间由谁确认")
    text = author.locator("#body").input_value()
    author.fill("#body", text.replace("向领队说明早餐时间、叫醒时间与退房时间", "向领队说明早餐时间、叫醒时间（由大堂副理确认）与退房时间"))
    expect(author.locator("#preview")).to_contain_text("由大堂副理确认")
    author.click("#submit-button")
    expect(author.locator(".flash-success")).to_contain_text("已提交审核")

    # 4. The approver approves with the password (a wrong one is refused first).
    review(admin, live, draft_url)
    published = library / "front-office" / f"{code.lower()}.md"
    assert published.is_file() and "适用范围与对象" in published.read_text(encoding="utf-8")

    # 5. A front-desk employee must sign it: it is on their reading list; they sign.
    login(staff, live, "fo.staff")
    staff.goto(f"{live}/reading")
    staff.click(f"text=团队入住接待规程")
    expect(staff.locator("h1")).to_have_text("团队入住接待规程")
    staff.fill("#ack-panel input[name=password]", "demo-2026")
    staff.click("#ack-panel button.primary")
    expect(staff.locator("#ack-signed")).to_be_visible()

    # The author changes a step (编辑 on the SOP page), it is approved, and the employee must sign again, with the diff.
    author.goto(f"{live}/sops/{code}")
    author.click("#edit-button")
    expect(author.locator("#draft-form")).to_be_visible()
    text = author.locator("#body").input_value()
    author.fill("#body", text.replace("30 分钟内全部入住", "20 分钟内全部入住"))
    expect(author.locator("#preview")).to_contain_text("20 分钟内全部入住")
    author.fill("#f-version", "1.1")
    author.fill("#f-change_note", "入住时限由 30 分钟缩短为 20 分钟")
    author.click("#submit-button")
    expect(author.locator(".flash-success")).to_contain_text("已提交审核")
    admin.goto(author.url)
    admin.locator("#review-diff").scroll_into_view_if_needed()
    admin.evaluate("window.scrollTo(0, 0)")
    admin.set_viewport_size({"width": 1360, "height": 1250})
    admin.screenshot(path=str(IMG / "review.png"))
    admin.set_viewport_size({"width": 1360, "height": 900})
    review(admin, live, author.url)
    staff.goto(f"{live}/sops/{code}")
    expect(staff.locator("#ack-resign")).to_contain_text("20 分钟内全部入住")
    expect(staff.locator("#ack-resign .diff-text tr.del").first).to_contain_text("30 分钟")

    # 6. The new file is in content/sops; the print view shows 编制 / 审核 / 批准 with names and dates.
    assert "20 分钟内全部入住" in published.read_text(encoding="utf-8")
    SHOTS.mkdir(parents=True, exist_ok=True)
    staff.screenshot(path=str(SHOTS / "sop-document-control.png"), full_page=True)
    staff.emulate_media(media="print")
    block = staff.locator("#doc-control")
    expect(block).to_be_visible()
    for word in ("编制", "审核", "批准", "陈静", "王磊"):
        expect(block).to_contain_text(word)
    expect(staff.locator("details.flag").first).to_be_hidden()  # the page's tools stay off paper
    expect(staff.locator("#sop-tools")).to_be_hidden()
    staff.goto(f"{live}/sops/{code}?rev=1")
    expect(staff.locator("#obsolete")).to_have_text("已作废")
    expect(staff.locator(".print-header")).to_contain_text("已作废")
    staff.emulate_media(media="screen")

    # 7. A reader flags a step; the owner answers; the reader sees the answer.
    staff.goto(f"{live}/sops/{code}")
    flag = staff.locator("details.flag").nth(3)
    flag.locator("summary").click()
    flag.locator("input[value=unclear]").check()
    flag.locator("textarea[name=note]").fill("房卡袋写房号还是姓名？")
    flag.locator("button").click()
    expect(staff.locator(".flag-done").first).to_contain_text("谢谢")
    author.goto(f"{live}/feedback/")
    item = author.locator("#queue .feedback-item").first
    expect(item).to_contain_text("房卡袋写房号还是姓名")
    item.locator("textarea[name=reply]").fill("只写房号，见第 4 步提示")
    item.locator("button:has-text('发送答复')").click()
    expect(author.locator(".flash-success")).to_contain_text("答复已发送")
    staff.goto(f"{live}/sops/{code}")
    expect(staff.locator("#my-sop-feedback")).to_contain_text("只写房号")
    assert db.session.scalar(sa.select(Sop.code).where(Sop.code == code)) == code
    db.session.commit()

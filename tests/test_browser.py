"""Browser journeys in Debian's Chromium through Playwright (no download: /usr/bin/chromium)."""
import re
import shutil
import threading
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from app.extensions import db
from app.sops.sync import sync
from tests.conftest import ROOT, with_demo_index

pytestmark = pytest.mark.browser
# The first search in a fresh instance builds the index; a busy 2-core CI machine needs more than 5 s (the search
# journeys start with the index in place, but other pages may search).
expect.set_options(timeout=20_000)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "instance" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install chromium fonts-noto-cjk (.ci/run does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def live(app):
    """Serve the test app on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def searchable(app, demo_index):
    """The demo's search index in place, as `flask search rebuild` leaves it (built once a session)."""
    return with_demo_index(app, demo_index)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def login(page, live, username="fo.staff"):
    page.goto(f"{live}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo-2026")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("欢迎")


def test_journey_library_tag_filter_sop_with_flowchart(page, live):
    SHOTS.mkdir(parents=True, exist_ok=True)
    login(page, live)
    page.click("nav.mainnav >> text=资料库")
    expect(page.locator("h1")).to_have_text("SOP 资料库")
    page.evaluate("window.__sameDocument = true")  # survives only if htmx swaps instead of loading a page
    page.click("#sop-library nav.tags a.tag:has-text('PMS')")
    expect(page.locator("#sop-library a.tag.active")).to_contain_text("PMS")
    assert "tag=" in page.url and page.evaluate("window.__sameDocument") is True
    expect(page.locator(".sop-item")).not_to_have_count(0)
    page.click(".sop-item a:has-text('夜审操作规程')")
    expect(page.locator("h1")).to_have_text("夜审操作规程")
    svg = page.locator(".sop-body .mermaid svg").first
    expect(svg).to_be_visible()
    nodes = page.locator(".sop-body .mermaid svg .node")
    # mermaid draws into a scratch element first: wait for the finished drawing, whose nodes have a size.
    page.wait_for_function("() => document.querySelectorAll('.sop-body .mermaid[data-processed] svg .node').length >= 3")
    boxes = [nodes.nth(i).bounding_box() for i in range(nodes.count())]
    assert sum(1 for b in boxes if b and b["width"] > 10 and b["height"] > 10) >= 3, boxes
    # The CJK font is present, so Chinese renders as glyphs rather than boxes.
    assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '夜审')")
    page.screenshot(path=str(SHOTS / "sop-page.png"), full_page=False)


def test_no_javascript_library_filter_still_works(browser, live):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    login(page, live)
    page.goto(f"{live}/sops/")
    page.click("#sop-library nav.tags a.tag:has-text('PMS')")
    assert "tag=" in page.url
    expect(page.locator(".sop-item")).not_to_have_count(0)
    context.close()


@pytest.fixture
def hostile(app, tmp_path):
    """The hostile corpus as SOPs, beside the demo ones."""
    root = tmp_path / "hostile-content"
    shutil.copytree(ROOT / "content", root)
    for f in (ROOT / "tests" / "corpus" / "hostile").glob("*.md"):
        shutil.copy(f, root / "sops" / "front-office" / f"zz-{f.name}")
    app.config.update(SOP_DIR=str(root / "sops"), CONTENT_DIR=str(root))
    report = sync()
    db.session.commit()
    assert not report.errors
    return ["XSS-SCRIPT-001", "XSS-LINK-001", "XSS-HTMX-001", "XSS-MERMAID-001"]


def test_hostile_corpus_executes_nothing(page, live, hostile):
    dialogs, stray = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live)
    ours = (f"{live}/sops/", f"{live}/static/", f"{live}/reading/badge", f"{live}/todo/badge")  # the portal's own (badges, sign panel)
    page.on("request", lambda r: stray.append(r.url) if not r.url.startswith(ours) else None)
    for code in hostile:
        page.goto(f"{live}/sops/{code}")
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_timeout(800)  # give load-triggered handlers their chance
        for a in page.locator(".sop-body a").all():
            href = a.get_attribute("href") or ""
            assert not href.lower().startswith(("javascript:", "data:")), href
        assert page.evaluate("window.__pwned") is None
    page.locator(".sop-body .mermaid svg .node").first.click()  # a mermaid click directive must not run
    page.wait_for_timeout(300)
    assert dialogs == [] and stray == []
    assert page.context.cookies()  # still logged in: no hx-post to /logout ran
    page.goto(f"{live}/")
    expect(page.locator("h1")).to_contain_text("欢迎")


def test_journey_search_as_you_type_in_traditional_script(page, live, searchable):
    login(page, live)
    page.evaluate("window.__sameDocument = true")
    page.fill("[data-search-box=main]", "熱線交接")  # typed in Traditional; the SOP is written in Simplified
    first = page.locator("#search-results a.result").first
    expect(first).to_contain_text("热线交接")
    expect(first.locator("mark").first).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True  # results came without a page load
    page.screenshot(path=str(SHOTS / "search.png"))
    page.press("[data-search-box=main]", "Enter")
    page.wait_for_url("**/sops/IT-HL-001#*")
    assert page.evaluate("decodeURIComponent(location.hash)") == "#热线交接"
    expect(page.locator("h1")).to_have_text("IT热线值班规程")


def test_slash_focuses_search_and_arrows_choose_a_result(page, live, searchable):
    login(page, live)
    page.goto(f"{live}/sops/")
    page.locator("body").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.matches('[data-search-box=header]')")  # the header box
    page.goto(f"{live}/search")
    page.locator("body").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.matches('[data-search-box=main]')")
    page.keyboard.type("投诉")
    expect(page.locator("#search-results a.result")).not_to_have_count(0)
    assert "q=" in page.url  # the query lives in the URL on the search page
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    second = page.locator("#search-results a.result").nth(1)
    expect(second).to_have_class("result selected")
    href = second.get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{href.split('#')[0]}*")


def test_journey_required_reading_sign_report_export_and_resign(browser, page, live, app, tmp_path):
    # 1. A new hire sees three SOPs in My required reading.
    login(page, live, "newhire")
    expect(page.locator("#reading-badge")).to_have_text("3")
    page.click("#nav-reading")
    expect(page.locator("#reading-outstanding tbody tr")).to_have_count(3)
    expect(page.locator("#reading-progress")).to_contain_text("已签 0 / 3")
    # 2. They open one, sign with their password (htmx, no page load), and the badge drops to two.
    page.click("#reading-outstanding a:has-text('入住登记')")
    expect(page.locator("#ack-panel")).to_contain_text("我已阅读并理解本规程")
    page.evaluate("window.__sameDocument = true")
    page.fill("#ack-panel input[name=password]", "wrong-password")
    page.click("#ack-panel button:has-text('签署')")
    expect(page.locator("#ack-error")).to_contain_text("密码不正确")
    page.fill("#ack-panel input[name=password]", "demo-2026")
    page.click("#ack-panel button:has-text('签署')")
    expect(page.locator("#ack-signed")).to_contain_text("你已于")
    expect(page.locator("#reading-badge")).to_have_text("2")
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(SHOTS / "signed.png"))

    # 3. A manager opens the department report, sees the signature with name, time and version, downloads XLSX.
    manager = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    mpage = manager.new_page()
    mpage.set_default_timeout(15000)
    login(mpage, live, "fo.manager")
    mpage.click("nav.mainnav >> text=签阅报告")
    mpage.click("#department-overview a:has-text('前厅部')")
    expect(mpage.locator("#department-report")).to_be_visible()
    mpage.screenshot(path=str(SHOTS / "department-report.png"))
    mpage.click("#department-report a[href='/acks/sops/FO-CI-001']")
    mpage.click("nav.tabs a[data-status=done]")
    row = mpage.locator("#people tr:has-text('林晓')")
    expect(row).to_contain_text("v")
    expect(row).to_contain_text(str(date.today().year))
    with mpage.expect_download() as info:
        mpage.click("button:has-text('下载 XLSX')")
    assert info.value.suggested_filename.startswith("FO-CI-001-signatures") and info.value.suggested_filename.endswith(".xlsx")
    with open(info.value.path(), "rb") as f:
        values = [c for r in load_workbook(f).active.values for c in r]
    assert "林晓" in values
    manager.close()

    # 4. An author publishes a material revision; the new hire is asked to sign again, with the diff shown.
    root = tmp_path / "sops"
    shutil.copytree(ROOT / "content" / "sops", root)
    f = root / "front-office" / "check-in.md"
    text = f.read_text(encoding="utf-8").replace('version: "', 'version: "9', 1)
    f.write_text(text + "\n## 电子身份证核验\n\n入住时须核验电子身份证二维码。\n", encoding="utf-8")
    assert sync(root).revised == ["FO-CI-001"]
    db.session.commit()
    page.goto(f"{live}/sops/FO-CI-001")
    expect(page.locator("#ack-resign")).to_contain_text("重新签署")
    expect(page.locator("#ack-resign #changes")).to_contain_text("电子身份证二维码")
    expect(page.locator("#reading-badge")).to_have_text("3")
    page.screenshot(path=str(SHOTS / "resign.png"), full_page=False)


def test_journey_onboarding_ticks_sign_inline_and_manager_sees_progress(browser, page, live):
    manager = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    mpage = manager.new_page()
    mpage.set_default_timeout(15000)
    login(mpage, live, "fo.manager")
    mpage.goto(f"{live}/checklists/team")
    row = mpage.locator("#team-onboarding tr:has-text('林晓') td.progress-cell")
    expect(row).to_contain_text("0 / 19")
    mpage.evaluate("window.__sameDocument = true")

    # 1. The new hire's onboarding shows the day-1 items.
    login(page, live, "newhire")
    page.goto(f"{live}/onboarding")
    expect(page.locator("#onboarding-week")).to_contain_text("领取工牌和工服")
    page.click("#onboarding-week a:has-text('领取工牌和工服')")
    # 2. They tick two items; one asks them to sign an SOP, which they do inline.
    page.evaluate("window.__sameDocument = true")
    item = page.locator("li.item:has-text('领取工牌和工服')")
    item.locator("button:has-text('完成')").click()
    expect(item).to_have_class(re.compile("item-done"))
    sop_item = page.locator("li.item:has-text('阅读并签署《前台入住登记流程》')")
    sop_item.locator("input[name=password]").fill("demo-2026")
    sop_item.locator("button:has-text('签署')").click()
    expect(page.locator("li.item.item-done:has-text('阅读并签署《前台入住登记流程》')")).to_be_visible()
    # 3. Progress moves, without a page load.
    expect(page.locator("[id^=run-progress-]")).to_contain_text("已完成 2 / 19")
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(SHOTS / "onboarding.png"))
    # 4. The manager's overview shows the new figure without reloading the page.
    expect(row).to_contain_text("2 / 19")
    assert mpage.evaluate("window.__sameDocument") is True
    manager.close()


def test_journey_swap_handover_sign_and_carry_over(browser, page, live, app):
    from datetime import timedelta
    import sqlalchemy as sa
    from app.auth.models import User
    from app.rosters.models import RosterEntry, Team

    # A shift of fo.staff ten days ahead (no supervisor needed), on the front-desk team.
    day = date.today() + timedelta(days=10)
    team = db.session.scalar(sa.select(Team).where(Team.code == "FO-DESK"))
    night = next(s for s in team.shift_types if s.code == "N")
    staff = db.session.scalar(sa.select(User).where(User.username == "fo.staff"))
    night_user = db.session.scalar(sa.select(User.id).where(User.username == "fo.night"))
    # Nothing the day before or after, so the swap breaks no rule and needs no supervisor.
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == team.id, RosterEntry.day >= day - timedelta(days=1),
                                                    RosterEntry.day <= day + timedelta(days=1)))
    db.session.add(RosterEntry(team_id=team.id, shift_type_id=night.id, user_id=staff.id, day=day, source="manual"))
    # 周强 works tonight's 夜班: the incoming person who confirms the 晚班's handover.
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.shift_type_id == night.id, RosterEntry.day == date.today()))
    db.session.add(RosterEntry(team_id=team.id, shift_type_id=night.id, user_id=night_user, day=date.today(), source="manual"))
    db.session.commit()  # and hold no transaction while the browser writes (SQLite has one writer)

    # 1. A member asks a colleague to swap; the colleague accepts; the grid shows the change.
    login(page, live, "fo.staff")
    page.goto(f"{live}/rosters/swaps")
    page.select_option("#swap-form select[name=entry]", label=f"{day} 夜班 · 前台值班组")
    page.select_option("#swap-form select[name=colleague]", label="周强")  # by name
    page.click("#swap-form button")
    expect(page.locator("#swaps-mine")).to_contain_text("等待同事答复")
    colleague = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    cpage = colleague.new_page()
    cpage.set_default_timeout(15000)
    login(cpage, live, "fo.night")
    cpage.goto(f"{live}/rosters/swaps")
    cpage.click("#swaps-mine button:has-text('同意')")
    expect(cpage.locator("#swaps-mine")).to_contain_text("已完成")
    cpage.goto(f"{live}/rosters/FO-DESK/month?m={day:%Y-%m}")
    cell = cpage.locator(f"#cell-{night_user}-{day.isoformat()}")
    expect(cell.locator(".shift-swap")).to_have_text("N")
    expect(page.locator("body")).to_be_visible()

    # 2. The outgoing person writes a handover with one open item.
    today = date.today()
    page.goto(f"{live}/rosters/FO-DESK/handover?shift=E&day={today}")
    page.fill("textarea[name=incidents]", "20:40 前台打印机卡纸，已处理。")
    page.select_option("select[name=item_category]", "vip")
    page.fill("input[name=item_text]", "2206 房客人投诉空调噪音，明早回访")
    page.click("#handover-form button:has-text('保存交接')")
    expect(page.locator("#open-items")).to_contain_text("2206 房客人投诉空调噪音")
    # 3. The incoming person signs it.
    cpage.goto(f"{live}/rosters/FO-DESK/handover?shift=E&day={today}")
    cpage.click("#confirm-form button")
    expect(cpage.locator("#handover-confirmed")).to_contain_text("周强")
    cpage.screenshot(path=str(SHOTS / "handover.png"))
    # 4. The open item appears in the next handover.
    cpage.goto(f"{live}/rosters/FO-DESK/handover?shift=N&day={today}")
    expect(cpage.locator("#open-items")).to_contain_text("2206 房客人投诉空调噪音")
    cpage.goto(f"{live}/rosters/FO-DESK/month")
    cpage.screenshot(path=str(SHOTS / "roster.png"))
    colleague.close()

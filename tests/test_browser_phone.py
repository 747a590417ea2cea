"""The on-shift pages on a phone, 360 × 740 in Chromium: nothing wider than the screen, the controls reachable,
and a checklist photo taken and shown. Each test saves its screenshot (under pytest's tmp_path)."""
import io
import struct
import zlib
from datetime import date

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.checklists.models import ChecklistRun, ItemPhoto
from app.checklists.runs import schedule
from app.extensions import db
from tests.test_browser import browser, live, login  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


def png(width: int = 64, height: int = 48) -> bytes:
    """A real PNG, as a gallery would hand it over."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes((40, 120, 200)) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def phone(browser):  # noqa: F811
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def fits(page) -> None:
    """No sideways scrolling: the document is no wider than the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']} px screen"


def usable(locator) -> None:
    """Visible, inside the screen's width, and the element a tap at its centre lands on."""
    expect(locator).to_be_visible()
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert locator.evaluate("""el => { const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return hit === el || el.contains(hit) || (el.labels && [...el.labels].some(l => l.contains(hit))); }""")


def test_checklist_run_on_a_phone_with_a_photo(phone, live, tmp_path):
    schedule(date.today())
    db.session.commit()
    run = db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.dedupe_key.like("recurring:CL-FO-NA-PRECHECK:%")))
    run_id = run.id
    photo_id = next(i.id for i in run.items if i.evidence == "photo")
    note_id = next(i.id for i in run.items if i.evidence == "note")
    db.session.commit()  # and touch no model until the end: SQLite's one writer is the browser's now
    login(phone, live, "fo.night")
    phone.goto(f"{live}/checklists/runs/{run_id}")
    fits(phone)
    item = phone.locator(f"#item-{photo_id}")
    camera = item.locator("input[type=file][name=photo]")
    assert camera.get_attribute("accept") == "image/*" and camera.get_attribute("capture") == "environment"
    usable(camera)
    usable(item.locator("button[name=done]"))
    camera.set_input_files({"name": "IMG_0001.png", "mimeType": "image/png", "buffer": png()})
    item.locator("button[name=done]").click()
    shown = phone.locator(f"#item-{photo_id} .evidence-photo img")
    expect(shown).to_be_visible()
    phone.wait_for_function("sel => { const i = document.querySelector(sel); return i && i.complete; }",
                            arg=f"#item-{photo_id} .evidence-photo img")  # visible comes before loaded
    assert shown.evaluate("img => img.naturalWidth") == 64  # the photo itself, served back
    fits(phone)
    note = phone.locator(f"#item-{note_id}")
    usable(note.locator("input[name=note]"))
    note.locator("input[name=note]").fill("已核对，无超额挂账")
    note.locator("button[name=done]").click()
    expect(phone.locator(f"#item-{note_id}")).to_contain_text("已核对，无超额挂账")
    usable(phone.locator("button:has-text('完成并归档')"))
    fits(phone)
    phone.locator(f"#item-{photo_id}").scroll_into_view_if_needed()
    phone.screenshot(path=str(tmp_path / "phone-checklist.png"))
    db.session.expire_all()
    assert db.session.scalar(sa.select(ItemPhoto.size).where(ItemPhoto.item_id == photo_id)) == len(png())


def test_duty_now_on_a_phone(phone, live, tmp_path):
    login(phone, live, "fo.staff")
    phone.goto(f"{live}/duty")
    fits(phone)
    teams = phone.locator("#on-duty .duty-team")
    assert teams.count() >= 2
    for n in range(teams.count()):
        usable(teams.nth(n).locator("h3"))
    usable(phone.locator("a.brand"))
    phone.screenshot(path=str(tmp_path / "phone-duty.png"))


def test_handover_on_a_phone(phone, live, tmp_path):
    login(phone, live, "fo.staff")
    phone.goto(f"{live}/rosters/FO-DESK/handover?shift=E&day={date.today()}")
    fits(phone)
    usable(phone.locator("textarea[name=incidents]"))
    phone.fill("textarea[name=incidents]", "20:40 前台打印机卡纸，已处理。")
    usable(phone.locator("select[name=item_category]"))
    phone.select_option("select[name=item_category]", "vip")
    usable(phone.locator("input[name=item_text]"))
    phone.fill("input[name=item_text]", "2206 房客人投诉空调噪音，明早回访")
    save = phone.locator("#handover-form button:has-text('保存交接')")
    usable(save)
    save.click()
    expect(phone.locator("#open-items")).to_contain_text("2206 房客人投诉空调噪音")
    fits(phone)
    phone.screenshot(path=str(tmp_path / "phone-handover.png"), full_page=False)

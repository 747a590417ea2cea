"""Take the README's screenshots from the real app in Debian's headless Chromium.

    PYTHONPATH=. .venv/bin/python docs/screenshots.py

Uses a throw-away instance folder, so the developer's database is untouched.
"""
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


def precheck_run(app) -> int:
    import sqlalchemy as sa

    from app.checklists.models import ChecklistRun
    from app.extensions import db

    with app.app_context():
        return db.session.scalar(sa.select(ChecklistRun.id).where(
            ChecklistRun.dedupe_key.like("recurring:CL-FO-NA-PRECHECK:%")))


def photo_png(width: int = 240, height: int = 160) -> bytes:
    """A stand-in for a phone photo: a plain PNG with a darker band (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + (bytes((70, 80, 90)) if 60 <= y < 100 else bytes((180, 190, 200))) * width
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def phone_shots(browser, base: str, run_id: int) -> None:
    """The on-shift pages at 360 × 740: a checklist with photo evidence, duty now, a handover being written."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "fo.night")
    page.fill("input[name=password]", "demo-2026")
    page.click("button[type=submit]")
    page.goto(f"{base}/checklists/runs/{run_id}")
    item = page.locator("li.item", has=page.locator("input[type=file]"))
    item.locator("input[type=file]").set_input_files({"name": "safe.png", "mimeType": "image/png", "buffer": photo_png()})
    item.locator("button[name=done]").click()
    page.wait_for_selector(".evidence-photo img")
    page.locator(".evidence-photo").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 120)")
    page.screenshot(path=str(OUT / "phone-checklist.png"))
    page.goto(f"{base}/duty")
    page.screenshot(path=str(OUT / "phone-duty.png"))
    page.goto(f"{base}/rosters/FO-DESK/handover?shift=E")
    page.fill("textarea[name=incidents]", "20:40 前台打印机卡纸，已处理。")
    page.locator("input[name=item_text]").fill("2206 房客人反映空调噪音，明早回访")
    page.locator("textarea[name=incidents]").scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "phone-handover.png"))
    context.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SOP_INSTANCE_DIR": tmp, "FLASK_APP": "wsgi.py", "PYTHONPATH": str(ROOT),
               "SECRET_KEY": secrets.token_hex(32)}
        flask = str(Path(sys.executable).parent / "flask")
        subprocess.run([flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([flask, "demo", "load"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([flask, "checklists", "schedule"], env=env, cwd=ROOT, check=True, capture_output=True)
        os.environ.update(SOP_INSTANCE_DIR=tmp, SECRET_KEY=env["SECRET_KEY"])
        from app import create_app

        app = create_app()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "fo.manager")
            page.fill("input[name=password]", "demo-2026")
            page.click("button[type=submit]")
            page.fill("[data-search-box=main]", "熱線交接")
            page.wait_for_selector("#search-results a.result mark")
            page.screenshot(path=str(OUT / "search.png"))
            page.goto(f"{base}/sops/?tag=PMS")
            page.screenshot(path=str(OUT / "library.png"))
            page.goto(f"{base}/sops/CS-CP-001#处理流程泳道图")
            page.wait_for_selector(".mermaid svg")
            page.locator(".mermaid").first.scroll_into_view_if_needed()
            page.screenshot(path=str(OUT / "sop-flowchart.png"))
            page.goto(f"{base}/sops/FO-NA-001/diff?from=1&to=2")
            page.locator("#table-changes").scroll_into_view_if_needed()
            page.screenshot(path=str(OUT / "diff.png"))
            phone_shots(browser, base, precheck_run(app))
            browser.close()
        server.shutdown()
    print(f"wrote {', '.join(p.name for p in sorted(OUT.glob('*.png')))} to {OUT}")


if __name__ == "__main__":
    main()

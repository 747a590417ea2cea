"""Take the README's screenshots from the real app in Debian's headless Chromium.

    PYTHONPATH=. .venv/bin/python docs/screenshots.py

Uses a throw-away instance folder, so the developer's database is untouched.
"""
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SOP_INSTANCE_DIR": tmp, "FLASK_APP": "wsgi.py", "PYTHONPATH": str(ROOT),
               "SECRET_KEY": secrets.token_hex(32)}
        flask = str(Path(sys.executable).parent / "flask")
        subprocess.run([flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([flask, "demo", "load"], env=env, cwd=ROOT, check=True, capture_output=True)
        os.environ.update(SOP_INSTANCE_DIR=tmp, SECRET_KEY=env["SECRET_KEY"])
        from app import create_app

        server = make_server("127.0.0.1", 0, create_app(), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 860})
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
            browser.close()
        server.shutdown()
    print(f"wrote {', '.join(p.name for p in sorted(OUT.glob('*.png')))} to {OUT}")


if __name__ == "__main__":
    main()

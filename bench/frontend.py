"""Pages at a hotel's end of the line: Chromium on an emulated 10 Mbit/s link with 60 ms latency.

    PYTHONPATH=. .venv/bin/python bench/frontend.py [--runs 5] [--identity]

Serves a throw-away demo instance with gunicorn (2 workers, after `flask assets compress` as `make run` does),
logs in through the form, then for each SOP:
  first view:  browser cache cleared (Network.clearBrowserCache), Network.emulateNetworkConditions on, open the page;
  second view: open it again, cache warm.
Figures are the browser's own clock from navigation start (performance.now()): for CS-CP-001 when an <svg> appears
inside its .mermaid container, for FO-CI-001 the load event. --identity sends `Accept-Encoding: identity`, the
uncompressed baseline. Targets: first view ≤ 2.0 s, second ≤ 0.5 s.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from harness import ROOT, bench_env, free_port, load, run_flask, start_gunicorn, stop_gunicorn, wait_ready

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # as tests/test_browser.py
LINK = {"offline": False, "latency": 60, "downloadThroughput": 10_000_000 / 8, "uploadThroughput": 10_000_000 / 8}
# Set before any page script: the moment an <svg> lands in a .mermaid container, by the page's clock.
WATCH = """
new MutationObserver((_, obs) => {
  if (document.querySelector('.mermaid svg')) { window.__diagramAt = performance.now(); obs.disconnect(); }
}).observe(document, {subtree: true, childList: true});
"""
PAGES = [("CS-CP-001", "diagram"), ("FO-CI-001", "load")]


def view(page, url: str, until: str) -> tuple[float, int]:
    """Open url; (milliseconds to the diagram or the load event, bytes over the wire)."""
    page.goto(url, wait_until="load")
    if until == "diagram":
        page.wait_for_function("window.__diagramAt !== undefined", timeout=60_000)
        ms = page.evaluate("window.__diagramAt")
    else:
        ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    wire = page.evaluate("performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
                         ".reduce((n, e) => n + (e.transferSize || 0), 0)")
    return ms, wire


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--identity", action="store_true", help="ask for uncompressed files (the baseline)")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        env = bench_env(instance, ROOT / "content")
        for step in (["db", "upgrade"], ["demo", "load"], ["assets", "compress"]):
            run_flask(step, env)
        port = free_port()
        proc = start_gunicorn(port, env, Path(tmp) / "gunicorn.log")
        try:
            wait_ready(proc, port, Path(tmp) / "gunicorn.log")
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                headers = {"Accept-Encoding": "identity"} if opts.identity else {}
                context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800},
                                              extra_http_headers=headers)
                context.add_init_script(WATCH)
                page = context.new_page()
                page.goto(f"{base}/login")
                page.fill("input[name=username]", "cs.agent")
                page.fill("input[name=password]", "demo-2026")
                page.click("button[type=submit]")
                page.wait_for_selector("h1")
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", LINK)
                print(f"{'page':<11} {'until':<8} {'first view (cold)':>22} {'second view (warm)':>22}   "
                      f"median of {opts.runs}, ms (bytes over the wire)")
                for code, until in PAGES:
                    first, second = [], []
                    for _ in range(opts.runs):
                        cdp.send("Network.clearBrowserCache")
                        first.append(view(page, f"{base}/sops/{code}", until))
                        second.append(view(page, f"{base}/sops/{code}", until))
                    f_ms, s_ms = statistics.median(m for m, _ in first), statistics.median(m for m, _ in second)
                    f_kb, s_kb = first[-1][1] / 1024, second[-1][1] / 1024
                    print(f"{code:<11} {until:<8} {f_ms:>10.0f} ({f_kb:>7.0f} KB) {s_ms:>10.0f} ({s_kb:>7.0f} KB)"
                          f"   first {min(m for m, _ in first):.0f}–{max(m for m, _ in first):.0f},"
                          f" second {min(m for m, _ in second):.0f}–{max(m for m, _ in second):.0f}")
                browser.close()
        finally:
            stop_gunicorn(proc)
    print(f"load average {load()}; {'Accept-Encoding: identity' if opts.identity else 'compression as served'};"
          f" link 10 Mbit/s down and up, 60 ms latency (Chromium network emulation)")


if __name__ == "__main__":
    sys.exit(main())

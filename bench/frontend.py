"""Pages at a hotel's end of the line: Chromium on an emulated 10 Mbit/s link with 60 ms latency.

    PYTHONPATH=. .venv/bin/python bench/frontend.py [--runs 5] [--identity]

Serves a throw-away demo instance with gunicorn (2 workers, after `flask assets compress` as `make run` does),
logs in through the form, then for each SOP:
  first view:  browser cache cleared (Network.clearBrowserCache), Network.emulateNetworkConditions on, open the page;
  second view: open it again, cache warm; third view: once more (Chromium now also has V8's code cache).
Figures are the browser's own clock from navigation start (performance.now()): for CS-CP-001 when an <svg> appears
inside its .mermaid container, for FO-CI-001 the load event (the next view waits, untimed, for its diagram).
--identity sends `Accept-Encoding: identity`, the uncompressed baseline. Targets: first view ≤ 2.0 s, second ≤ 0.5 s.
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
  if (document.querySelector('.mermaid > svg .node')) { window.__diagramAt = performance.now(); obs.disconnect(); }
}).observe(document, {subtree: true, childList: true});
"""
PAGES = [("CS-CP-001", "diagram"), ("FO-CI-001", "load")]


def view(page, url: str, until: str) -> tuple[float, int, float, float]:
    """Open url; (ms to the diagram or the load event, bytes over the wire, ms to the page's last byte, ms to
    DOMContentLoaded's end: the deferred scripts, mermaid included, have run by then)."""
    page.goto(url, wait_until="load")
    if until == "diagram":
        page.wait_for_function("() => window.__diagramAt !== undefined", timeout=60_000)
        ms = page.evaluate("window.__diagramAt")
    else:
        ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    wire = page.evaluate("performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
                         ".reduce((n, e) => n + (e.transferSize || 0), 0)")
    nav = page.evaluate("(({responseEnd, domContentLoadedEventEnd}) => [responseEnd, domContentLoadedEventEnd])"
                        "(performance.getEntriesByType('navigation')[0])")
    # Not timed: let the page finish drawing its diagrams (FO-CI-001 has one too) before the next view, which would
    # otherwise cancel the modules still in flight after the load event and fetch them again as a "warm" view.
    page.wait_for_function("() => !document.querySelector('.mermaid') || window.__diagramAt !== undefined",
                           timeout=60_000)
    return ms, wire, nav[0], nav[1]


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
                print(f"median of {opts.runs}, ms from navigation start: the figure (diagram or load event), and in"
                      f" brackets the page's last byte / DOMContentLoaded end / KB over the wire")
                for code, until in PAGES:
                    views = {"first (cold)": [], "second (warm)": [], "third (hot)": []}
                    for _ in range(opts.runs):
                        cdp.send("Network.clearBrowserCache")  # also drops V8's code cache for the scripts
                        # and the drawn diagrams kept in localStorage (static/js/diagrams.js): a cold view is a
                        # browser that has never seen the SOP
                        cdp.send("Storage.clearDataForOrigin", {"origin": base, "storageTypes": "local_storage"})
                        for name in views:
                            views[name].append(view(page, f"{base}/sops/{code}", until))
                    for name, runs in views.items():
                        med = [statistics.median(r[k] for r in runs) for k in range(4)]
                        print(f"{code:<10} {until:<8} {name:<14} {med[0]:>6.0f}  ({med[2]:.0f} / {med[3]:.0f} /"
                              f" {med[1] / 1024:.0f} KB)  range {min(r[0] for r in runs):.0f}–{max(r[0] for r in runs):.0f}")
                browser.close()
        finally:
            stop_gunicorn(proc)
    print(f"load average {load()}; {'Accept-Encoding: identity' if opts.identity else 'compression as served'};"
          f" link 10 Mbit/s down and up, 60 ms latency (Chromium network emulation)")


if __name__ == "__main__":
    sys.exit(main())

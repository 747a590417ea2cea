"""Static files: versioned URLs, gzip when the client accepts it, a year of caching for a current version."""
import gzip
import os
import re
from pathlib import Path

import brotli
import pytest
from flask import current_app, render_template_string, url_for

from app import assets

GZ = {"Accept-Encoding": "gzip, deflate"}


@pytest.fixture
def static_app(app, tmp_path):
    """The app serving a static folder of our own, so a test may change a file."""
    folder = tmp_path / "static"
    (folder / "js").mkdir(parents=True)
    (folder / "js" / "big.js").write_text("console.log('portal');\n" * 400)
    (folder / "js" / "tiny.js").write_text("x=1\n")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 4000)
    app.static_folder = current_app.static_folder = str(folder)  # current_app: the twin that CLI commands use
    return app


def get(app, url, headers=None):
    """A static response, read and closed (send_file leaves a file open until then)."""
    r = app.test_client().get(url, headers=headers or {})
    r.get_data()
    r.close()
    return r


def versioned(app, filename):
    with app.test_request_context():
        return url_for("static", filename=filename)


def test_every_template_gets_versioned_static_urls(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/CS-CP-001").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any("mermaid.esm.min.mjs" in u for u in urls) and any("portal.css" in u for u in urls)
    # mermaid's chunks are named by their hash (and must keep the URL the modules import them by)
    assert all(re.search(r"\?v=[0-9a-f]{12}$", u) or assets.HASHED_NAME.match(u.removeprefix("/static/"))
               for u in urls), urls


def test_gzip_when_accepted_with_vary(static_app):
    r = get(static_app, versioned(static_app, "js/big.js"), GZ)
    assert r.status_code == 200 and r.content_encoding == "gzip"
    assert "Accept-Encoding" in r.headers["Vary"]
    assert r.mimetype == "text/javascript"
    assert gzip.decompress(r.data) == b"console.log('portal');\n" * 400
    assert int(r.headers["Content-Length"]) == len(r.data) < 9600 / 4
    assert list(Path(static_app.instance_path, "static").glob("*.gz"))  # kept for the next request


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0", "br;q=0"])
def test_identity_when_gzip_is_not_accepted(static_app, accept):
    headers = {"Accept-Encoding": accept} if accept else {}
    r = get(static_app, versioned(static_app, "js/big.js"), headers)
    assert r.status_code == 200 and r.content_encoding is None
    assert r.data == b"console.log('portal');\n" * 400
    assert "Accept-Encoding" in r.headers["Vary"]  # a shared cache must not hand this to a gzip client or back


def test_small_and_binary_files_are_sent_as_they_are(static_app):
    for name in ("js/tiny.js", "logo.png"):
        r = get(static_app, versioned(static_app, name), GZ)
        assert r.status_code == 200 and r.content_encoding is None, name
        assert "Accept-Encoding" not in r.headers.get("Vary", "")


def test_current_version_is_cached_for_a_year(static_app):
    r = get(static_app, versioned(static_app, "js/big.js"), GZ)
    assert r.cache_control.public and r.cache_control.max_age == 31536000 and r.cache_control.immutable
    assert not r.cache_control.no_store and not r.cache_control.no_cache and "Expires" not in r.headers
    assert "Content-Disposition" not in r.headers
    for stale in ("/static/js/big.js", "/static/js/big.js?v=000000000000"):
        r = get(static_app, stale, GZ)
        assert r.status_code == 200 and r.cache_control.no_cache and not r.cache_control.immutable, stale
        again = get(static_app, stale, {**GZ, "If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304, stale


def test_versioned_url_changes_when_the_file_changes(static_app):
    before = versioned(static_app, "js/big.js")
    path = os.path.join(static_app.static_folder, "js", "big.js")
    with open(path, "a") as f:
        f.write("console.log('changed');\n")
    os.utime(path, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    after = versioned(static_app, "js/big.js")
    assert before != after
    assert get(static_app, after).data.endswith(b"console.log('changed');\n")
    assert get(static_app, after).cache_control.immutable
    assert not get(static_app, before).cache_control.immutable  # the old version is no longer promised for a year
    assert gzip.decompress(get(static_app, after, GZ).data).endswith(b"changed');\n")  # not the old gzip copy


@pytest.mark.parametrize("url", ["/static/nope.js", "/static/js/", "/static/../wsgi.py", "/static/%2e%2e/wsgi.py",
                                 "/static/js/nope.js?v=abc", "/static/\x00.js"])
def test_missing_or_outside_files_are_404(static_app, url):
    assert get(static_app, url, GZ).status_code == 404


def test_missing_file_gets_a_url_without_version(static_app):
    with static_app.test_request_context():
        assert render_template_string("{{ url_for('static', filename='nope.css') }}") == "/static/nope.css"


def test_compress_command_precompresses(static_app):
    result = static_app.test_cli_runner().invoke(args=["assets", "compress"])
    assert result.exit_code == 0 and "compressed 1 static files" in result.output
    full = assets.digest(os.path.join(static_app.static_folder, "js", "big.js"))
    copy = os.path.join(static_app.instance_path, "static", f"{full}.gz")
    assert gzip.decompress(Path(copy).read_bytes()) == b"console.log('portal');\n" * 400


def test_brotli_when_accepted_and_precompressed(static_app):
    """Chromium asks for br: mermaid's flowchart modules are a fifth smaller than gzip (bench/frontend.py). The br
    copy is made by `flask assets compress` only (quality 11 takes seconds on mermaid), never during a request."""
    url = versioned(static_app, "js/big.js")
    assert get(static_app, url, {"Accept-Encoding": "gzip, deflate, br"}).content_encoding == "gzip"  # not made yet
    assert static_app.test_cli_runner().invoke(args=["assets", "compress"]).exit_code == 0
    r = get(static_app, url, {"Accept-Encoding": "gzip, deflate, br"})
    assert r.status_code == 200 and r.content_encoding == "br" and "Accept-Encoding" in r.headers["Vary"]
    assert brotli.decompress(r.data) == b"console.log('portal');\n" * 400
    assert r.headers["ETag"] != get(static_app, url, GZ).headers["ETag"]  # one ETag per encoding
    assert get(static_app, url, GZ).content_encoding == "gzip"  # a client without br still gets gzip


def test_mermaid_module_chunks_named_by_their_hash_are_kept_for_a_year(app):
    """mermaid's ES modules import their chunks by relative URL, without ?v=: a chunk named by its content hash is
    cached for a year anyway, served as JavaScript (a module with another type does not run) and gzipped."""
    chunk = max(Path(app.static_folder, "vendor/mermaid/chunks/mermaid.esm.min").glob("chunk-*.mjs"),
                key=lambda p: p.stat().st_size)
    r = get(app, f"/static/vendor/mermaid/chunks/mermaid.esm.min/{chunk.name}", GZ)
    assert r.status_code == 200 and r.mimetype == "text/javascript" and r.content_encoding == "gzip"
    assert r.cache_control.max_age == assets.YEAR and r.cache_control.immutable
    core = get(app, "/static/vendor/mermaid/mermaid.esm.min.mjs", GZ)  # not hash-named: only with its ?v=
    assert core.status_code == 200 and core.cache_control.no_cache and not core.cache_control.immutable
    assert get(app, versioned(app, "vendor/mermaid/mermaid.esm.min.mjs"), GZ).cache_control.immutable
    # Every chunk the core imports is there (a missing one would break every diagram).
    src = Path(app.static_folder, "vendor/mermaid/mermaid.esm.min.mjs").read_text()
    wanted = set(re.findall(r'"\./(chunks/mermaid\.esm\.min/[\w-]+\.mjs)"', src))
    assert wanted and all(Path(app.static_folder, "vendor/mermaid", w).is_file() for w in wanted)


def test_a_page_with_a_diagram_preloads_every_module_mermaid_imports(client, auth):
    """One round trip for mermaid's module graph instead of one per import level: each chunk the core imports
    (directly or not) is named in a modulepreload link, and each link answers."""
    auth.login("fo.staff")
    html = client.get("/sops/CS-CP-001").get_data(as_text=True)
    links = re.findall(r'<link rel="modulepreload" href="([^"]+)">', html)
    assert any("mermaid.esm.min.mjs?v=" in u for u in links)
    chunks = {u.rsplit("/", 1)[1] for u in links if "/chunks/" in u}
    core = Path(current_app.static_folder, "vendor/mermaid/mermaid.esm.min.mjs").read_text()
    assert set(re.findall(r'from"\./chunks/mermaid\.esm\.min/([\w-]+\.mjs)"', core)) <= chunks and len(chunks) > 5
    assert any(c.startswith("flowDiagram-") for c in chunks)  # imported dynamically, but what SOPs draw
    # The ELK layout (diagrams.js asks for it) with its own imports: fetched with the rest, not after mermaid has
    # started drawing (1.6 MB, the largest module on the page).
    elk = [c for c in chunks if c.startswith("elk-")]
    assert len(elk) == 1
    folder = Path(current_app.static_folder, "vendor/mermaid/chunks/mermaid.esm.min")
    assert set(re.findall(r'from"\./([\w-]+\.mjs)"', (folder / elk[0]).read_text())) <= chunks
    # Largest first, so it has a connection from the start instead of queueing behind 30 small chunks.
    sizes = [(folder / u.rsplit("/", 1)[1]).stat().st_size for u in links if "/chunks/" in u]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == (folder / elk[0]).stat().st_size
    for url in links:
        r = client.get(url)
        assert r.status_code == 200, url
        r.close()
    assert "modulepreload" not in client.get("/sops/FO-CO-001").get_data(as_text=True)  # no diagram, no mermaid

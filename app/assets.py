"""Static files for a slow link: versioned URLs that a browser keeps for a year, served brotli- or gzip-compressed
from copies made once and kept in instance/static/. Knows no feature.

`url_for('static', filename=…)` gets `?v=<content hash>` (a url_defaults hook, so every template has it); a
changed file gets a new URL, so the old one may be cached for ever. An unversioned or stale URL still answers,
revalidated by ETag each time.
"""
import gzip
import hashlib
import mimetypes
import os
import re
import tempfile
from pathlib import Path

import brotli
import click
from flask import Flask, abort, current_app, request, send_file
from flask.cli import AppGroup
from werkzeug.security import safe_join

COMPRESSIBLE = {".js", ".mjs", ".css", ".svg", ".json", ".txt", ".html", ".map"}
# A vendored ES-module chunk named by its content hash (mermaid's chunk-VLFMOWSA.mjs): its name is its version.
# Modules import each other by relative URL, without ?v=, so this is how they are cached for a year too.
HASHED_NAME = re.compile(r"^vendor/[\w./-]+-[A-Z0-9]{8}\.mjs$")
MIN_BYTES = 1024  # below one packet compression saves nothing
YEAR = 365 * 24 * 3600
_digests: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, sha256 hex)


def digest(path: str) -> str | None:
    """The file's sha256, recomputed only when its mtime or size changes; None when it is not a file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    cached = _digests.get(path)
    if cached and cached[:2] == (st.st_mtime_ns, st.st_size):
        return cached[2]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    _digests[path] = (st.st_mtime_ns, st.st_size, h.hexdigest())
    return _digests[path][2]


def version(filename: str) -> str | None:
    path = safe_join(current_app.static_folder, filename)
    full = digest(path) if path else None
    return full[:12] if full else None


def add_version(endpoint: str, values: dict) -> None:
    """url_defaults: /static/css/portal.css?v=3f2a…; a missing file gets no version (and a 404 when asked for)."""
    if endpoint == "static" and "v" not in values and values.get("filename"):
        v = version(values["filename"])
        if v:
            values["v"] = v


def compressed_copy(path: str, full: str, encoding: str, make: bool = True) -> str | None:
    """instance/static/<sha256>.<gz|br>, made on first use (gzip only: brotli at its best takes seconds)."""
    out = Path(current_app.instance_path) / "static" / f"{full}.{encoding}"
    if out.is_file():
        return str(out)
    if not make:
        return None
    data = Path(path).read_bytes()
    body = gzip.compress(data, 9, mtime=0) if encoding == "gz" else brotli.compress(data, quality=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    os.replace(tmp, out)  # atomic: a concurrent request reads the old state or the whole file
    return str(out)


def serve(filename: str):
    """The `static` endpoint: the best encoding the client accepts, and a year of caching for a current ?v=."""
    path = safe_join(current_app.static_folder, filename)
    full = digest(path) if path and os.path.isfile(path) else None
    if full is None:
        abort(404)
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    compressible = Path(filename).suffix.lower() in COMPRESSIBLE and os.path.getsize(path) >= MIN_BYTES
    body, encoding = path, None
    if compressible:
        accepts = request.accept_encodings
        # br: a fifth smaller than gzip for mermaid; its copy is made by `flask assets compress` only (it is slow)
        if accepts["br"] > 0 and (copy := compressed_copy(path, full, "br", make=False)):
            body, encoding = copy, "br"
        elif accepts["gzip"] > 0:
            body, encoding = compressed_copy(path, full, "gz"), "gzip"
    resp = send_file(body, mimetype=mimetype, conditional=True, etag=f"{full[:24]}-{encoding or 'identity'}",
                     last_modified=os.path.getmtime(path), max_age=0)
    if encoding:
        resp.content_encoding = encoding
    if compressible:
        resp.vary.add("Accept-Encoding")
    resp.headers.pop("Content-Disposition", None)  # send_file names the gzip copy; the URL names the file
    resp.cache_control.public = True
    if request.args.get("v") == full[:12] or HASHED_NAME.match(filename):
        resp.cache_control.no_cache = None
        resp.cache_control.max_age = YEAR
        resp.cache_control.immutable = True
    else:
        resp.cache_control.max_age = None
        resp.cache_control.no_cache = True  # stale or unversioned: revalidate (a 304 when unchanged)
    resp.headers.pop("Expires", None)  # Cache-Control says it all
    return resp


cli = AppGroup("assets", help="Static files.")


@cli.command("compress")
def compress_command():
    """Precompress static files into instance/static/ (gzip and brotli): `make run` does it."""
    made = 0
    for path in sorted(Path(current_app.static_folder).rglob("*")):
        if path.is_file() and path.suffix.lower() in COMPRESSIBLE and path.stat().st_size >= MIN_BYTES:
            full = digest(str(path))
            for encoding in ("gz", "br"):
                compressed_copy(str(path), full, encoding)
            made += 1
    click.echo(f"compressed {made} static files into {Path(current_app.instance_path) / 'static'}")


STATIC_IMPORT = re.compile(r'(?:\bfrom|\bimport)\s*"(\./[\w./-]+\.mjs)"')
_graphs: dict[str, tuple[str, list[str]]] = {}  # module -> (its sha256, the files it imports, directly or not)


def module_preloads(filename: str, *also: str) -> list[str]:
    """URLs of the modules `filename` imports statically, directly or not, for <link rel="modulepreload">: the
    browser then fetches them all at once instead of one import level per round trip. `also`: glob patterns
    (relative to the static folder) of modules it imports dynamically that the page will need, with their own
    imports (mermaid's flowchart chunk: what SOPs draw). Largest first."""
    root = safe_join(current_app.static_folder, filename)
    full = digest(root) if root else None
    if full is None:
        return []
    key = "|".join((filename, *also))
    if _graphs.get(key, ("",))[0] != full:
        folder = Path(current_app.static_folder)
        seen, todo = set(), [filename, *(str(p.relative_to(folder)) for g in also for p in sorted(folder.glob(g)))]
        while todo:
            name = todo.pop()
            path = safe_join(current_app.static_folder, name)
            if name in seen or not path or not os.path.isfile(path):
                continue
            seen.add(name)
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            todo += [os.path.normpath(os.path.join(os.path.dirname(name), m)) for m in STATIC_IMPORT.findall(text)]
        # Largest first: HTTP/1.1 gives a browser six connections per host, each request waits a round trip before
        # its first byte, and ELK's 1.6 MB chunk queued behind 30 small ones started half a second late.
        _graphs[key] = (full, sorted(seen - {filename}, key=lambda n: (-os.path.getsize(os.path.join(folder, n)), n)))
    return [f"{current_app.static_url_path}/{name}" for name in _graphs[key][1]]


def init_app(app: Flask) -> None:
    app.jinja_env.globals["module_preloads"] = module_preloads
    app.view_functions["static"] = serve
    app.url_defaults(add_version)
    app.cli.add_command(cli)

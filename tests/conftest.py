"""Fixtures: each test gets its own database, copied from a migrated template (SQLite file copy,
or CREATE DATABASE … TEMPLATE on PostgreSQL when SOP_TEST_DATABASE_URL is set).

Each test also gets two new Flask apps. What every app would compute again from the same code is kept for the
session (templates compiled to bytecode, URL builders), and on PostgreSQL the next copy of the template is made,
and the last test's copy dropped, in a thread while a test runs. Nothing a test sees is shared.
"""
import os
import re
import shutil
import sys
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psycopg
import pytest
from flask import has_app_context
from flask.testing import FlaskClient
import sqlalchemy as sa
from flask_migrate import upgrade
from jinja2 import BytecodeCache
from werkzeug.routing.rules import Rule
from werkzeug.security import generate_password_hash

import app.auth.models as auth_models
from app import create_app, database_url
from app.extensions import db
from app.search.analysis import init_jieba

# pytest imports this file as `conftest`; tests that import its helpers say `tests.conftest`: one module for both,
# so they share its state (the PostgreSQL copies below).
sys.modules.setdefault("tests.conftest", sys.modules[__name__])
ROOT = Path(__file__).resolve().parent.parent
# Passwords in tests: the same scrypt, with work factor N = 2**10 instead of Werkzeug's 2**15 (bench/login.py times
# the real one). Nearly every test logs in, and at full cost these hash checks were a tenth of the suite's time.
# Every hash the app makes goes through this name, the users' and the one checked for unknown accounts alike.
auth_models.generate_password_hash = partial(generate_password_hash, method="scrypt:1024:8:1")
PG_URL = os.environ.get("SOP_TEST_DATABASE_URL")
BASE = {"TESTING": True, "SECRET_KEY": "test", "RATELIMIT_ENABLED": False, "SERVER_NAME": None}


class CompiledTemplates(BytecodeCache):
    """Jinja's own bytecode cache, in memory for the session: each app would compile the same templates again
    (Jinja checks each template's source checksum, so an edited template is compiled anew)."""

    def __init__(self):
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()
_compile_builder = Rule._compile_builder
_builders: dict[tuple, object] = {}


def _cached_builder(self, append_unknown=True):
    """Werkzeug compiles two URL-building functions per route for every app (most of create_app's time). Such a
    function depends only on the route's parsed parts and reaches the rule through its first argument (each rule
    binds it to itself), so one is kept per route. A rule with defaults (folded in through its converters) is
    compiled as usual."""
    if self.defaults:
        return _compile_builder(self, append_unknown)
    key = (self.rule, tuple(self._trace), append_unknown)
    if key not in _builders:
        _builders[key] = _compile_builder(self, append_unknown)
    return _builders[key]


Rule._compile_builder = _cached_builder


class Templates(dict):
    """kind -> template database. `instances` holds each template's instance folder: its audit key and head anchor
    go with every copy; `jieba` is jieba's dictionary cache, linked into every copy's instance folder."""
    instances: dict[str, Path]
    jieba: Path


def pg_admin():
    url = sa.engine.make_url(database_url(PG_URL))
    conn = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True)
    return url, conn


def create_pg_database(template: str | None) -> str:
    url, conn = pg_admin()
    name = f"sop_t_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return url.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(uri: str) -> None:
    url, conn = pg_admin()
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(uri).database}" WITH (FORCE)')


# PostgreSQL: one thread makes the next copy of a template while a test runs, and drops finished copies.
# A test always gets a copy nobody has connected to; it only no longer waits for the server to make it.
pg_worker = ThreadPoolExecutor(1, thread_name_prefix="pg-copies")
pg_next: dict[str, Future] = {}


def new_database(template: str | None, tmp: Path) -> str:
    if PG_URL:
        if template is None:
            return create_pg_database(None)
        ready = pg_next.pop(template, None) or pg_worker.submit(create_pg_database, template)
        pg_next[template] = pg_worker.submit(create_pg_database, template)
        return ready.result()
    path = tmp / "portal.db"
    if template:
        shutil.copy(template, path)
    return f"sqlite:///{path}"


def drop_database(uri: str) -> None:
    if PG_URL:
        pg_worker.submit(drop_pg_database, uri)


def drop_spare_copies() -> None:
    """At the end of the session: the copies made for tests that did not come, then wait for every drop."""
    for spare in pg_next.values():
        pg_worker.submit(drop_pg_database, spare.result())
    pg_next.clear()
    pg_worker.shutdown(wait=True)


def build_template(tmp: Path, demo: bool) -> str:
    uri = new_database(None, tmp)
    os.environ["SOP_INSTANCE_DIR"] = str(tmp / "instance")
    app = create_app({**BASE, "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade()
        if demo:
            from app import demo as demo_mod
            demo_mod.load()
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return sa.engine.make_url(uri).database if PG_URL else str(tmp / "portal.db")


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    made, made.instances = Templates(), {}
    for kind in ("empty", "demo"):
        tmp = tmp_path_factory.mktemp(kind)
        made[kind] = build_template(tmp, demo=kind == "demo")
        made.instances[made[kind]] = tmp / "instance"
    made.jieba = tmp_path_factory.mktemp("jieba") / "jieba.cache"
    init_jieba(str(made.jieba.parent))  # jieba's dictionary, loaded once here and cached for processes tests start
    yield made
    if PG_URL:
        drop_spare_copies()
        _url, conn = pg_admin()
        with conn:
            for name in made.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Client(FlaskClient):
    """Ends the test body's own transaction before each request, as a separate process would:
    its writes are committed and its next read sees what the request did."""

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        return super().open(*args, **kwargs)


def audit_files(templates: Templates, kind: str, instance: Path) -> None:
    """A copy of a template database needs the template's audit key and anchor, as a restore would bring.
    The instance folder also gets jieba's cached dictionary: a process a test starts then loads it in a fraction
    of the time it takes to build (the test process itself loads it once per session)."""
    instance.mkdir(exist_ok=True)
    for name in ("audit.key", "audit-head"):
        if (templates.instances[templates[kind]] / name).exists():
            shutil.copy(templates.instances[templates[kind]] / name, instance / name)
    cache = instance / templates.jieba.name
    if templates.jieba.exists() and not cache.is_symlink():
        cache.symlink_to(templates.jieba)


def make_app(templates, tmp_path, kind="demo", **config):
    """The served app, plus a twin over the same database and config for the test body's own context.

    If the test held the served app's context, every request would reuse it (Flask only pushes a new
    app context for a different app), so g — Flask-Login's user, Flask-Babel's locale — would leak
    between requests. The twin keeps requests as independent as they are in production.
    """
    uri = new_database(templates[kind], tmp_path)
    audit_files(templates, kind, tmp_path / "instance")
    os.environ["SOP_INSTANCE_DIR"] = str(tmp_path / "instance")
    settings = {**BASE, "SQLALCHEMY_DATABASE_URI": uri, **config}
    twin = create_app(settings)
    app = create_app(settings)  # created last: the limiter is bound to the served app
    twin.config = app.config
    for a in (app, twin):
        a.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    app.test_client_class = Client
    return app, twin, uri


def served(templates, tmp_path, kind="demo", **config):
    app, twin, uri = make_app(templates, tmp_path, kind, **config)
    with twin.app_context():
        yield app
        db.session.remove()
    for a in (app, twin):
        with a.app_context():
            db.engine.dispose()
    drop_database(uri)


@pytest.fixture
def app(templates, tmp_path):
    """An app over the demo content and demo users (password demo-2026)."""
    yield from served(templates, tmp_path)


@pytest.fixture
def empty_app(templates, tmp_path):
    """An app over a migrated but empty database."""
    yield from served(templates, tmp_path, kind="empty")


@pytest.fixture
def limited_app(templates, tmp_path):
    """An app with login rate limits switched on."""
    yield from served(templates, tmp_path, RATELIMIT_ENABLED=True)


@pytest.fixture(scope="session")
def demo_index(templates, tmp_path_factory) -> Path:
    """The search index of the demo database, built once (search_index.rebuild() on a copy of the template):
    the index holds only what is in the database, so it is the same for every copy."""
    from app.search import index as search_index

    copy = served(templates, tmp_path_factory.mktemp("index"))
    next(copy)  # the app, in its context
    search_index.rebuild()
    build = search_index.index_dir().resolve()
    next(copy, None)
    return build


def with_demo_index(app, demo_index: Path):
    """Put the demo index into the app's instance folder as search_index.rebuild() leaves it: a build folder
    beside the instance's `search-index` symlink to it. Only for an app whose database is still the demo's."""
    link = Path(app.instance_path) / "search-index"
    shutil.copytree(demo_index, link.with_name(demo_index.name))
    link.symlink_to(demo_index.name)
    return app


@pytest.fixture
def library(app, tmp_path):
    """The demo app over a private copy of content/: publication writes files there, never into the repository."""
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    app.config.update(SOP_DIR=str(root / "sops"), CONTENT_DIR=str(root))
    return root / "sops"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class Auth:
    """Log in through the real form (with its CSRF token), and fetch tokens for later POSTs."""

    def __init__(self, client):
        self.client = client

    def token(self, url: str = "/login") -> str:
        html = self.client.get(url, follow_redirects=True).get_data(as_text=True)
        m = TOKEN.search(html)
        assert m, f"no CSRF token on {url}"
        return m.group(1) or m.group(2)

    def login(self, username: str = "admin", password: str = "demo-2026"):
        return self.client.post("/login", data={"username": username, "password": password,
                                                "csrf_token": self.token("/login")})

    def post(self, url: str, data: dict | None = None, token_from: str = "/", **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(token_from))
        return self.client.post(url, data=data, **kw)

    def logout(self):
        return self.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)


HX = {"HX-Request": "true"}
HX_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
HX_BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
# A route serving page and fragment is tested as: plain, htmx swap, history restore, boosted.
THREE_WAYS = pytest.mark.parametrize("headers,fragment", [({}, False), (HX, True), (HX_RESTORE, False),
                                                          (HX_BOOSTED, False)], ids=["plain", "htmx", "restore", "boosted"])


def page_or_fragment(client, url: str, headers: dict, fragment: bool, root: str) -> str:
    """GET url; check it is the fragment (starting with root) or a full page, as asked; return the HTML."""
    r = client.get(url, headers=headers)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    assert html.lstrip().startswith(root) is fragment and ("<html" in html) is not fragment
    return html

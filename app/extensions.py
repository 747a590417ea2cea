"""Flask extensions, created here and bound to the app in create_app()."""
import fcntl
import functools
import hashlib
from contextlib import contextmanager
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app, g, has_request_context, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
limiter = Limiter(key_func=get_remote_address)
babel = Babel()

LOCALES = ("zh", "en")


def select_locale() -> str:
    """The user's saved language, else the language cookie, else Chinese (also outside requests: CLI)."""
    from flask import has_request_context

    if not has_request_context():
        return "zh"
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    lang = request.cookies.get("lang")
    return lang if lang in LOCALES else "zh"


def configure_sqlite(engine) -> None:
    """WAL, a busy timeout and foreign keys; writes begin with BEGIN IMMEDIATE.

    pysqlite's own transaction handling is turned off so that we emit BEGIN ourselves:
    a write transaction that starts deferred and later upgrades is what produces
    "database is locked" under concurrency, so anything that is not a GET starts immediate.
    GET requests run their statements in autocommit mode (each one its own snapshot).
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if has_request_context() and (request.method in ("GET", "HEAD") or g.get("read_only")):
            return  # reads run in autocommit: no BEGIN/ROLLBACK round trips, never a write lock
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def read_only():
    """Run a request's reads without taking SQLite's write lock: loading the user, checking a password.

    Inside, statements run in autocommit (as in a GET). On leaving, the session's read transaction ends without
    expiring what was loaded, so the request's first statement after it begins the write transaction
    (BEGIN IMMEDIATE) as usual, and that transaction holds the lock only for the writes. Nothing may be written
    inside. Entered after the write transaction has begun, it changes nothing (the lock is already held).
    GETs already read in autocommit, and PostgreSQL's reads take no lock that blocks a writer: it does nothing
    there.
    """
    session = db.session()
    if (db.engine.dialect.name != "sqlite" or not has_request_context() or request.method in ("GET", "HEAD")
            or g.get("read_only") or session.in_transaction()):
        yield
        return
    g.read_only = True
    try:
        yield
    finally:
        g.read_only = False
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("read_only(): the session has unflushed changes")
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()  # nothing to commit: it only returns the autocommit connection to the pool
        finally:
            session.expire_on_commit = expire


def serialize(name: str) -> None:
    """Let one transaction at a time past this point (until it commits).

    PostgreSQL: a transaction-level advisory lock. SQLite needs nothing: writers begin with
    BEGIN IMMEDIATE, which already lets one writer in at a time.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def lock_key(name: str) -> int:
    """A 64-bit PostgreSQL advisory lock key for a name (a hash: names may share a prefix, e.g. checklists-…)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def only_here(name: str):
    """Yield True when no other process, on any node, is running the job `name` (then it runs here), else False.

    PostgreSQL: pg_try_advisory_lock on a connection of its own, held until the job ends, and released by the
    server if the process dies. SQLite (one machine): an flock on instance/<name>.lock."""
    if db.engine.dialect.name == "postgresql":
        key = lock_key(f"job:{name}")  # not serialize()'s key for the same name: a job may serialize inside
        with db.engine.connect() as conn:
            got = conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
        return
    path = Path(current_app.instance_path) / f"{name}.lock"
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the file releases the lock


def run_once(name: str):
    """Decorate a scheduled CLI command (cron on every node): a second copy started while one runs anywhere says
    so and exits 0, doing nothing."""
    def wrap(command):
        @functools.wraps(command)
        def guarded(*args, **kwargs):
            with only_here(name) as mine:
                if not mine:
                    click.echo(f"{name}: already running elsewhere; nothing done here")
                    return None
                return command(*args, **kwargs)
        return guarded
    return wrap

"""SOP Portal application factory. It only assembles the app: no data loading, no index building."""
import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import assets, web
from app.access import check_access
from app.config import load, secret_key_problem
from app.extensions import babel, configure_sqlite, csrf, db, htmx, limiter, login_manager, migrate, select_locale

ROOT = Path(__file__).resolve().parent.parent


def database_url(url: str) -> str:
    """Accept plain postgres:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def instance_path() -> str:
    """Everything the app writes lives here: SOP_INSTANCE_DIR, else <repo>/instance."""
    return os.environ.get("SOP_INSTANCE_DIR") or str(ROOT / "instance")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=instance_path(),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.url_map.converters["int"] = web.IdConverter  # before any route is added: every <int:…> is bounded
    load(app.config, app.instance_path)
    if test_config:
        app.config.from_mapping(test_config)
    problem = secret_key_problem(app.config)
    if problem and not (app.testing or app.debug):
        raise RuntimeError(problem)
    if app.config["PROXY_HOPS"]:
        # Behind N proxies: the client's address and scheme come from the last N X-Forwarded-For/-Proto entries.
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["SOP_DIR"] = str(app.config["SOP_DIR"] or ROOT / "content" / "sops")
    app.config["CONTENT_DIR"] = str(app.config["CONTENT_DIR"] or Path(app.config["SOP_DIR"]).parent)
    url = app.config["SQLALCHEMY_DATABASE_URI"] or f"sqlite:///{Path(app.instance_path) / 'portal.db'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(url)
    if not url.startswith("sqlite"):
        # A server may drop idle connections; a local file cannot. JIT compilation is off: the reports' queries
        # cost enough to trigger it, and compiling took 600 ms of a 780 ms department report (bench/acks.py).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"options": "-c jit=off"},
                                                   **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "translations")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    with app.app_context():
        configure_sqlite(db.engine)

    from app import todo  # first: its home panel (what waits for me) heads the home page
    from app import acks, audit, auth, authoring, backup, checklists, demo, notify, rosters, search, sops

    app.register_blueprint(auth.bp)
    app.register_blueprint(sops.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(acks.bp)
    app.register_blueprint(authoring.bp)
    app.register_blueprint(checklists.bp)
    app.register_blueprint(rosters.bp)
    app.register_blueprint(todo.bp)
    app.register_blueprint(notify.bp)
    app.cli.add_command(audit.cli)
    for command in backup.commands:
        app.cli.add_command(command)
    app.cli.add_command(demo.cli)
    app.before_request(check_access)
    web.init_app(app)
    assets.init_app(app)
    return app

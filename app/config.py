"""Default settings. Overridden by instance/config.py, then the environment, then test config."""
import json
import os


class Defaults:
    SECRET_KEY = "dev-only-change-me"
    SQLALCHEMY_DATABASE_URI = None  # set in create_app: sqlite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {}  # PostgreSQL adds pool_pre_ping in create_app; SQLite needs no ping
    SOP_DIR = None  # default: <repo>/content/sops
    CONTENT_DIR = None  # default: <repo>/content (org.yaml lives here)
    SOP_MAX_BYTES = 1024 * 1024  # a bigger SOP file is refused at sync
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # True in production (see gunicorn.conf.py / README)
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    WTF_CSRF_TIME_LIMIT = 12 * 3600  # as long as a session; an expired token gets a clear message
    RATELIMIT_STORAGE_URI = "memory://"  # redis://127.0.0.1:6379 with several workers
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_LIMIT_IP = "20 per minute"
    LOGIN_LIMIT_ACCOUNT = "5 per minute"
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    PORTAL_NAME = "SOP Portal"
    PORTAL_URL = "http://127.0.0.1:5000"  # links in emails
    # Signing asks for the password every time ("every"), or once per login session ("session").
    ACK_REAUTH = "every"
    ACK_SIGN_LIMIT = "5 per minute"  # wrong passwords when signing, per user
    # A search that finds the index missing or broken while another process rebuilds it waits this many seconds
    # for that rebuild, then answers 503 "搜索暂时不可用" (keep it under gunicorn's worker timeout).
    SEARCH_REBUILD_WAIT = 10
    ROSTER_TIMEZONE = "Asia/Shanghai"  # shift times are wall-clock times here
    SWAP_NOTICE_DAYS = 2  # a swap closer to the shift than this needs the supervisor's approval
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_FROM = "SOP Portal <sop-portal@localhost>"


def parse(value: str):
    """FLASK_* values are JSON when they parse as JSON (true, 3600, "x"), else plain text — as in Flask."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def from_environment() -> dict:
    """Settings taken from the environment: DATABASE_URL, SECRET_KEY, SOP_DIR and FLASK_* ."""
    env = {k[len("FLASK_"):]: parse(v) for k, v in os.environ.items() if k.startswith("FLASK_")}
    for name in ("SECRET_KEY", "SOP_DIR", "CONTENT_DIR", "RATELIMIT_STORAGE_URI"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    if os.environ.get("DATABASE_URL"):
        env["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    env.pop("APP", None)
    env.pop("DEBUG", None)
    return env

"""Default settings. Overridden by instance/secret_key, instance/config.py, the environment, then test config."""
import json
import os
from pathlib import Path

from flask import Config

DEV_SECRET_KEY = "dev-only-change-me"


class Defaults:
    SECRET_KEY = DEV_SECRET_KEY  # refused outside debug and tests: see secret_key_problem()
    AUDIT_KEY = None  # keys the audit chain; default: instance/audit.key, created on first use (docs/records.md)
    SQLALCHEMY_DATABASE_URI = None  # set in create_app: sqlite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {}  # PostgreSQL adds pool_pre_ping in create_app; SQLite needs no ping
    SOP_DIR = None  # default: <repo>/content/sops
    CONTENT_DIR = None  # default: <repo>/content (org.yaml lives here)
    SOP_MAX_BYTES = 1024 * 1024  # a bigger SOP file is refused at sync
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # True in production (see gunicorn.conf.py / docs/deployment.md)
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    WTF_CSRF_TIME_LIMIT = 12 * 3600  # as long as a session; an expired token gets a clear message
    # memory:// counts in each process: fine for `flask run`; gunicorn.conf.py refuses it with several workers.
    RATELIMIT_STORAGE_URI = "memory://"  # redis://127.0.0.1:6379 with several workers or nodes
    RATELIMIT_HEADERS_ENABLED = True
    # Redis unreachable: each worker counts on its own until it answers again (logins keep working, not a 500).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_LIMIT_IP = "20 per minute"  # login attempts per address
    LOGIN_LIMIT_ACCOUNT = "5 per minute"  # login attempts per (account, address): never locks out the owner elsewhere
    PROXY_HOPS = 0  # reverse proxies in front whose X-Forwarded-For/-Proto are trusted (ProxyFix); 0 = none
    CHECKLIST_PHOTO_MAX_BYTES = 10 * 1024 * 1024  # a checklist item's photo evidence (a phone's JPEG is 2-6 MB)
    NOTE_MAX_CHARS = 4000  # free text: a handover note, an open item, an addendum, a checklist note
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    PORTAL_NAME = "SOP Portal"
    PORTAL_URL = "http://127.0.0.1:5000"  # links in emails
    # Signing asks for the password every time ("every"), or once per login session ("session").
    ACK_REAUTH = "every"
    ACK_SIGN_LIMIT = "5 per minute"  # wrong passwords when signing, per user
    # Document control (app/authoring): a one-person department may approve its own drafts (recorded as such).
    AUTHORING_ALLOW_SELF_APPROVAL = False
    AUTHORING_SIGN_LIMIT = "5 per minute"  # wrong passwords when reviewing/approving/confirming, per user
    CHASE_LIMIT = "9 per minute"  # 催签 clicks per manager: the tenth in a minute is refused
    TODO_BADGE = True  # the to-do count in every page's header (off: bench/todo.py's page without it)
    AUTHORING_MAX_ATTACHMENT = 10 * 1024 * 1024  # bytes per uploaded attachment
    AUTHORING_LEASE_MINUTES = 10  # an open editor holds its draft this long, renewed by autosave
    # A search that finds the index missing or broken while another process rebuilds it waits this many seconds
    # for that rebuild, then answers 503 "搜索暂时不可用" (keep it under gunicorn's worker timeout).
    SEARCH_REBUILD_WAIT = 10
    ROSTER_TIMEZONE = "Asia/Shanghai"  # shift times are wall-clock times here
    SWAP_NOTICE_DAYS = 2  # a swap closer to the shift than this needs the supervisor's approval
    # Group-robot notifications (app/notify, docs/notifications.md): sent after commit in a background thread and by
    # `flask notify send` from cron; each attempt waits this many seconds at most, a failed message is retried
    # NOTIFY_RETRY_SECONDS later (×5 each time) until NOTIFY_MAX_ATTEMPTS, then marked failed. Links use PORTAL_URL.
    NOTIFY_TIMEOUT = 3
    NOTIFY_MAX_ATTEMPTS = 3
    NOTIFY_RETRY_SECONDS = 60
    NOTIFY_IN_BACKGROUND = True  # False: only `flask notify send` posts (e.g. a node without outbound access)
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_FROM = "SOP Portal <sop-portal@localhost>"
    # Directory login (docs/ldap.md): off while LDAP_URL is empty. Accounts without a directory DN (a break-glass
    # admin) keep logging in with their local password.
    LDAP_URL = ""  # ldap://dc1.example.com or ldaps://dc1.example.com:636
    LDAP_START_TLS = False  # ldap:// then StartTLS; the certificate and host name are checked either way
    LDAP_CA_FILE = ""  # PEM file of the CA that signed the directory's certificate; default: the system's CAs
    LDAP_BIND_DN = ""  # the service account that searches; empty: anonymous
    LDAP_BIND_PASSWORD = ""
    LDAP_BASE = ""  # where people are searched, e.g. ou=people,dc=example,dc=com
    LDAP_USER_FILTER = "(uid={username})"  # AD: (sAMAccountName={username}); the username is escaped
    LDAP_ATTR_USERNAME = "uid"  # AD: sAMAccountName
    LDAP_ATTR_NAME = "displayName"  # falls back to cn
    LDAP_ATTR_EMAIL = "mail"
    LDAP_ATTR_DEPARTMENT = "departmentNumber"  # AD: department; a department name or code from content/org.yaml
    LDAP_ATTR_POSITIONS = "title"  # positions (岗位) from content/org.yaml; others are ignored
    LDAP_GROUP_ATTR = "memberOf"  # the person's attribute listing their groups' DNs (AD; OpenLDAP's memberof overlay)
    LDAP_GROUP_FILTER = ""  # or search groups instead, e.g. (&(objectClass=groupOfNames)(member={dn}))
    LDAP_GROUP_BASE = ""  # where that search looks; default LDAP_BASE
    LDAP_GROUP_ROLES = {}  # group DN -> admin / manager / staff; the highest wins; no match: staff
    LDAP_ALLOWED_GROUPS = []  # when set, only members of one of these groups may log in
    LDAP_DISABLED_GROUPS = []  # members of these groups may not log in
    LDAP_TIMEOUT = 3  # seconds for connecting and for each answer; a login then fails with a clear message


def parse(value: str):
    """FLASK_* values are JSON when they parse as JSON (true, 3600, "x"), else plain text — as in Flask."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def from_environment() -> dict:
    """Settings taken from the environment: DATABASE_URL, SECRET_KEY, SOP_DIR, LDAP_* and FLASK_* ."""
    env = {k[len("FLASK_"):]: parse(v) for k, v in os.environ.items() if k.startswith("FLASK_")}
    for name in ("SECRET_KEY", "SOP_DIR", "CONTENT_DIR", "RATELIMIT_STORAGE_URI", "AUDIT_KEY", "PROXY_HOPS"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    if os.environ.get("DATABASE_URL"):
        env["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    for name, default in vars(Defaults).items():  # LDAP_URL=… as well as FLASK_LDAP_URL=…
        if name.startswith("LDAP_") and name in os.environ:
            env[name] = os.environ[name] if isinstance(default, str) else parse(os.environ[name])
    if "PROXY_HOPS" in env:
        env["PROXY_HOPS"] = int(env["PROXY_HOPS"])
    env.pop("APP", None)
    env.pop("DEBUG", None)
    return env


def load(config: Config, instance_path: str | Path) -> None:
    """Fill config in the documented order. Shared by create_app() and gunicorn.conf.py's start-up check.

    instance/secret_key is the key `make run` writes on first run; instance/config.py and SECRET_KEY in the
    environment override it.
    """
    config.from_object(Defaults)
    key_file = Path(instance_path) / "secret_key"
    if key_file.is_file():
        config["SECRET_KEY"] = key_file.read_text(encoding="utf-8").strip()
    config.from_pyfile(str(Path(instance_path) / "config.py"), silent=True)
    config.from_mapping(from_environment())


MIN_SECRET_KEY = 16


def secret_key_problem(config: Config) -> str | None:
    """Why this SECRET_KEY must not serve real users, or None. Anyone who knows the key can forge a session."""
    key = config.get("SECRET_KEY") or ""
    if key == DEV_SECRET_KEY:
        return ("SECRET_KEY is the built-in development key, which is public: anyone could forge a login cookie. "
                "Set SECRET_KEY in the environment or in instance/config.py (or run `make run`, which writes a random "
                "key to instance/secret_key).")
    if len(key) < MIN_SECRET_KEY:
        return f"SECRET_KEY is shorter than {MIN_SECRET_KEY} characters. Use a long random value, e.g. " \
               "`python3 -c 'import secrets; print(secrets.token_hex(32))'`."
    return None


def rate_limit_problem(config: Config, workers: int) -> str | None:
    """Why the login limits would not hold across `workers` processes, or None."""
    if not config.get("RATELIMIT_ENABLED", True) or workers <= 1:
        return None
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory://"):
        return (f"RATELIMIT_STORAGE_URI is memory://, which counts separately in each of the {workers} workers, so the "
                f"login limits would allow {workers} times as many guesses. Set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379 "
                "(shared by every worker and node), or run one worker (-w 1).")
    return None

"""Cross-cutting HTTP behaviour: security headers, caching, safe redirects, error pages, expired forms, language,
and the numbers and dates a URL or form may carry."""
from datetime import date, datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (Flask, current_app, flash, g, has_request_context, make_response, render_template, request,
                   session, url_for)
from flask_babel import format_datetime, get_locale, to_user_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from app.extensions import db, login_manager
from app.htmx import is_htmx, notify
from app.pagecache import page_values

CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; img-src 'self' data:; "
    # mermaid draws with inline styles; scripts stay strict.
    "style-src 'self' 'unsafe-inline'"
)

ERRORS = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("Your role does not give access to this page.")),
    404: (_l("Not found"), _l("There is no such page. It may have been moved or retired.")),
    413: (_l("Too large"), _l("The upload is larger than the portal accepts.")),
    429: (_l("Too many attempts"), _l("Too many attempts in a short time. Wait a minute and try again.")),
    500: (_l("Something went wrong"), _l("The error has been logged. Please try again later.")),
    503: (_l("Temporarily unavailable"),
          _l("The database is not answering. What you just did was not saved; try again in a minute.")),
}


def local_path(url: str | None, fallback: str) -> str:
    """url when it is a path on this site, else fallback: a `next=` never sends anyone to another host.

    Browsers read "//host", "/\\host" and "/<tab>/host" as another host (they drop tabs and line breaks), so a
    backslash or a control character anywhere refuses the value too.
    """
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return fallback
    parts = urlsplit(url)
    return fallback if parts.scheme or parts.netloc else url


def path_for(endpoint: str, **values) -> str:
    """url_for's path, also outside a request (a CLI command, a service called from a test): for event links."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return url_for(endpoint, **values)


def private_cache(resp):
    """Nothing shown to a logged-in user is kept by the browser or a proxy (back button after logout, a shared
    PC's disk cache): pages, fragments and exports are no-store. Static files keep their caching (app/assets.py)."""
    # The session's login, not current_user: after the view's commit the user is expired, and reloading it would
    # need the database once more (a connection lost after the commit would turn a saved signature into a 500).
    if request.endpoint != "static" and session.get("_user_id"):
        resp.cache_control.no_store = True
        resp.cache_control.private = True
        resp.cache_control.public = False
        resp.cache_control.max_age = None
    return resp
# Every id is a PostgreSQL integer; SQLite raises OverflowError past 2**63 - 1. A bigger number names nothing.
MAX_ID = 2**31 - 1
# Days a page may show or a form may set: calendar arithmetic around 9999-12-31 or 0001-01-01 overflows.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


class IdConverter(IntegerConverter):
    """The app's `<int:…>`: up to MAX_ID, so /checklists/runs/99999999999999999999 is a 404, not a 500."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def small_int(value: str) -> int:
    """`request.args.get(name, type=small_int)`: a number held to ±MAX_ID, which the database can compare. A
    larger one names nothing, as MAX_ID does (so ?rev=99999999999999999999 is a 404); text is the default."""
    return max(-MAX_ID, min(int(value), MAX_ID))


def day_in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def parse_day(value: str | None, default: date) -> date:
    """A YYYY-MM-DD from a query or a form: the default when empty or not a date, and 400 when the date is
    outside FIRST_DAY..LAST_DAY (a week or month around it would overflow Python's calendar)."""
    try:
        day = date.fromisoformat(value) if value else default
    except ValueError:
        return default
    if not day_in_range(day):
        refusal = BadRequest()
        refusal.description_override = _("The portal handles dates from %(first)s to %(last)s.",
                                         first=FIRST_DAY.year, last=LAST_DAY.year)
        raise refusal
    return day


def parse_month(value: str | None, default: date) -> date:
    """A YYYY-MM from a query or a form, as its first day (see parse_day)."""
    return parse_day(f"{value}-01" if value else None, default)


def security_headers(resp):
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "ics": "text/calendar"}


def download(body: bytes, filename: str):
    """A file for the browser to save (never to show inline), typed by its extension."""
    resp = make_response(body)
    resp.mimetype = MIMETYPES[filename.rsplit(".", 1)[1]]
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


def error_page(code: int, detail: str | None = None):
    title, text = ERRORS.get(code, ERRORS[500])
    ctx = {"code": code, "title": str(title), "text": detail or str(text)}
    if is_htmx():
        return notify(render_template("errors/_message.html", **ctx), code)
    return make_response(render_template("errors/error.html", **ctx), code)


def csrf_error(e: CSRFError):
    """A stale page (expired token) gets told to refresh; on htmx the page refreshes itself."""
    view = current_app.view_functions.get(request.endpoint)
    message = str(getattr(view, "stale_message", None) or
                  _("This page has expired (its security token is no longer valid). Refresh the page and try again."))
    if is_htmx():
        flash(message, "error")
        resp = make_response("", 400)
        resp.headers["HX-Refresh"] = "true"
        return resp
    return error_page(400, message)


ROLE_LABELS = {"staff": _l("Staff"), "manager": _l("Manager"), "admin": _l("Administrator")}


def template_globals() -> dict:
    return {"locale": str(get_locale() or "zh"), "role_label": lambda role: ROLE_LABELS.get(role, role),
            **page_values()}


def page_number() -> int:
    """?page=N of a paged list (1 when missing or not a positive number; a page past the end shows an empty list
    with a way back)."""
    page = request.args.get("page", type=int) or 1
    return max(1, min(page, 10_000))


def when(value: datetime | None, pattern: str = "yyyy-MM-dd HH:mm") -> str:
    """`{{ t|when }}`: a stored instant on the reader's wall clock (BABEL_DEFAULT_TIMEZONE), never in UTC.
    SQLite hands back naive datetimes, which Flask-Babel reads as UTC, as they were stored."""
    return "" if value is None else format_datetime(value, pattern)


def iso_local(value: datetime | None) -> str:
    """An instant for a file (CSV, JSON): ISO 8601 on the local clock with its offset, 2026-11-30T15:39:00+08:00."""
    return "" if value is None else to_user_timezone(value).replace(microsecond=0).isoformat()


def init_app(app: Flask) -> None:
    app.context_processor(template_globals)
    app.add_template_filter(when)
    app.after_request(security_headers)
    app.after_request(private_cache)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(sa.exc.OperationalError, database_unavailable)
    app.register_error_handler(sa.exc.InterfaceError, database_unavailable)
    for code in ERRORS:
        app.register_error_handler(code, lambda e, code=code: handled(e, code))


def database_unavailable(e):
    """PostgreSQL is down or dropped the connection: 503 with a message, never a traceback page. The transaction was
    rolled back (so nothing half-done is kept); the next request reconnects (pool_pre_ping) once the server is back.
    The page is rendered for an anonymous visitor: asking the database who is logged in would fail again."""
    current_app.logger.error("database unavailable: %s", e)
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        pass
    g._login_user = login_manager.anonymous_user()
    return error_page(503)


def handled(e, code: int):
    """A refusal that brings its own response (a rate limit's on_breach message) keeps it; the rest get the page."""
    if getattr(e, "response", None) is not None:
        return e.response
    return error_page(code, getattr(e, "description_override", None))

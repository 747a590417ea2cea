"""Security baseline: every route declares who may use it; headers; GET never changes state."""
import re

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.audit import AuditEvent
from app.auth.models import User
from app.extensions import db
from tests.conftest import HX, Auth

# One concrete URL for every route, and the lowest role that may use it.
ROUTES = {
    "sops.healthz": ("/healthz", "public"),
    "auth.login": ("/login", "public"),
    "auth.language": ("/language", "public"),
    "sops.home": ("/", "staff"),
    "sops.index": ("/sops/", "staff"),
    "sops.show": ("/sops/FO-NA-001", "staff"),
    "sops.diff": ("/sops/FO-NA-001/diff", "staff"),
    "sops.attachment": ("/sops/FO-NA-001/files/夜审交接表.xlsx", "staff"),
    "auth.logout": ("/logout", "staff"),
    "auth.password": ("/account/password", "staff"),
    "auth.users": ("/admin/users", "admin"),
    "auth.edit_user": ("/admin/users/1/edit", "admin"),
    "auth.new_user": ("/admin/users/new", "admin"),
    "search.search": ("/search?q=夜审", "staff"),
    "search.api": ("/api/search?q=夜审", "staff"),
    "search.report": ("/search/report", "manager"),
    "acks.sign_page": ("/sops/FO-NA-001/ack", "staff"),
    "acks.sign_post": ("/sops/FO-NA-001/ack", "staff"),
    "acks.mine": ("/reading", "staff"),
    "acks.badge": ("/reading/badge", "staff"),
    "acks.overview": ("/acks/", "manager"),
    "acks.department": ("/acks/departments/FO", "manager"),
    "acks.department_matrix": ("/acks/departments/FO/matrix", "manager"),
    "acks.sop_report": ("/acks/sops/FO-NA-001", "manager"),
    "acks.export": ("/acks/sops/FO-NA-001/export", "manager"),
    "acks.sheet": ("/acks/sops/FO-NA-001/sheet", "manager"),
    "acks.person": ("/acks/people/fo.night", "manager"),
    "acks.audience": ("/sops/FO-NA-001/audience", "admin"),
    "acks.add_audience": ("/sops/FO-NA-001/audience", "admin"),
    "acks.remove_audience": ("/sops/FO-NA-001/audience/999999/delete", "admin"),
    "checklists.mine": ("/checklists/", "staff"),
    "checklists.run": ("/checklists/runs/1", "staff"),
    "checklists.item": ("/checklists/runs/1/items/1", "staff"),
    "checklists.tick_item": ("/checklists/runs/1/items/1", "staff"),
    "checklists.reassign_item": ("/checklists/runs/1/items/1/reassign", "manager"),
    "checklists.finish_run": ("/checklists/runs/1/finish", "staff"),
    "checklists.record": ("/checklists/runs/1/record", "staff"),
    "checklists.onboarding": ("/onboarding", "staff"),
    "checklists.team": ("/checklists/team", "manager"),
    "checklists.history": ("/checklists/templates/CL-FO-NA-PRECHECK", "manager"),
    "checklists.start_sop_run": ("/sops/FO-NA-001/run", "staff"),
    "rosters.index": ("/rosters/", "staff"),
    "rosters.month": ("/rosters/FO-DESK/month", "staff"),
    "rosters.week": ("/rosters/FO-DESK/week", "staff"),
    "rosters.cell_edit": ("/rosters/FO-DESK/cell?user=6&day=2026-12-01", "staff"),
    "rosters.cell_set": ("/rosters/FO-DESK/cell", "staff"),
    "rosters.generate_period": ("/rosters/FO-DESK/generate", "staff"),
    "rosters.duty": ("/duty", "staff"),
    "rosters.swaps": ("/rosters/swaps", "staff"),
    "rosters.swap_request": ("/rosters/swaps", "staff"),
    "rosters.swap_answer": ("/rosters/swaps/999999/answer", "staff"),
    "rosters.swap_decide": ("/rosters/swaps/999999/decide", "staff"),
    "rosters.export": ("/rosters/FO-DESK/export", "staff"),
    "rosters.import_file": ("/rosters/FO-DESK/import", "staff"),
    "rosters.calendar": ("/rosters/calendar", "staff"),
    "rosters.calendar_new": ("/rosters/calendar", "staff"),
    "rosters.calendar_revoke": ("/rosters/calendar/999999/revoke", "staff"),
    "rosters.ical": ("/calendar/not-a-token.ics", "public"),
    "rosters.handover": ("/rosters/FO-DESK/handover", "staff"),
    "rosters.handover_save": ("/rosters/FO-DESK/handover", "staff"),
    "rosters.handover_confirm": ("/rosters/handovers/999999/confirm", "staff"),
    "rosters.handover_addendum": ("/rosters/handovers/999999/addendum", "staff"),
    "rosters.item_close": ("/rosters/items/999999/close", "staff"),
    "rosters.log": ("/rosters/log", "staff"),
}
# Allowed roles get 200, 303 or 422, except where the sweep's URL names nothing (on purpose).
# Run 1 is the new hire's onboarding plan: other staff pass the role check and then meet the object's own
# check (403), which tests/test_checklists.py covers person by person.
OBJECT_CHECK = (200, 303, 403, 422)
ALLOWED_STATUS = {"acks.remove_audience": (404,), "checklists.run": OBJECT_CHECK, "checklists.item": OBJECT_CHECK,
                  "checklists.tick_item": OBJECT_CHECK, "checklists.finish_run": OBJECT_CHECK,
                  "checklists.record": OBJECT_CHECK,
                  # Team actions: only the team's supervisor (fo.manager) or an admin gets past the object check.
                  "rosters.cell_edit": OBJECT_CHECK, "rosters.cell_set": (403, 404), "rosters.generate_period": OBJECT_CHECK,
                  "rosters.import_file": OBJECT_CHECK,
                  # The sweep's URL or form names nothing (on purpose): past the role check, the lookup says 404.
                  **{e: (404,) for e in ("rosters.swap_request", "rosters.swap_answer", "rosters.swap_decide",
                                         "rosters.calendar_revoke", "rosters.handover_save", "rosters.handover_confirm",
                                         "rosters.handover_addendum", "rosters.item_close")}}
ACCOUNTS = {"staff": "fo.staff", "manager": "fo.manager", "admin": "admin"}
RANK = {"public": 0, "staff": 1, "manager": 2, "admin": 3}


def test_every_route_is_in_the_sweep_and_declares_its_role(app: Flask):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()} - {"static"}
    assert endpoints == set(ROUTES), "add new routes to ROUTES"
    for endpoint in endpoints:
        assert app.view_functions[endpoint].allowed == ROUTES[endpoint][1], endpoint


def test_an_undeclared_view_is_refused(app: Flask):
    app.add_url_rule("/undeclared", "undeclared", lambda: "open")
    assert app.test_client().get("/undeclared").status_code == 403


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
@pytest.mark.parametrize("role", ["anonymous", "staff", "manager", "admin"])
def test_role_by_route_sweep(app, endpoint, role):
    url, minimum = ROUTES[endpoint]
    client = app.test_client()
    if role != "anonymous":
        Auth(client).login(ACCOUNTS[role])
    methods = [m for m in next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint).methods
               if m in ("GET", "POST")]
    for method in methods:
        data = {"csrf_token": Auth(client).token()} if method == "POST" else None
        r = client.open(url, method=method, data=data)
        r.close()
        if minimum == "public":
            assert r.status_code < 500
        elif role == "anonymous" and url.startswith("/api/"):
            assert r.status_code == 401 and r.is_json
        elif role == "anonymous":
            assert r.status_code == 302 and "/login" in r.headers["Location"], (method, url)
        elif RANK[role] < RANK[minimum]:
            assert r.status_code == 403, (method, url, role)
            assert "<html" in r.get_data(as_text=True)  # the portal's own 403 page
        else:
            assert r.status_code in ALLOWED_STATUS.get(endpoint, (200, 303, 422)), (method, url, role, r.status_code)


def test_wrong_role_on_htmx_request_gets_a_notice_for_the_flash_area(client, auth):
    auth.login("fo.staff")
    r = client.get("/admin/users", headers=HX)
    assert r.status_code == 403 and r.headers["HX-Retarget"] == "#flash" and "<html" not in r.get_data(as_text=True)


def test_security_headers(client, auth):
    auth.login("fo.staff")
    r = client.get("/sops/FO-NA-001")
    csp = r.headers["Content-Security-Policy"]
    for part in ("script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert part in csp
    assert "unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "same-origin"
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")) if r.headers.getlist("Set-Cookie") \
        else client.get_cookie("session")
    session = client.get_cookie("session")
    assert session.http_only and session.same_site == "Lax"
    assert cookie


def test_production_config_marks_cookies_secure(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("SOP_INSTANCE_DIR", str(tmp_path))
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_pages_load_nothing_from_other_hosts(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001").get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_htmx_sends_the_csrf_token_from_body(client, auth):
    auth.login("fo.staff")
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<body hx-headers=\'\{"X-CSRFToken": "[^"]+"\}\'>', html)


def test_csrf_header_is_accepted_for_htmx_posts(client, auth):
    auth.login("fo.staff")
    token = auth.token()
    r = client.post("/logout", headers={**HX, "X-CSRFToken": token})
    assert r.status_code == 303


def database_contents() -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: what a GET must leave exactly as it was."""
    db.session.expire_all()
    return {table.name: [tuple(row) for row in db.session.execute(
                sa.select(table).order_by(*(table.primary_key.columns or table.columns))).all()]
            for table in db.metadata.sorted_tables}


# The documented GET side effects: the anonymous search log (analytics, like an access log) and read receipts.
GET_SIDE_EFFECTS = {"search_log", "read_receipt"}


def test_get_requests_never_change_state(client, auth):
    """Every GET route leaves every table's rows exactly as they were, compared row by row and column by
    column, so a GET that runs an UPDATE is caught as surely as one that inserts."""
    auth.login("admin")
    before = database_contents()
    assert GET_SIDE_EFFECTS <= set(before) and sum(map(len, before.values())) > 100
    for _endpoint, (url, _role) in ROUTES.items():
        client.get(url).close()
    after = database_contents()
    changed = {name for name in before if before[name] != after[name]} - GET_SIDE_EFFECTS
    assert not changed, {name: (len(before[name]), len(after[name])) for name in changed}


def test_the_state_check_sees_an_update_that_keeps_the_row_count(client, auth):
    """The comparison itself: an UPDATE that changes no count is still a change."""
    from app.sops.models import Sop
    auth.login("admin")
    before = database_contents()
    db.session.execute(sa.update(Sop).where(Sop.code == "FO-NA-001").values(title="改过的标题"))
    db.session.commit()
    after = database_contents()
    assert {name for name in before if before[name] != after[name]} == {"sop"}


def test_vary_header_on_fragment_routes(client, auth):
    auth.login("fo.staff")
    assert "HX-Request" in client.get("/sops/").headers["Vary"]


def test_server_error_page_is_in_the_portals_look(app):
    from app.access import allow

    def broken():
        raise RuntimeError("boom")

    app.add_url_rule("/broken", "broken", allow("public")(broken))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = app.test_client().get("/broken")
    html = r.get_data(as_text=True)
    assert r.status_code == 500 and "<html" in html and "出错了" in html and "boom" not in html


# Out-of-range numbers and dates (issue #16): 4xx, never a server error ------------------------------------

@pytest.mark.parametrize("url", ["/sops/FO-NA-001?rev=99999999999999999999", "/checklists/runs/99999999999999999999",
                                 "/rosters/FO-DESK/week?d=9999-12-31", "/rosters/FO-DESK/month?m=0001-01",
                                 "/rosters/FO-DESK/export?m=9999-12"])
def test_the_reported_out_of_range_urls_answer_4xx(client, auth, url):
    auth.login("admin")
    assert 400 <= client.get(url).status_code < 500


EXTREMES = [str(2**63), "99999999999999999999", str(2**31), "-1", "0", "9999-12-31", "0001-01-01", "2026-02-30",
            "9999-12", "0001-01", "garbage"]
# Every query or form field a view reads as a number or a date.
NUMBER_AND_DATE_FIELDS = ("rev", "from", "to", "page", "limit", "user", "entry", "revision_id", "d", "m", "day", "date",
                          "start", "end", "month", "start_date")
NOT_SWEPT = {"static", "auth.logout", "auth.login"}  # the sweep needs its session


def sweep_urls(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every route, its <int:…> parts filled with each extreme value."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_SWEPT:
            continue
        sample = ROUTES[rule.endpoint][0].split("?")[0]
        for method in sorted(rule.methods & {"GET", "POST"}):
            _endpoint, values = adapter.match(sample, method=method)
            ints = [name for name, conv in rule._converters.items() if conv.__class__.__name__.endswith(("IntegerConverter", "IdConverter"))]
            fills = [values] if not ints else [{**values, **{n: v for n in ints}} for v in (2**63, 99999999999999999999, 2**31, 0)]
            for filled in fills:
                urls.append((rule.endpoint, method, adapter.build(rule.endpoint, filled, method=method)))
    return urls


def test_no_route_answers_5xx_to_extreme_numbers_and_dates(app, client, auth):
    """Every route, as an admin, with every <int:…> at the edges and every number or date field it may read
    set to extreme values: 4xx or success, never 5xx."""
    auth.login("admin")
    token = auth.token()
    urls = sweep_urls(app)
    assert len({e for e, _m, _u in urls}) == len(ROUTES) - len(NOT_SWEPT - {"static"})
    assert any("/99999999999999999999" in u for _e, _m, u in urls)
    failures = []
    for endpoint, method, path in urls:
        for value in EXTREMES:
            fields = {name: value for name in NUMBER_AND_DATE_FIELDS}
            if method == "GET":
                r = client.get(path, query_string=fields)
            else:
                r = client.post(path, data={**fields, "csrf_token": token}, headers={"Accept": "text/html"})
            if r.status_code >= 500:
                failures.append((r.status_code, method, path, value))
            r.close()
    assert not failures, failures
    assert client.get("/admin/users").status_code == 200  # the sweep ran signed in as admin throughout

"""Security baseline: every route declares who may use it; headers; GET never changes state."""
import re
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask, url_for

from app import create_app
from app.audit import AuditEvent
from app.auth.models import User
from app.extensions import db
from tests.conftest import HX, Auth

# One concrete URL for every route, and the lowest role that may use it.
ROUTES = {
    "sops.healthz": ("/healthz", "public"),
    "sops.favicon": ("/favicon.ico", "public"),
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
    "search.add_synonym_view": ("/search/report/synonyms", "admin"),
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
    "checklists.photo": ("/checklists/runs/1/photos/1", "staff"),
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
    # Document control (app/authoring): draft 999999, feedback 999999 and conflict 999999 do not exist.
    "authoring.index": ("/drafts/", "staff"),
    "authoring.new": ("/drafts/new", "staff"),
    "authoring.new_post": ("/drafts/new", "staff"),
    "authoring.import_page": ("/drafts/import", "staff"),
    "authoring.import_post": ("/drafts/import", "staff"),
    "authoring.edit": ("/sops/FO-NA-001/edit", "staff"),
    "authoring.retire": ("/sops/FO-NA-001/retire", "staff"),
    "authoring.draft": ("/drafts/999999", "staff"),
    "authoring.save": ("/drafts/999999", "staff"),
    "authoring.preview": ("/drafts/999999/preview", "staff"),
    "authoring.attach": ("/drafts/999999/attachments", "staff"),
    "authoring.draft_file": ("/drafts/999999/files/a.png", "staff"),
    "authoring.submit": ("/drafts/999999/submit", "staff"),
    "authoring.comment": ("/drafts/999999/comment", "staff"),
    "authoring.return_": ("/drafts/999999/return", "staff"),
    "authoring.review_pass": ("/drafts/999999/review", "staff"),
    "authoring.approve": ("/drafts/999999/approve", "staff"),
    "authoring.rebase": ("/drafts/999999/rebase", "staff"),
    "authoring.sop_tools": ("/sops/FO-NA-001/authoring", "staff"),
    "authoring.still_valid": ("/sops/FO-NA-001/still-valid", "staff"),
    "authoring.flag": ("/sops/FO-NA-001/feedback", "staff"),
    "authoring.feedback_index": ("/feedback/", "staff"),
    "authoring.feedback_reply": ("/feedback/999999/reply", "staff"),
    "authoring.feedback_link": ("/feedback/999999/link", "staff"),
    "authoring.feedback_close": ("/feedback/999999/close", "staff"),
    "authoring.conflicts": ("/admin/conflicts", "admin"),
    "authoring.resolve": ("/admin/conflicts/999999", "admin"),
    "authoring.editors_page": ("/admin/editors", "admin"),
    "authoring.editors_change": ("/admin/editors", "admin"),
    # To-do and the manager's dashboard (app/todo.py): swap 999999 does not exist; the chase form names no number.
    "todo.index": ("/todo", "staff"),
    "todo.badge": ("/todo/badge", "staff"),
    "todo.go": ("/todo/go?key=swap:999999", "staff"),
    "todo.dashboard": ("/dashboard", "manager"),
    "todo.chase": ("/dashboard/chase", "manager"),
    # Notifications (app/notify): channel 999999 does not exist.
    "notify.channels": ("/admin/notify", "admin"),
    "notify.add": ("/admin/notify", "admin"),
    "notify.remove": ("/admin/notify/999999/remove", "admin"),
    "notify.test": ("/admin/notify/999999/test", "admin"),
    "notify.preferences": ("/account/notifications", "staff"),
}
# Allowed roles get 200, 303 or 422, except where the sweep's URL names nothing (on purpose).
# Run 1 is the new hire's onboarding plan: other staff pass the role check and then meet the object's own
# check (403), which tests/test_checklists.py covers person by person.
OBJECT_CHECK = (200, 303, 403, 422)
ALLOWED_STATUS = {"acks.remove_audience": (404,), "todo.chase": (404,), "checklists.run": OBJECT_CHECK, "checklists.item": OBJECT_CHECK,
                  "checklists.tick_item": OBJECT_CHECK, "checklists.finish_run": OBJECT_CHECK,
                  "checklists.record": OBJECT_CHECK,
                  "checklists.photo": (403, 404),  # run 1 has no photo: its person and admins get 404
                  # Team actions: only the team's supervisor (fo.manager) or an admin gets past the object check.
                  "rosters.cell_edit": OBJECT_CHECK, "rosters.cell_set": (403, 404), "rosters.generate_period": OBJECT_CHECK,
                  "rosters.import_file": OBJECT_CHECK,
                  # The sweep's URL or form names nothing (on purpose): past the role check, the lookup says 404.
                  **{e: (404,) for e in ("rosters.swap_request", "rosters.swap_answer", "rosters.swap_decide",
                                         "rosters.calendar_revoke", "rosters.handover_save", "rosters.handover_confirm",
                                         "rosters.handover_addendum", "rosters.item_close")},
                  # Only the department's authors (fo.manager, admin) get past the object check; staff get 403.
                  **{e: OBJECT_CHECK for e in ("authoring.new", "authoring.import_page", "authoring.edit",
                                               "authoring.retire")},
                  **{e: (404,) for e in ("authoring.draft", "authoring.draft_file", "authoring.save", "authoring.preview", "authoring.attach",
                                         "authoring.submit", "authoring.comment", "authoring.return_",
                                         "authoring.review_pass", "authoring.approve", "authoring.rebase",
                                         "authoring.feedback_reply", "authoring.feedback_link",
                                         "authoring.feedback_close", "authoring.resolve",
                                         "notify.remove", "notify.test")}}
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
    monkeypatch.setenv("SECRET_KEY", "a-long-production-secret-key")
    monkeypatch.setenv("SOP_INSTANCE_DIR", str(tmp_path))
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_pages_load_nothing_from_other_hosts(client, auth):
    auth.login("fo.staff")
    html = client.get("/sops/FO-NA-001").get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_authenticated_pages_fragments_and_exports_are_not_stored(app, client, auth):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")  # nothing private yet
    auth.login("fo.manager")
    for url in ("/", "/sops/", "/sops/FO-NA-001", "/sops/FO-NA-001",  # twice: the second from the page cache
                "/rosters/FO-DESK/export", "/rosters/log"):
        r = client.get(url)
        assert r.status_code == 200 and r.cache_control.no_store and r.cache_control.private, url
    r = auth.post("/acks/sops/FO-NA-001/export", {"format": "csv"}, token_from="/acks/sops/FO-NA-001")
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.cache_control.no_store
    assert client.get("/sops/", headers=HX).cache_control.no_store
    from app.rosters.models import CalendarToken

    auth.post("/rosters/calendar", {}, token_from="/rosters/calendar")
    feed = db.session.scalar(sa.select(CalendarToken).order_by(CalendarToken.id.desc()).limit(1))
    r = app.test_client().get(f"/calendar/{feed.token}.ics")  # no session: the address is the credential
    assert r.status_code == 200 and r.cache_control.no_store
    with app.test_request_context():
        url = url_for("static", filename="vendor/htmx/htmx.min.js")
    r = client.get(url)  # a versioned static file is kept for a year (tests/test_assets.py)
    assert not r.cache_control.no_store and r.cache_control.max_age == 31536000 and r.cache_control.immutable
    r.close()


OFF_SITE = ["https://evil.example/x", "//evil.example/x", "/\\evil.example/x", "/\t/evil.example/x",
            "/\n/evil.example/x", "javascript:alert(1)", "http:/evil.example", " //evil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_addresses_stay_on_the_site(client, auth, target):
    from app.rosters.models import HandoverItem

    r = client.post(f"/login?next={quote(target)}", data={"username": "fo.night", "password": "demo-2026",
                                                          "csrf_token": auth.token()})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    item = db.session.scalar(sa.select(HandoverItem).where(HandoverItem.closed_at.is_(None)).limit(1))
    r = auth.post(f"/rosters/items/{item.id}/close", {"next": target}, token_from="/rosters/")
    assert r.status_code == 303 and r.headers["Location"] == "/rosters/log"
    r = auth.post(f"/rosters/items/{item.id}/close", {"next": "/rosters/FO-DESK/handover?shift=N"}, token_from="/rosters/")
    assert r.headers["Location"] == "/rosters/FO-DESK/handover?shift=N"  # a local path is kept
    from app.web import local_path  # the one helper every next= goes through

    assert local_path(target, "/fallback") == "/fallback"
    assert local_path("/sops/FO-NA-001/files/交接 表.xlsx", "/fallback") == "/sops/FO-NA-001/files/交接 表.xlsx"


def test_notes_over_the_cap_are_refused_with_a_message_and_nothing_is_saved(app, client, auth):
    from app.checklists.models import ChecklistRun, RunItem
    from app.rosters.models import Handover, HandoverAddendum, HandoverItem

    cap = app.config["NOTE_MAX_CHARS"]
    assert cap == 4000
    rows = lambda: [db.session.scalar(sa.select(sa.func.count()).select_from(t))  # noqa: E731
                    for t in (Handover, HandoverItem, HandoverAddendum, AuditEvent)]
    auth.login("fo.night")
    before, day = rows(), "2030-01-07"
    for form in ({"incidents": "x" * (cap + 1)}, {"incidents": "ok", "item_category": "vip", "item_text": "y" * (cap + 1)}):
        r = auth.post("/rosters/FO-DESK/handover", {"shift": "E", "day": day, **form},
                      token_from="/rosters/FO-DESK/handover", follow_redirects=True)
        assert "一条记录最多 4000 个字，这条有 4001 个字" in r.get_data(as_text=True)
    confirmed = db.session.scalar(sa.select(Handover).where(Handover.confirmed_at.is_not(None)).limit(1))
    r = auth.post(f"/rosters/handovers/{confirmed.id}/addendum", {"text": "z" * (cap + 1)}, token_from="/rosters/",
                  follow_redirects=True)
    assert "最多 4000 个字" in r.get_data(as_text=True)
    assert rows() == before
    # At the cap it is accepted; a line break counts once, as in the browser's maxlength.
    r = auth.post("/rosters/FO-DESK/handover", {"shift": "E", "day": day, "incidents": "x" * (cap - 2) + "\r\ny"},
                  token_from="/rosters/FO-DESK/handover")
    assert r.status_code == 303 and rows()[0] == before[0] + 1
    auth.logout()
    auth.login("newhire")
    db.session.expire_all()
    run = db.session.scalar(sa.select(ChecklistRun).where(ChecklistRun.kind == "onboarding", ChecklistRun.assignee.has(username="newhire")))
    item = next(i for i in run.items if "跟班观摩" in i.text)
    r = auth.post(f"/checklists/runs/{run.id}/items/{item.id}", {"done": "1", "note": "n" * (cap + 1)},
                  token_from=f"/checklists/runs/{run.id}", headers=HX)
    assert r.status_code == 422 and "最多 4000 个字" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RunItem, item.id).done_at is None and db.session.get(RunItem, item.id).note == ""


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


# Read scope: role × route × foreign id ----------------------------------------------------------------
# Who may read another team's or department's objects (docs/security.md "Who may read what"). Each object route is
# requested by seven people: the object's own person or team member, a colleague of the same department who is
# not on the team (nor the run's person), the team's supervisor (a staff member of another department, so that
# the supervisor rule is tested apart from the manager rule), a staff member and a manager of another
# department, the manager of the object's department, and an admin. An existing object the user may not read
# is 403 (team codes, template ids and run numbers are no secret: /duty lists every team); one that does not
# exist is 404.
PERSONAS = {"member": None, "colleague": "fo.desk2", "supervisor": "cs.agent6", "foreign_staff": "cs.agent",
            "foreign_manager": "cs.manager", "manager": "fo.manager", "admin": "admin"}
TEAM_SCOPE = {"member": 200, "colleague": 403, "supervisor": 200, "foreign_staff": 403, "foreign_manager": 403,
              "manager": 200, "admin": 200}
RUN_SCOPE = {**TEAM_SCOPE, "supervisor": 403}  # a run is its person's, not the roster supervisor's
MANAGER_SCOPE = {**RUN_SCOPE, "member": 403}  # manager pages: staff stop at the role check


def newhire_run():
    from app.checklists.models import ChecklistRun
    return db.session.scalar(sa.select(ChecklistRun).join(User, User.id == ChecklistRun.assignee_id).where(
        User.username == "newhire", ChecklistRun.kind == "onboarding"))


def newhire_photo():
    """A photo on the new hire's plan (inserted directly: the plan has no photo item)."""
    from app.checklists.models import ItemPhoto
    run = newhire_run()
    photo = ItemPhoto(item_id=run.items[0].id, content_type="image/png", size=8, sha256="0" * 64,
                      data=b"\x89PNG\r\n\x1a\n", uploaded_by_id=run.assignee_id)
    db.session.add(photo)
    db.session.commit()
    return f"/checklists/runs/{run.id}/photos/{photo.id}"


def yesterday():
    from datetime import date, timedelta
    return date.today() - timedelta(days=1)


# endpoint → (method, URL maker, the "member" persona, expected status per persona)
READ_SCOPE = {
    "rosters.month": ("GET", lambda: "/rosters/FO-DESK/month", "fo.staff", TEAM_SCOPE),
    "rosters.week": ("GET", lambda: "/rosters/FO-DESK/week", "fo.staff", TEAM_SCOPE),
    "rosters.handover": ("GET", lambda: f"/rosters/FO-DESK/handover?shift=N&day={yesterday()}", "fo.staff", TEAM_SCOPE),
    "rosters.export": ("GET", lambda: "/rosters/FO-DESK/export?format=csv", "fo.night", TEAM_SCOPE),
    "rosters.calendar_new": ("POST", lambda: "/rosters/calendar", "fo.night",
                             {p: 303 if s == 200 else s for p, s in TEAM_SCOPE.items()}),
    "checklists.run": ("GET", lambda: f"/checklists/runs/{newhire_run().id}", "newhire", RUN_SCOPE),
    "checklists.item": ("GET", lambda: f"/checklists/runs/{newhire_run().id}/items/{newhire_run().items[0].id}",
                        "newhire", RUN_SCOPE),
    "checklists.record": ("GET", lambda: f"/checklists/runs/{newhire_run().id}/record", "newhire", RUN_SCOPE),
    "checklists.photo": ("GET", newhire_photo, "newhire", RUN_SCOPE),
    "checklists.history": ("GET", lambda: "/checklists/templates/CL-FO-NA-PRECHECK", "fo.night", MANAGER_SCOPE),
    "acks.department": ("GET", lambda: "/acks/departments/FO", "fo.night", MANAGER_SCOPE),
    "acks.department_matrix": ("GET", lambda: "/acks/departments/FO/matrix", "fo.night", MANAGER_SCOPE),
    "acks.person": ("GET", lambda: "/acks/people/fo.night", "fo.night", MANAGER_SCOPE),
    # Another department's dashboard does not exist for a manager (404), as if the code were wrong.
    "todo.dashboard": ("GET", lambda: "/dashboard?department=FO", "fo.night", {**MANAGER_SCOPE, "foreign_manager": 404}),
}
# Routes that take an id and are not in READ_SCOPE, and why.
READ_OPEN = {
    "sops.show": "the library is the company's procedures: every signed-in staff member",
    "sops.diff": "the library", "sops.attachment": "the library", "acks.sign_page": "the library",
    "checklists.start_sop_run": "the library (the run it starts is the user's own)",
    "acks.sop_report": "lists only the people of the manager's department (tests/test_acks.py)",
    "acks.sheet": "lists only the people of the manager's department", "acks.export": "the same people as the report",
    "rosters.cell_edit": "the editor: supervisors only (tests/test_rosters.py)",
    "rosters.ical": "the secret address is the credential; it stops when its owner may no longer read the team",
    "authoring.draft": "get_draft(): its authors, reviewers and approvers and its department's managers; another "
                       "department's manager or staff get 403 (tests/test_authoring_web.py, every route)",
    "authoring.draft_file": "the draft's own rule (get_draft)",
    "authoring.sop_tools": "the library; the tools shown are the user's own (edit, retire, review, flag)",
}


def arrange_personas():
    """FO-DESK's supervisor becomes cs.agent6 (staff, 客服中心), and fo.desk2 leaves the team but stays in 前厅部."""
    from app.rosters.models import Team
    team = db.session.scalar(sa.select(Team).where(Team.code == "FO-DESK"))
    team.supervisor_id = db.session.scalar(sa.select(User.id).where(User.username == "cs.agent6"))
    team.members = [m for m in team.members if m.username != "fo.desk2"]
    db.session.commit()


def test_every_route_that_takes_an_id_has_a_read_scope(app: Flask):
    """A new page about one team, run, template, department or person must say who may read it."""
    with_ids = {r.endpoint for r in app.url_map.iter_rules() if r.arguments and "GET" in r.methods
                and r.endpoint != "static" and ROUTES[r.endpoint][1] in ("staff", "manager")}
    assert with_ids - set(READ_SCOPE) - set(READ_OPEN) == set(), "decide who may read it: READ_SCOPE or READ_OPEN"


@pytest.mark.parametrize("endpoint", sorted(READ_SCOPE))
@pytest.mark.parametrize("persona", list(PERSONAS))
def test_role_by_route_by_foreign_id_sweep(app, endpoint, persona):
    arrange_personas()
    method, url, member, expected = READ_SCOPE[endpoint]
    client = app.test_client()
    Auth(client).login(PERSONAS[persona] or member)
    data = {"csrf_token": Auth(client).token(), "team": "FO-DESK"} if method == "POST" else None
    r = client.open(url(), method=method, data=data)
    assert r.status_code == expected[persona], (endpoint, persona, PERSONAS[persona] or member, r.status_code)


@pytest.mark.parametrize("url", ["/rosters/NOPE/month", "/rosters/NOPE/week", "/rosters/NOPE/handover",
                                 "/rosters/NOPE/export", "/checklists/templates/NOPE", "/checklists/runs/999999"])
@pytest.mark.parametrize("username", ["cs.agent", "fo.manager", "admin"])
def test_an_unknown_id_is_404_for_everyone(client, auth, url, username):
    auth.login(username)
    assert client.get(url).status_code == (403 if "templates" in url and username == "cs.agent" else 404)
    # A feed for a team that does not exist is refused too, rather than quietly becoming a personal feed.
    from app.rosters.models import CalendarToken
    assert auth.post("/rosters/calendar", {"team": "NOPE"}, token_from="/rosters/calendar").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarToken)) == 0


def test_duty_log_and_team_listings_show_only_teams_the_user_may_read(client, auth):
    """Contents, not only status: the demo's FO-DESK night handover (VIP room 1808) and its people stay out of
    another team's duty log, whatever its filters say, and out of its team list."""
    from app.rosters.models import Handover, Team
    from app.rosters.service import save_handover
    cs = db.session.scalar(sa.select(Team).where(Team.code == "CS-HOTLINE"))
    save_handover(db.session.scalar(sa.select(User).where(User.username == "cs.agent")), cs, cs.shift_types[0],
                  yesterday(), {"other": "客服交接"}, [])
    db.session.commit()
    auth.login("cs.agent")
    for url in ("/rosters/log", f"/rosters/log?team=FO-DESK&date={yesterday()}", "/rosters/log?person=fo.night",
                "/rosters/log?person=周强"):
        html = client.get(url).get_data(as_text=True)
        rows = html.split('id="duty-log"')[1] if 'id="duty-log"' in html else ""
        assert "前台值班组" not in html and "/rosters/FO-DESK/handover" not in html and "周强" not in rows, url
    assert "客服热线组" in client.get("/rosters/log").get_data(as_text=True)  # their own team's handover
    index = client.get("/rosters/").get_data(as_text=True)
    assert "客服热线组" in index and "FO-DESK" not in index
    auth.logout()
    auth.login("fo.manager")
    html = client.get("/rosters/log").get_data(as_text=True)
    assert "前台值班组" in html and "周强" in html and "客服热线组" not in html
    auth.logout()
    auth.login("admin")
    html = client.get("/rosters/log").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Handover)) == 3  # with the IT hotline's demo handover
    assert "前台值班组" in html and "客服热线组" in html and "IT热线值班组" in html


def test_on_duty_shows_every_team_but_unsigned_sops_only_to_those_who_may_read_it(client, auth):
    """/duty keeps its point (whom to call, in any team) without telling everyone who has not signed what."""
    from datetime import date, timedelta
    from app.rosters.models import RosterEntry, Team
    fo = db.session.scalar(sa.select(Team).where(Team.code == "FO-DESK"))
    newhire = db.session.scalar(sa.select(User).where(User.username == "newhire"))
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == fo.id))
    today = date.today()
    # On every FO-DESK shift today and last night, so that the new hire is on now or next whatever the hour.
    for day, st in [(today - timedelta(days=1), s) for s in fo.shift_types if s.code == "N"] + [(today, s) for s in fo.shift_types]:
        db.session.add(RosterEntry(team_id=fo.id, shift_type_id=st.id, user_id=newhire.id, day=day, note="陪同1808房贵宾"))
    db.session.commit()

    def fo_section(username):
        auth.login(username)
        html = client.get("/duty").get_data(as_text=True)
        auth.logout()
        return html.split('data-team="FO-DESK"')[1].split('class="duty-team"')[0]

    assert "林晓" in fo_section("fo.staff") and "⚠ FO-" in fo_section("fo.staff")
    foreign = fo_section("cs.agent")
    assert "林晓" in foreign and "☎ 138-0571-" in foreign  # whom to call
    assert "FO-NA-001" not in foreign and "⚠" not in foreign
    assert "1808" not in foreign and "1808" not in fo_section("fo.staff")  # cell notes stay on the grid
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

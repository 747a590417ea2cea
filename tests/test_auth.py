"""Accounts: login, sessions everywhere, rate limits, CLI create/import, the admin user list."""
import re
import time

import pytest
import sqlalchemy as sa

from app.audit import AuditEvent
from app.auth.models import User
from app.extensions import db
from tests.conftest import HX, THREE_WAYS, Auth, page_or_fragment


def user(username) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def last_audit() -> AuditEvent:
    return db.session.scalar(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))


def test_login_and_logout(client, auth):
    r = auth.login("fo.staff")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert last_audit().action == "login"
    r = auth.logout()
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("username,password,reason", [
    ("fo.staff", "wrong-password", "wrong password"),
    ("nobody", "demo-2026", "unknown user"),
])
def test_failed_login_is_clear_and_audited(client, auth, username, password, reason):
    r = auth.login(username, password)
    html = r.get_data(as_text=True)
    assert r.status_code == 401 and 'id="login-error"' in html and "用户名或密码错误" in html
    event = last_audit()
    assert event.action == "login.failed" and reason in event.detail
    assert client.get("/").status_code == 302


@pytest.fixture
def hash_checks(monkeypatch):
    """Every password hash checked, as (method and cost, password)."""
    import app.auth.models as models

    calls, real = [], models.check_password_hash
    monkeypatch.setattr(models, "check_password_hash", lambda h, pw: calls.append((h.split("$")[0], pw)) or real(h, pw))
    return calls


def test_unknown_and_deactivated_users_cost_one_hash_like_known_ones(client, auth, hash_checks):
    """A wrong password must cost the same whether the name exists or not (timing would tell otherwise):
    one check of a hash of the same method and cost in each case. bench/login.py prints the times."""
    user("fo.night").active = False
    db.session.commit()
    method = user("fo.staff").password_hash.split("$")[0]
    for username in ("fo.staff", "nobody-here", "fo.night"):
        hash_checks.clear()
        assert auth.login(username, "wrong-password").status_code == 401
        assert hash_checks == [(method, "wrong-password")], username


def test_deactivated_user_cannot_log_in(client, auth):
    user("fo.staff").active = False
    db.session.commit()
    r = auth.login("fo.staff")
    assert r.status_code == 401 and "停用" in r.get_data(as_text=True)


def test_next_parameter_only_allows_local_paths(client, auth):
    token = auth.token()
    r = client.post("/login?next=https://evil.example/x", data={"username": "fo.staff", "password": "demo-2026",
                                                                 "csrf_token": token})
    assert r.headers["Location"] == "/"
    auth.logout()
    r = client.post("/login?next=/sops/FO-NA-001", data={"username": "fo.staff", "password": "demo-2026",
                                                          "csrf_token": auth.token()})
    assert r.headers["Location"] == "/sops/FO-NA-001"


def test_logout_ends_sessions_on_every_device(app):
    phone, desk = Auth(app.test_client()), Auth(app.test_client())
    phone.login("fo.staff"), desk.login("fo.staff")
    assert desk.client.get("/").status_code == 200
    phone.logout()
    assert desk.client.get("/").status_code == 302


def test_password_change_ends_other_sessions_but_not_this_one(app):
    phone, desk = Auth(app.test_client()), Auth(app.test_client())
    phone.login("fo.staff"), desk.login("fo.staff")
    r = desk.post("/account/password", {"current": "demo-2026", "new": "new-pass-123", "confirm": "new-pass-123"},
                  token_from="/account/password")
    assert r.status_code == 303
    assert desk.client.get("/").status_code == 200
    assert phone.client.get("/").status_code == 302
    assert phone.login("fo.staff", "new-pass-123").status_code == 303


@pytest.mark.parametrize("form,message", [
    ({"current": "bad", "new": "new-pass-123", "confirm": "new-pass-123"}, "当前密码不正确"),
    ({"current": "demo-2026", "new": "short", "confirm": "short"}, "至少"),
    ({"current": "demo-2026", "new": "new-pass-123", "confirm": "new-pass-456"}, "不一致"),
])
def test_password_change_errors(client, auth, form, message):
    auth.login("fo.staff")
    r = auth.post("/account/password", form, token_from="/account/password")
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert user("fo.staff").check_password("demo-2026")


def test_deactivation_ends_the_users_sessions(app):
    staff, admin = Auth(app.test_client()), Auth(app.test_client())
    staff.login("fo.staff"), admin.login("admin")
    uid = user("fo.staff").id
    r = admin.post(f"/admin/users/{uid}/edit", {"department": "前厅部", "positions": ["前台接待"], "role": "staff"},
                   token_from=f"/admin/users/{uid}/edit")
    assert r.status_code == 303 and user("fo.staff").active is False
    assert staff.client.get("/").status_code == 302


def test_login_flood_is_rate_limited_per_account(limited_app):
    a = Auth(limited_app.test_client())
    codes = [a.login("fo.staff", f"guess-{i}").status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    r = a.login("fo.staff", "demo-2026")
    assert r.status_code == 429 and "尝试次数过多" in r.get_data(as_text=True)
    assert a.login("fo.night").status_code == 303  # another account from the same IP still works


def test_guessing_from_one_address_does_not_lock_out_the_owner_elsewhere(limited_app):
    guesser, owner = limited_app.test_client(), limited_app.test_client()
    guesser.environ_base["REMOTE_ADDR"], owner.environ_base["REMOTE_ADDR"] = "10.0.0.66", "10.0.0.7"
    codes = [Auth(guesser).login("fo.staff", f"guess-{i}").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    assert Auth(owner).login("fo.staff").status_code == 303  # the real owner, at their own desk
    assert Auth(guesser).login("fo.staff").status_code == 429


def test_login_flood_is_rate_limited_per_ip(limited_app):
    a = Auth(limited_app.test_client())
    codes = [a.login(f"someone{i}", "x").status_code for i in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429


def test_login_rotates_the_csrf_secret(client, auth):
    before = auth.token("/login")
    r = client.post("/login", data={"username": "fo.staff", "password": "demo-2026", "csrf_token": before})
    assert r.status_code == 303
    r = client.post("/logout", data={"csrf_token": before})  # a token planted before login no longer works
    assert r.status_code == 400 and client.get("/").status_code == 200
    assert auth.logout().status_code == 303


def test_missing_csrf_token_is_refused(client, auth):
    auth.login("fo.staff")
    r = client.post("/logout")
    assert r.status_code == 400 and "刷新" in r.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still logged in: nothing happened


def test_expired_csrf_token_gets_a_clear_message(client, auth, monkeypatch):
    auth.login("fo.staff")
    token = auth.token()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 13 * 3600)
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 400 and "已过期" in r.get_data(as_text=True)
    r = client.post("/logout", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 400 and r.headers["HX-Refresh"] == "true"


def test_expired_session_on_htmx_request_redirects_the_browser(client):
    r = client.get("/sops/?tag=夜审", headers=HX)
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login" and r.data == b""
    r = client.get("/sops/?tag=夜审")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_cli_create_user(runner):
    r = runner.invoke(args=["users", "create", "zhang.wei", "--name", "张伟", "--department", "前厅部",
                            "--positions", "前台接待、礼宾员", "--start-date", "2026-12-01"])
    assert r.exit_code == 0, r.output
    assert re.search(r"created zhang.wei \(staff\) password: \S{8,}", r.output)
    u = user("zhang.wei")
    assert u.position_names == ["前台接待", "礼宾员"] and str(u.start_date) == "2026-12-01"
    r = runner.invoke(args=["users", "create", "zhang.wei", "--name", "张伟"])
    assert r.exit_code == 1 and "already exists" in r.output


CSV_OK = """username,display_name,email,department,positions,role,start_date,password
li.ming,李明,li@example.com,前厅部,前台接待,staff,2026-12-01,
wang.fang,王芳,,客服中心,客服专员;投诉专员,manager,,long-enough-pw
"""


def test_cli_import_users(runner, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text(CSV_OK, encoding="utf-8")
    r = runner.invoke(args=["users", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert "imported 2 users" in r.output and user("wang.fang").role == "manager"
    assert user("wang.fang").check_password("long-enough-pw")
    # Only generated passwords are printed; the file's own never reach the terminal (or a CI log).
    assert "long-enough-pw" not in r.output and "created wang.fang (manager) password: (from the file)" in r.output
    generated = re.search(r"created li.ming \(staff\) password: (\S{8,})", r.output).group(1)
    assert user("li.ming").check_password(generated)


def test_cli_import_is_all_or_nothing_and_reports_every_bad_line(runner, tmp_path):
    bad = CSV_OK + """zhao.lei,赵磊,,后厨部,,staff,,
fo.staff,重复,,,,staff,,
li.ming,又一个李明,,,,staff,,
sun.hao,孙浩,,,,boss,2026-13-01,
"""
    path = tmp_path / "users.csv"
    path.write_text(bad, encoding="utf-8")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    r = runner.invoke(args=["users", "import", str(path)])
    assert r.exit_code == 1
    for expected in ("nothing imported", "line 4: unknown department '后厨部'", "line 5: username 'fo.staff' already exists",
                     "line 6: username 'li.ming' already exists", "line 7: start_date '2026-13-01' is not a date"):
        assert expected in r.output, r.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before
    assert user("li.ming") is None


@THREE_WAYS
def test_admin_user_list_filters(client, auth, headers, fragment):
    auth.login("admin")
    html = page_or_fragment(client, "/admin/users?department=客服中心&role=manager", headers, fragment,
                            '<tbody id="user-rows">')
    assert "cs.manager" in html and "cs.agent" not in html and "fo.manager" not in html
    assert "没有符合" in client.get("/admin/users?q=zzz-nobody", headers=headers).get_data(as_text=True)


def test_admin_edits_a_user_inline_with_htmx(client, auth):
    auth.login("admin")
    uid = user("cs.agent").id
    form = client.get(f"/admin/users/{uid}/edit", headers=HX)
    assert form.get_data(as_text=True).lstrip().startswith(f'<tr id="user-{uid}" class="editing">')
    r = auth.post(f"/admin/users/{uid}/edit", {"department": "客服中心", "positions": ["客服专员", "投诉专员"],
                                               "role": "manager", "active": "y"}, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.lstrip().startswith(f'<tr id="user-{uid}" class="">')
    u = user("cs.agent")
    assert u.role == "manager" and u.position_names == ["客服专员", "投诉专员"]
    assert last_audit().action == "user.update"


def test_admin_edit_validation_error_is_shown_in_the_form(client, auth):
    auth.login("admin")
    uid = user("admin").id
    r = auth.post(f"/admin/users/{uid}/edit", {"department": "IT支持部", "role": "staff", "active": "y"}, headers=HX)
    assert r.status_code == 422 and "不能" in r.get_data(as_text=True)
    assert user("admin").role == "admin"


def test_admin_create_user_and_double_submit(client, auth):
    auth.login("admin")
    token = auth.token("/admin/users/new")
    form = {"username": "qian.yu", "display_name": "钱雨", "department": "财务部", "positions": ["出纳"],
            "role": "staff", "password": "initial-pass", "csrf_token": token}
    assert client.post("/admin/users/new", data=form).status_code == 303
    again = client.post("/admin/users/new", data=form)
    assert again.status_code == 422 and "已存在" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.username == "qian.yu")) == 1


@pytest.mark.parametrize("secure", [True, False])
def test_language_cookie_follows_the_session_cookie(templates, tmp_path, secure):
    from tests.conftest import served

    for app in served(templates, tmp_path, SESSION_COOKIE_SECURE=secure):
        client = app.test_client()
        r = client.post("/language", data={"lang": "en", "csrf_token": Auth(client).token()},
                        base_url="https://localhost", headers={"Referer": "https://localhost/login"})
        cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("lang="))
        assert r.status_code == 303 and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_language_is_saved_per_user(client, auth):
    auth.login("fo.staff")
    assert "资料库" in client.get("/sops/").get_data(as_text=True)
    auth.post("/language", {"lang": "en", "next": "/sops/"})
    assert user("fo.staff").locale == "en"
    assert "SOP library" in client.get("/sops/").get_data(as_text=True)


@THREE_WAYS
def test_admin_edit_form_page_and_fragment(client, auth, headers, fragment):
    auth.login("admin")
    uid = user("cs.agent").id
    html = page_or_fragment(client, f"/admin/users/{uid}/edit", headers, fragment, f'<tr id="user-{uid}" class="editing">')
    assert 'name="positions"' in html and "客服专员" in html

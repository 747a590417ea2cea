"""Notifications: events become outbox rows in the action's transaction and reach WeCom/DingTalk robots after
commit. The robots here are a real HTTP server on loopback; tests read what it received."""
import base64
import hashlib
import hmac
import json
import logging
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from app.auth.models import User
from app.authoring import review
from app.authoring.drafts import start_draft
from app.extensions import db
from app.notify import outbox
from app.notify.channels import signed, url_problem
from app.notify.models import Channel, Outbox
from app.org import Department
from app.rosters.models import RosterEntry, ShiftType, SwapRequest, Team
from app.sops.models import Sop, utcnow
from app.waiting import Event, emit
from tests.conftest import Auth, served
from tests.test_acks import smtp  # noqa: F401 - the fixture: a real SMTP server on loopback

PORTAL = "https://sop.example.test"
LOG = "app.notify.outbox"


class Robot:
    """A group robot on 127.0.0.1: answers {"errcode": 0}, or 500, or hangs until released."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.received: list[dict] = []
        self.arrived = threading.Event()  # a request came in
        self.release = threading.Event()  # a hanging robot answers once this is set
        self.answered = threading.Event()  # it has answered (or tried to)
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                parts = urlsplit(self.path)
                robot.received.append({"path": parts.path, "query": parse_qs(parts.query),
                                       "body": json.loads(self.rfile.read(length))})
                robot.arrived.set()
                if robot.mode == "hang":
                    robot.release.wait(60)  # released by the test (or at close)
                status = 500 if robot.mode == "500" else 200
                answer = b'{"errcode": 0, "errmsg": "ok"}' if status == 200 else b"oops"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender timed out and went away
                robot.answered.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/cgi-bin/webhook/send?key=k-1") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def texts(self) -> list[str]:
        return [r["body"]["text"]["content"] for r in self.received]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app(templates, tmp_path):
    """The demo app with absolute links to PORTAL and a short timeout (a hanging robot costs half a second)."""
    for a in served(templates, tmp_path, PORTAL_URL=PORTAL, NOTIFY_TIMEOUT=0.5):
        yield a
        outbox.wait()


@pytest.fixture
def robots():
    made = []

    def make(mode="ok"):
        made.append(Robot(mode))
        return made[-1]

    yield make
    outbox.wait()
    for r in made:
        r.close()


def user(name: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == name))


def dept(name: str) -> Department:
    return db.session.scalar(sa.select(Department).where(Department.name == name))


def team(code: str = "FO-DESK") -> Team:
    return db.session.scalar(sa.select(Team).where(Team.code == code))


def channel(url: str, *, department: str | None = None, team_code: str | None = None, vendor="wecom", secret="") -> Channel:
    """A channel written straight to the database (as a restore or an old row might hold it: unchecked)."""
    c = Channel(vendor=vendor, url=url, secret=secret, department_id=dept(department).id if department else None,
                team_id=team(team_code).id if team_code else None)
    db.session.add(c)
    db.session.commit()
    return c


def rows() -> list[Outbox]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Outbox).order_by(Outbox.id)))


def shift_entry(days_ahead: int = 10) -> RosterEntry:
    t = team()
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.team_id == t.id))
    day_shift = db.session.scalar(sa.select(ShiftType).where(ShiftType.team_id == t.id, ShiftType.code == "D"))
    e = RosterEntry(team_id=t.id, shift_type_id=day_shift.id, user_id=user("fo.staff").id,
                    day=date.today() + timedelta(days=days_ahead), source="manual")
    db.session.add(e)
    db.session.commit()
    return e


def ask_swap(client, entry: RosterEntry, colleague: str = "newhire"):
    auth = Auth(client)
    auth.login("fo.staff")
    return auth.post("/rosters/swaps", {"entry": entry.id, "colleague": colleague}, token_from="/rosters/swaps")


# What is sent -------------------------------------------------------------------------------------------------


def test_a_swap_request_reaches_the_teams_robot_with_name_item_and_link(app, client, robots):
    robot = robots()
    channel(robot.url(), team_code="FO-DESK")
    channel(robots().url(), department="前厅部")  # the department's robot: the team has its own, so not this one
    entry = shift_entry()
    assert ask_swap(client, entry).status_code == 303
    outbox.wait()
    assert len(robot.received) == 1
    got = robot.received[0]
    assert got["path"] == "/cgi-bin/webhook/send" and got["query"]["key"] == ["k-1"]
    assert got["body"]["msgtype"] == "text" and set(got["body"]) == {"msgtype", "text"}
    text = got["body"]["text"]["content"]
    assert text.startswith("林晓：有一个换班请求等你回复：") and f"{entry.day.month}月{entry.day.day}日 白班" in text
    assert text.endswith(f"\n{PORTAL}/rosters/swaps")
    assert "138-" not in text and "@" not in text  # name and item only: no phone, no email
    assert [(r.status, r.attempts, r.kind) for r in rows()] == [("sent", 1, "swap_requested")]


def test_a_short_notice_swap_accepted_asks_the_supervisor(app, client, robots):
    robot = robots()
    channel(robot.url(), department="前厅部")
    entry = shift_entry(days_ahead=1)
    ask_swap(client, entry)
    swap_id = db.session.scalar(sa.select(SwapRequest.id))
    auth = Auth(client)
    auth.logout()
    auth.login("newhire")
    auth.post(f"/rosters/swaps/{swap_id}/answer", {"accept": "1"}, token_from="/rosters/swaps")
    outbox.wait()
    assert [t.split("：")[0] for t in robot.texts] == ["林晓", "陈静"]  # the colleague, then the supervisor
    assert "等待审批" in robot.texts[1]


def test_a_new_handover_asks_for_confirmation_once(app, client, robots):
    robot = robots()
    channel(robot.url(), team_code="FO-DESK")
    auth = Auth(client)
    auth.login("fo.staff")
    day = date.today()
    for note in ("无", "改写一次"):
        r = auth.post("/rosters/FO-DESK/handover", {"shift": "E", "day": day.isoformat(), "incidents": note},
                      token_from="/rosters/FO-DESK/handover")
        assert r.status_code == 303
    outbox.wait()
    assert len(robot.texts) == 1  # the rewrite is not announced again
    assert robot.texts[0] == (f"前台值班组 {day.month}月{day.day}日 晚班的交接班已填写，等待接班人确认。\n"
                              f"{PORTAL}/rosters/FO-DESK/handover?shift=E&day={day.isoformat()}")


def test_a_draft_submitted_for_review_names_the_reviewers(app, robots, library):
    robot = robots()
    channel(robot.url(), department="前厅部")
    author = user("fo.manager")
    sop = db.session.scalar(sa.select(Sop).where(Sop.code == "FO-NA-001"))
    d = start_draft(author, department=sop.department, sop=sop)
    d.change_note = "夜审时间调整"
    review.submit(d, author)
    db.session.commit()
    outbox.wait()
    assert len(robot.texts) == 1
    text = robot.texts[0]
    # The reviewers are the department's managers; the author is one of them and is not asked to review.
    assert text.startswith("SOP草稿待审核：FO-NA-001 夜审操作规程。") and text.endswith(f"{PORTAL}/drafts/{d.id}")


def test_a_chase_names_each_person_in_their_departments_robot(app, robots):
    front, it = robots(), robots()
    channel(front.url(), department="前厅部")
    channel(it.url("/robot/send?access_token=t-1"), department="IT支持部", vendor="dingtalk")
    emit(Event(kind="chase", text="请尽快签阅《夜审操作规程》。", url="/sops/FO-NA-001/ack",
               user_ids=(user("fo.night").id, user("fo.staff").id, user("it.hotline").id)))
    db.session.commit()
    outbox.wait()
    assert front.texts == [f"李娜、周强：请尽快签阅《夜审操作规程》。\n{PORTAL}/sops/FO-NA-001/ack"]
    assert it.texts == [f"吴昊：请尽快签阅《夜审操作规程》。\n{PORTAL}/sops/FO-NA-001/ack"]
    assert it.received[0]["query"] == {"access_token": ["t-1"]}  # no secret: not signed


def test_a_dingtalk_robot_with_a_secret_gets_a_valid_signature(app, robots):
    robot = robots()
    channel(robot.url("/robot/send?access_token=t-2"), department="前厅部", vendor="dingtalk", secret="SECabc123")
    emit(Event(kind="chase", text="请签阅。", url="/reading", department_id=dept("前厅部").id))
    db.session.commit()
    outbox.wait()
    query = robot.received[0]["query"]
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    expected = base64.b64encode(hmac.new(b"SECabc123", f"{timestamp}\nSECabc123".encode(), hashlib.sha256).digest())
    assert query["access_token"] == ["t-2"] and sign == expected.decode()
    assert signed("https://x/send?access_token=a", "s", now_ms=1).startswith("https://x/send?access_token=a&timestamp=1&sign=")


def test_overdue_signatures_post_one_summary_per_department_from_acks_remind(app, robots, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    front = robots()
    channel(front.url(), department="前厅部")
    result = app.test_cli_runner().invoke(args=["acks", "remind"])
    assert result.exit_code == 0, result.output
    outbox.wait()
    assert len(front.texts) == 1
    text = front.texts[0]
    assert text.startswith("前厅部：") and "逾期未签阅" in text and text.endswith(f"{PORTAL}/acks/departments/FO")
    assert "周强" not in text  # a count, not a list of names


# Personal switches ----------------------------------------------------------------------------------------------


def test_a_person_who_switched_robot_messages_off_is_not_named(app, client, robots):
    robot = robots()
    channel(robot.url(), department="前厅部")
    auth = Auth(client)
    auth.login("newhire")
    assert 'name="robot" value="1" checked' in client.get("/account/notifications").get_data(as_text=True)
    r = auth.post("/account/notifications", {"email": "1"}, token_from="/account/notifications")
    assert r.status_code == 303
    db.session.expire_all()
    assert user("newhire").notify_robot is False and user("newhire").notify_email is True
    auth.logout()
    ask_swap(client, shift_entry())  # addressed to newhire only: nothing is posted
    emit(Event(kind="chase", text="请签阅。", url="/reading", user_ids=(user("newhire").id, user("fo.night").id)))
    db.session.commit()
    outbox.wait()
    assert robot.texts == [f"周强：请签阅。\n{PORTAL}/reading"]


def test_a_person_who_switched_the_email_digest_off_gets_none(app, client, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    auth = Auth(client)
    auth.login("newhire")
    auth.post("/account/notifications", {"robot": "1"}, token_from="/account/notifications")
    result = app.test_cli_runner().invoke(args=["acks", "remind"])
    assert result.exit_code == 0 and "email digest switched off, not reminded: newhire" in result.output
    assert not any("newhire@" in m["To"] for m in inbox) and any("fo.night@" in m["To"] for m in inbox)


# Transactions ---------------------------------------------------------------------------------------------------


def test_a_rolled_back_action_sends_nothing(app, client, robots):
    robot = robots()
    channel(robot.url(), department="前厅部")
    emit(Event(kind="chase", text="请签阅。", url="/reading", department_id=dept("前厅部").id))
    db.session.rollback()
    db.session.commit()
    outbox.wait()
    # A refused swap (to someone outside the team) rolls back too.
    ask_swap(client, shift_entry(), colleague="cs.agent")
    outbox.wait()
    assert rows() == [] and robot.received == []


def test_cron_drain_sends_what_the_background_did_not(app, robots):
    app.config["NOTIFY_IN_BACKGROUND"] = False
    robot = robots()
    channel(robot.url(), department="前厅部")
    emit(Event(kind="chase", text="请签阅。", url="/reading", department_id=dept("前厅部").id))
    db.session.commit()
    outbox.wait()
    assert robot.received == [] and [r.status for r in rows()] == ["pending"]
    result = app.test_cli_runner().invoke(args=["notify", "send"])
    assert "sent 1, failed 0" in result.output and [r.status for r in rows()] == ["sent"]
    assert "sent 0" in app.test_cli_runner().invoke(args=["notify", "send"]).output  # never twice
    assert len(robot.received) == 1


# A robot that is broken ----------------------------------------------------------------------------------------


def test_a_hanging_robot_does_not_hold_up_the_request(app, client, robots):
    app.config["NOTIFY_TIMEOUT"] = 30  # longer than the robot hangs: only sending outside the request passes
    robot = robots("hang")
    channel(robot.url(), team_code="FO-DESK")
    r = ask_swap(client, shift_entry())
    assert r.status_code == 303
    # The robot has the message and has not answered, yet the response is here.
    assert robot.arrived.wait(10) and not robot.answered.is_set()
    robot.release.set()
    outbox.wait()
    assert robot.answered.is_set() and [r.status for r in rows()] == ["sent"]


def test_a_robot_that_times_out_costs_a_log_line_and_waits_for_a_retry(app, client, robots, caplog):
    robot = robots("hang")
    channel(robot.url(), team_code="FO-DESK")
    caplog.set_level(logging.WARNING, logger=LOG)
    assert ask_swap(client, shift_entry()).status_code == 303
    outbox.wait()  # the sender gives up after NOTIFY_TIMEOUT (half a second here)
    assert robot.arrived.is_set() and not robot.release.is_set()
    robot.release.set()
    row = rows()[0]
    assert (row.status, row.attempts) == ("pending", 1) and "timed out" in row.last_error
    assert row.next_at.replace(tzinfo=None) > utcnow().replace(tzinfo=None)  # not before the backoff
    assert len([m for m in caplog.messages if "attempt 1 of 3 failed" in m and "timed out" in m]) == 1


def test_a_robot_answering_500_is_retried_a_bounded_number_of_times(app, client, robots, caplog):
    robot = robots("500")
    channel(robot.url(), department="前厅部")
    caplog.set_level(logging.WARNING, logger=LOG)
    assert ask_swap(client, shift_entry()).status_code == 303
    outbox.wait()
    row = rows()[0]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert outbox.drain()["sent"] + outbox.drain()["failed"] == 0  # not due again yet (backoff)
    later = utcnow() + timedelta(minutes=2)
    assert outbox.drain(now=later) == {"sent": 0, "failed": 1, "skipped": 0}
    assert outbox.drain(now=later + timedelta(hours=1)) == {"sent": 0, "failed": 1, "skipped": 0}
    assert outbox.drain(now=later + timedelta(days=1)) == {"sent": 0, "failed": 0, "skipped": 0}
    row = rows()[0]
    assert (row.status, row.attempts) == ("failed", 3) and len(robot.received) == 3
    failures = [m for m in caplog.messages if "HTTP 500" in m]
    assert len(failures) == 3 and "giving up" in failures[-1]


def test_a_malformed_address_in_the_database_fails_the_message_not_the_request(app, client, caplog):
    channel("htp:/nowhere", team_code="FO-DESK")
    caplog.set_level(logging.WARNING, logger=LOG)
    assert ask_swap(client, shift_entry()).status_code == 303
    outbox.wait()
    row = rows()[0]
    assert row.status == "pending" and row.last_error.startswith("bad address")
    assert [m for m in caplog.messages if "bad address" in m]


def test_an_unreachable_robot_is_a_log_line(app, client, caplog):
    channel("http://127.0.0.1:9/robot/send?access_token=x", team_code="FO-DESK")  # port 9: nothing listens
    caplog.set_level(logging.WARNING, logger=LOG)
    assert ask_swap(client, shift_entry()).status_code == 303
    outbox.wait()
    assert rows()[0].status == "pending" and "attempt 1 of 3 failed" in caplog.text


@pytest.mark.parametrize("url,ok", [
    ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", True),
    ("https://oapi.dingtalk.com/robot/send?access_token=abc", True),
    ("http://127.0.0.1:8080/hook", True),
    ("http://localhost/hook", True),
    ("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", False),  # the key would travel in clear
    ("htps//qyapi.weixin.qq.com", False),
    ("ftp://example.com/hook", False),
    ("https://", False),
    ("https://example.com:99999/x", False),
    ("https://exa mple.com/x", False),
    ("https://example.com/x\nHost: evil", False),
    ("", False),
    ("https://example.com/" + "a" * 500, False),
])
def test_webhook_addresses_are_checked(url, ok):
    assert (url_problem(url) is None) is ok


# Admin page -------------------------------------------------------------------------------------------------


def test_admin_adds_tests_and_removes_a_channel(app, client, robots):
    robot = robots()
    auth = Auth(client)
    auth.login("admin")
    fo = f"department:{dept('前厅部').id}"
    r = auth.post("/admin/notify", {"audience": fo, "vendor": "wecom", "url": "htps//qyapi.weixin.qq.com"},
                  token_from="/admin/notify")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="channel-error"' in html and "https://" in html
    assert 'value="htps//qyapi.weixin.qq.com"' in html  # what was typed is kept
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Channel)) == 0
    r = auth.post("/admin/notify", {"audience": fo, "vendor": "wecom", "url": robot.url()}, token_from="/admin/notify")
    assert r.status_code == 303
    c = db.session.scalar(sa.select(Channel))
    html = client.get("/admin/notify").get_data(as_text=True)
    assert "前厅部" in html and "/cgi-bin/webhook/send?…" in html and "k-1" not in html  # the key is not shown
    assert auth.post(f"/admin/notify/{c.id}/test", token_from="/admin/notify").status_code == 303
    outbox.wait()
    assert robot.texts and robot.texts[0].endswith(f"{PORTAL}/")
    assert auth.post(f"/admin/notify/{c.id}/remove", token_from="/admin/notify").status_code == 303
    db.session.expire_all()
    assert db.session.get(Channel, c.id).active is False
    assert auth.post(f"/admin/notify/{c.id}/remove", token_from="/admin/notify").status_code == 404
    assert auth.post("/admin/notify/999999/test", token_from="/admin/notify").status_code == 404


def test_a_dingtalk_secret_on_a_wecom_robot_or_an_unknown_audience_is_refused(app, client):
    auth = Auth(client)
    auth.login("admin")
    fo = f"department:{dept('前厅部').id}"
    for form in ({"audience": fo, "vendor": "wecom", "url": "https://a.example/x", "secret": "s"},
                 {"audience": "department:999999", "vendor": "wecom", "url": "https://a.example/x"},
                 {"audience": fo, "vendor": "slack", "url": "https://a.example/x"}):
        r = auth.post("/admin/notify", form, token_from="/admin/notify")
        assert r.status_code == 422 and 'id="channel-error"' in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Channel)) == 0


@pytest.mark.parametrize("who", ["fo.staff", "fo.manager"])
def test_only_an_admin_manages_channels(app, client, who):
    c = channel("https://a.example/x", department="前厅部")
    auth = Auth(client)
    auth.login(who)
    assert client.get("/admin/notify").status_code == 403
    for url in ("/admin/notify", f"/admin/notify/{c.id}/remove", f"/admin/notify/{c.id}/test"):
        assert auth.post(url, {"audience": "x", "vendor": "wecom", "url": "https://b.example/y"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Channel, c.id).active and db.session.scalar(sa.select(sa.func.count()).select_from(Channel)) == 1


def test_preferences_need_a_csrf_token(app, client):
    Auth(client).login("newhire")
    assert client.post("/account/notifications", data={}).status_code == 400
    db.session.expire_all()
    assert user("newhire").notify_robot and user("newhire").notify_email


def test_two_senders_never_post_one_message_twice(app, robots):
    app.config["NOTIFY_IN_BACKGROUND"] = False
    channel(robots().url(), department="前厅部")
    emit(Event(kind="chase", text="请签阅。", url="/reading", department_id=dept("前厅部").id))
    db.session.commit()
    row = rows()[0]
    now = utcnow()
    assert outbox.claim(row.id, 0, now) is True
    assert outbox.claim(row.id, 0, now) is False  # the second sender saw attempts 0, the first made it 1
    assert outbox.claim(row.id, 1, now) is False  # and the first one's lease has not run out
    assert outbox.drain(now) == {"sent": 0, "failed": 0, "skipped": 0}

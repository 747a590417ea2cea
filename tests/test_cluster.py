"""Two app nodes behind a real nginx, on one PostgreSQL database and one Redis (issue 15, docs/deploy.md).

The module starts, once: a throw-away PostgreSQL database with the demo, a private redis-server, node A and node B
(gunicorn, one worker each, each with its own instance folder and so its own Whoosh index, one shared content
folder), and nginx as a round-robin upstream over both. Node B reaches PostgreSQL through a relay in this process,
so the test can take its database away and give it back. Each property is checked through nginx and node by node.
Where PostgreSQL, redis-server or nginx is missing the module skips with the reason; under CI=true it fails.
"""
import os
import secrets
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.test_checklists import png
from tests.twonodes import (PASSWORD, ROOT, Http, Nginx, Node, PrivateRedis, TcpRelay, build_app, create_database,
                            drop_database, load_demo, missing_services, publish, search_codes)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def services_or_stop():
    missing = missing_services()
    if missing:
        message = "two-node cluster NOT tested: " + "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


class Cluster:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.content = tmp / "content"
        shutil.copytree(ROOT / "content", self.content)  # the shared content folder (NFS in production)
        self.audit_key, self.secret = secrets.token_hex(32), secrets.token_hex(32)
        self.app = self.redis = self.relay = self.a = self.b = self.nginx = None
        self.url = create_database()
        try:
            self.start(tmp)
        except BaseException:
            self.close()
            raise

    def start(self, tmp: Path):
        self.app = build_app(self.url, tmp / "build", self.content, self.audit_key)
        load_demo(self.app)
        self.redis = PrivateRedis(tmp / "redis")
        self.redis.start()
        self.relay = TcpRelay(sa.engine.make_url(self.url).port or 5432)
        self.relay.start()
        self.jieba = tmp / "build" / "jieba.cache"  # jieba's dictionary, built by the demo's indexing

        def settings(db_url: str) -> dict:
            return {"DATABASE_URL": db_url, "SECRET_KEY": self.secret, "AUDIT_KEY": self.audit_key,
                    "RATELIMIT_STORAGE_URI": self.redis.url, "PROXY_HOPS": "1", "SOP_DIR": str(self.content / "sops"),
                    "CONTENT_DIR": str(self.content), "FLASK_LOGIN_LIMIT_IP": '"500 per minute"',
                    "FLASK_NOTIFY_IN_BACKGROUND": "false"}

        self.a = Node("a", tmp / "a", settings(self.url))
        self.b = Node("b", tmp / "b", settings(str(sa.engine.make_url(self.url).set(port=self.relay.port)
                                                   .render_as_string(hide_password=False))))
        for node in (self.a, self.b):
            node.instance.mkdir(parents=True)
            if self.jieba.exists():
                (node.instance / self.jieba.name).symlink_to(self.jieba)
            node.start()
        for node in (self.a, self.b):
            node.wait()
        self.nginx = Nginx(tmp / "nginx", [self.a, self.b])
        self.nginx.start()

    def close(self):
        for part in (self.nginx, self.a, self.b):
            if part is not None:
                part.stop()
        if self.relay is not None:
            self.relay.cut()
        if self.redis is not None:
            self.redis.stop()
        if self.app is not None:
            with self.app.app_context():
                from app.extensions import db
                db.engine.dispose()
        drop_database(self.url)

    def query(self, stmt):
        from app.extensions import db

        with self.app.app_context():
            try:
                return db.session.execute(stmt).all()
            finally:
                db.session.remove()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    services_or_stop()
    made = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield made
    finally:
        made.close()


def logged_in(port: int, username: str, forwarded_for: str = "") -> Http:
    browser = Http(port, forwarded_for)
    assert browser.login(username) == 303
    return browser


def signed_in(browser: Http) -> bool:
    """The home page answers (200), or the browser is sent to the login page (302)."""
    status, _html = browser.get("/")
    assert status in (200, 302), status
    return status == 200


def session_version(cluster: Cluster, username: str) -> int:
    from app.auth.models import User

    return cluster.query(sa.select(User.session_version).where(User.username == username))[0][0]


# 1. Sessions ------------------------------------------------------------------------------------------------


def test_a_login_on_one_node_is_valid_on_the_other_and_a_logout_on_either_ends_both(cluster):
    on_a = logged_in(cluster.a.port, "fo.staff")
    assert signed_in(on_a) and signed_in(on_a.at(cluster.b.port))
    through = on_a.at(cluster.nginx.port)
    assert signed_in(through) and signed_in(through)  # round robin: one request on each node
    on_b = logged_in(cluster.b.port, "fo.staff")  # a second session (another device), started on B
    before = session_version(cluster, "fo.staff")
    status, headers, _ = on_b.post("/logout")
    assert status == 303 and headers["Location"].endswith("/login")
    assert session_version(cluster, "fo.staff") == before + 1
    for browser in (on_a, on_a.at(cluster.b.port), on_a.at(cluster.nginx.port), on_b.at(cluster.a.port)):
        assert not signed_in(browser)
    # And the other way round: logging out on A ends a session opened through nginx.
    through = logged_in(cluster.nginx.port, "fo.night")
    status, _h, _ = logged_in(cluster.a.port, "fo.night").post("/logout")
    assert status == 303
    assert not signed_in(through) and not signed_in(through.at(cluster.b.port))


# 2. Search and the page cache -------------------------------------------------------------------------------


def test_a_revision_published_on_a_is_found_on_b_and_b_shows_it_at_once(cluster):
    from app.search.models import SearchGeneration

    reader_b = logged_in(cluster.b.port, "fo.staff")
    marker = f"jiqun{uuid.uuid4().hex[:8]}"
    status, page = reader_b.get("/sops/FO-NA-001")
    assert status == 200 and marker not in page  # B's page cache holds the current revision now
    assert search_codes(reader_b, "夜审") and search_codes(reader_b, marker) == []  # B's index is open
    generation = cluster.query(sa.select(SearchGeneration.value))[0][0]
    publish(cluster.app, logged_in(cluster.a.port, "fo.manager"), logged_in(cluster.a.port, "admin"), "FO-NA-001",
            marker)
    assert cluster.query(sa.select(SearchGeneration.value))[0][0] == generation + 1
    # B: the page at once (its cache key holds the current revision id), and search at its next query.
    status, page = reader_b.get("/sops/FO-NA-001")
    assert status == 200 and marker in page
    assert search_codes(reader_b, marker) == ["FO-NA-001"]
    assert search_codes(logged_in(cluster.a.port, "fo.staff"), marker) == ["FO-NA-001"]
    through = reader_b.at(cluster.nginx.port)
    seen = len(cluster.nginx.upstreams())
    for _ in range(2):
        assert search_codes(through, marker) == ["FO-NA-001"]
        assert marker in through.get("/sops/FO-NA-001")[1]
    answered = set(cluster.nginx.upstreams()[seen:])
    assert answered == {f"127.0.0.1:{cluster.a.port}", f"127.0.0.1:{cluster.b.port}"}, answered
    # Each node has its own index, in its own instance folder.
    assert (cluster.a.instance / "search-index").is_symlink() and (cluster.b.instance / "search-index").is_symlink()


# 3. Login limits ----------------------------------------------------------------------------------------------


def test_login_limits_hold_across_nodes_through_redis(cluster):
    """5 wrong passwords per account and address per minute, counted in Redis, whichever node answers."""
    guesser = Http(cluster.a.port, forwarded_for="203.0.113.50")
    codes = [guesser.at(node.port).login("cs.agent3", f"guess-{i}")
             for i, node in enumerate([cluster.a, cluster.b] * 4)]
    assert codes == [401] * 5 + [429] * 3, codes
    assert Http(cluster.b.port, forwarded_for="198.51.100.50").login("cs.agent3") == 303  # the owner, elsewhere
    # Through nginx: the node sees nginx's X-Forwarded-For (PROXY_HOPS=1), so the client is this machine.
    seen = len(cluster.nginx.upstreams())
    through = Http(cluster.nginx.port)
    assert [through.login("cs.agent4", f"guess-{i}") for i in range(7)] == [401] * 5 + [429] * 2
    posts = [u for u in cluster.nginx.upstreams()[seen:]]
    assert {f"127.0.0.1:{cluster.a.port}", f"127.0.0.1:{cluster.b.port}"} <= set(posts)
    assert any(cluster.redis.client().scan_iter("*cs.agent4*")), "the counters were not in Redis"


def test_through_nginx_the_audit_trail_records_the_client_not_the_proxy(cluster):
    """The browser connects to nginx from 127.0.0.2 (nginx and the nodes talk over 127.0.0.1); an address the client
    writes into X-Forwarded-For itself is not believed (PROXY_HOPS=1 trusts only nginx's entry)."""
    from app.audit import AuditEvent

    assert Http(cluster.nginx.port, forwarded_for="6.6.6.6", source="127.0.0.2").login("it.hotline") == 303
    assert Http(cluster.nginx.port, forwarded_for="6.6.6.6", source="127.0.0.2").login("it.hotline", "wrong") == 401
    rows = cluster.query(sa.select(AuditEvent.action, AuditEvent.ip).where(AuditEvent.object == "user:it.hotline")
                         .order_by(AuditEvent.id.desc()).limit(2))
    assert rows == [("login.failed", "127.0.0.2"), ("login", "127.0.0.2")], rows


# 4. Scheduled jobs ----------------------------------------------------------------------------------------------


class SlowSmtp:
    """An SMTP server that greets only when released: the first `flask acks remind` holds its lock meanwhile."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.connected, self.release = threading.Event(), threading.Event()
        self.messages = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connected.set()
            self.release.wait(60)
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"220 test\r\n")
                data = False
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    if data:
                        if line == ".":
                            data, self.messages = False, self.messages + 1
                            conn.sendall(b"250 ok\r\n")
                        continue
                    verb = line[:4].upper()
                    if verb == "DATA":
                        data = True
                        conn.sendall(b"354 go\r\n")
                    elif verb == "QUIT":
                        conn.sendall(b"221 bye\r\n")
                        break
                    else:
                        conn.sendall(b"250 ok\r\n")

    def close(self):
        self.release.set()
        self.server.close()


def finish(proc) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def test_scheduled_jobs_started_on_both_nodes_run_once(cluster):
    import psycopg

    from app.extensions import lock_key

    smtp = SlowSmtp()
    mail = {"FLASK_MAIL_PORT": str(smtp.port)}
    try:
        first = cluster.a.flask("acks", "remind", extra=mail)
        assert smtp.connected.wait(120), "node A's reminder run never reached the mail server"
        # A is sending (and holds the lock); B's cron starts the same job now, and the checklist job on both nodes
        # while this test holds that job's lock, as a third node would.
        with psycopg.connect(cluster.url.replace("+psycopg", ""), autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("job:checklists-schedule"),))
            second = cluster.b.flask("acks", "remind", extra=mail)
            schedules = [node.flask("checklists", "schedule") for node in (cluster.a, cluster.b)]
            code, out = finish(second)
            assert code == 0 and "acks-remind: already running elsewhere" in out, out
            for proc in schedules:
                code, out = finish(proc)
                assert code == 0 and "checklists-schedule: already running elsewhere" in out, out
        smtp.release.set()
        code, out = finish(first)
        assert code == 0 and f"sent {smtp.messages} emails" in out and smtp.messages > 0, out
    finally:
        smtp.close()
    code, out = finish(cluster.b.flask("checklists", "schedule"))  # the lock is free again: B runs it
    assert code == 0 and "recurring runs due" in out, out


# 5. Uploads ------------------------------------------------------------------------------------------------------


PNG = png()


def word_file() -> bytes:
    import io

    import docx

    d = docx.Document()
    d.add_paragraph("一、目的").runs[0].bold = True
    d.add_paragraph("集群导入测试。")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_uploads_are_in_the_database_and_visible_from_every_node(cluster):
    from app.org import Department

    author = logged_in(cluster.a.port, "fo.manager")
    dept_id = cluster.query(sa.select(Department.id).where(Department.name == "前厅部"))[0][0]
    status, headers, content = author.request(
        "POST", "/drafts/import", {"department": dept_id, "csrf_token": author.token("/drafts/import")},
        files={"file": ("集群.docx", word_file(),
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")})
    assert status == 303, content[:1000]
    draft = headers["Location"].rsplit("/", 1)[1]
    status, headers, content = author.request(
        "POST", f"/drafts/{draft}/attachments", {"csrf_token": author.token(f"/drafts/{draft}")},
        files={"file": ("map.png", PNG, "image/png")})
    assert status == 303, content[:1000]
    on_b = author.at(cluster.b.port)
    status, page = on_b.get(f"/drafts/{draft}")
    assert status == 200 and "集群导入测试" in page and "map.png" in page
    status, _h, data = on_b.request("GET", f"/drafts/{draft}/files/map.png")
    assert status == 200 and data == PNG
    # A checklist photo taken on A (the night audit's pre-check: the safe is locked) is served by B.
    from app.checklists.models import ChecklistRun, ItemPhoto, RunItem

    run_id, item_id = cluster.query(
        sa.select(ChecklistRun.id, RunItem.id).join(RunItem, RunItem.run_id == ChecklistRun.id)
        .where(ChecklistRun.dedupe_key.like("recurring:CL-FO-NA-PRECHECK:%"), RunItem.text.like("%保险柜%"))
        .order_by(ChecklistRun.id.desc()).limit(1))[0]
    night = logged_in(cluster.a.port, "fo.night")
    status, _h, content = night.request(
        "POST", f"/checklists/runs/{run_id}/items/{item_id}",
        {"done": "1", "csrf_token": night.token(f"/checklists/runs/{run_id}")}, files={"photo": ("safe.png", PNG, "image/png")})
    assert status == 303, content[:1000]
    photo_id = cluster.query(sa.select(ItemPhoto.id).where(ItemPhoto.item_id == item_id))[0][0]
    status, _h, data = night.at(cluster.b.port).request("GET", f"/checklists/runs/{run_id}/photos/{photo_id}")
    assert status == 200 and data == PNG
    assert not any(p.suffix == ".png" for node in (cluster.a, cluster.b) for p in node.instance.rglob("*"))


# 6. A node restarted with an empty instance folder --------------------------------------------------------------


def test_a_node_restarted_with_an_empty_instance_folder_rebuilds_its_index_and_serves(cluster):
    cluster.b.stop()
    shutil.rmtree(cluster.b.instance)
    cluster.b.instance.mkdir()
    cluster.b.start()
    cluster.b.wait()
    reader = logged_in(cluster.b.port, "fo.staff")
    assert "FO-NA-001" in search_codes(reader, "夜审")
    assert (cluster.b.instance / "search-index").is_symlink()
    assert reader.get("/sops/FO-NA-001")[0] == 200


# 7. Losing Redis or PostgreSQL ----------------------------------------------------------------------------------


def ack_count(cluster: Cluster, username: str, code: str) -> int:
    from app.acks.models import Acknowledgement
    from app.auth.models import User
    from app.sops.models import Sop

    return cluster.query(sa.select(sa.func.count()).select_from(Acknowledgement)
                         .join(User, Acknowledgement.user_id == User.id).join(Sop, Acknowledgement.sop_id == Sop.id)
                         .where(User.username == username, Sop.code == code))[0][0]


def unsigned(cluster: Cluster, username: str) -> list[tuple[str, int]]:
    from app.acks.duties import duties
    from app.auth.models import User
    from app.extensions import db

    with cluster.app.app_context():
        try:
            return [(d.code, d.revision_id) for d in duties(User.username == username) if d.signed_at is None]
        finally:
            db.session.remove()


def sign(browser: Http, code: str, revision_id: int) -> tuple[int, str]:
    status, _h, content = browser.post(f"/sops/{code}/ack", {"password": PASSWORD, "revision_id": revision_id},
                                       token_from=f"/sops/{code}/ack")
    return status, content.decode(errors="replace")


def test_losing_redis_keeps_logins_and_signatures_working_and_the_limits_come_back(cluster):
    (code, revision), *_ = unsigned(cluster, "newhire")
    cluster.redis.stop()
    try:
        browser = Http(cluster.a.port, forwarded_for="192.0.2.70")
        assert browser.login("newhire", "wrong") == 401  # refused by password, not a 500
        assert browser.login("newhire") == 303
        status, _html = sign(browser, code, revision)
        assert status == 303 and ack_count(cluster, "newhire", code) == 1
        assert Http(cluster.b.port, forwarded_for="192.0.2.71").login("fo.staff") == 303
    finally:
        cluster.redis.start()
    # The limiter checks Redis again after a back-off (1, 2, 4 … s): wait until the counters are there again.
    store, guesser = cluster.redis.client(), Http(cluster.a.port, forwarded_for="192.0.2.72")
    deadline = time.monotonic() + 60
    while not any(store.scan_iter("*192.0.2.72*")):
        assert time.monotonic() < deadline, "the login limits never came back to Redis"
        assert guesser.login("fo.night", "wrong") in (401, 429)
        time.sleep(0.5)


def test_losing_postgresql_gives_a_503_page_loses_no_signature_and_recovers(cluster):
    _first, (code, revision), *_ = unsigned(cluster, "newhire") + [(None, None)] * 2
    assert code is not None, "newhire has nothing left to sign"
    browser = logged_in(cluster.b.port, "newhire")
    token = browser.token(f"/sops/{code}/ack")
    cluster.relay.cut()
    try:
        status, _h, content = browser.request("POST", f"/sops/{code}/ack",
                                              {"password": PASSWORD, "revision_id": revision, "csrf_token": token})
        page = content.decode()
        assert status == 503 and "数据库暂时没有响应" in page and "Traceback" not in page, page[:500]
        status, page = browser.get("/")
        assert status == 503 and "数据库暂时没有响应" in page
        assert ack_count(cluster, "newhire", code) == 0  # nothing half-saved
        assert Http(cluster.a.port).get("/healthz")[0] == 200  # node A, on the same server, is unaffected
    finally:
        cluster.relay.start()
    assert signed_in(browser)  # the same session, on a fresh connection
    status, _html = sign(browser, code, revision)
    assert status == 303 and ack_count(cluster, "newhire", code) == 1


# On one machine (SQLite) ------------------------------------------------------------------------------------------


def test_on_sqlite_a_job_already_running_on_this_machine_is_not_started_again(app):
    """No PostgreSQL: the jobs take an flock in the instance folder instead of an advisory lock."""
    from app.extensions import only_here

    runner = app.test_cli_runner()
    with only_here("checklists-schedule") as mine:
        assert mine
        result = runner.invoke(args=["checklists", "schedule"])
        assert result.exit_code == 0 and "checklists-schedule: already running elsewhere" in result.output
    result = runner.invoke(args=["checklists", "schedule"])
    assert result.exit_code == 0 and "recurring runs due" in result.output, result.output

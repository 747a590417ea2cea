"""Deployment trust: the secret key, the login limits under real gunicorn workers, and the reverse proxy.

The gunicorn tests start the shipped gunicorn.conf.py on a free loopback port, over a copy of the demo database,
with Redis (127.0.0.1:6379, or SOP_TEST_REDIS_URL) under a key prefix of their own.
"""
import functools
import http.client
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash as werkzeug_hash

from app import create_app, database_url
from app.audit import AuditEvent
from app.extensions import db
from tests.conftest import ROOT, Auth, audit_files, drop_database, new_database, served
from tests.twonodes import wait_port

REDIS_URL = os.environ.get("SOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BIN = Path(sys.executable).parent


# The secret key ------------------------------------------------------------------------------------------


@pytest.fixture
def bare_env(tmp_path, monkeypatch):
    """No key, no debug, no test flag in the environment; an empty instance folder."""
    for name in [k for k in os.environ if k.startswith("FLASK_")] + ["SECRET_KEY", "DATABASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOP_INSTANCE_DIR", str(tmp_path / "instance"))
    return tmp_path / "instance"


def test_the_built_in_key_is_refused_outside_debug_and_tests(bare_env):
    with pytest.raises(RuntimeError, match="SECRET_KEY is the built-in development key"):
        create_app()


def test_a_short_key_is_refused(bare_env, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "changeme")
    with pytest.raises(RuntimeError, match="SECRET_KEY is shorter than 16"):
        create_app()


def test_debug_and_tests_may_use_the_built_in_key(bare_env, monkeypatch):
    assert create_app({"TESTING": True}).secret_key == "dev-only-change-me"
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert create_app().debug is True


def test_the_key_comes_from_the_environment_or_the_instance_file(bare_env, monkeypatch):
    bare_env.mkdir()
    (bare_env / "secret_key").write_text("k" * 64 + "\n")
    assert create_app().secret_key == "k" * 64
    monkeypatch.setenv("SECRET_KEY", "e" * 32)  # the environment overrides the file
    assert create_app().secret_key == "e" * 32


def flask_cli(args: list[str], instance: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_") and k not in ("SECRET_KEY", "DATABASE_URL")}
    env.update(SOP_INSTANCE_DIR=str(instance), FLASK_APP="wsgi.py", PYTHONPATH=str(ROOT))
    return subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_make_run_writes_a_random_key_once_and_the_cli_then_works(tmp_path):
    """The Makefile's instance/secret_key rule, run in an empty folder (as on a fresh clone), with this venv."""
    venv = BIN.parent
    make = ["make", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/bin/.installed", "instance/secret_key"]
    instance = tmp_path / "instance"
    refused = flask_cli(["db", "upgrade"], instance)
    assert refused.returncode != 0 and "SECRET_KEY is the built-in development key" in refused.stderr
    out = subprocess.run(make, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    key = (instance / "secret_key").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600
    subprocess.run(make, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    assert (instance / "secret_key").read_text().strip() == key  # the second run keeps it: sessions survive
    upgraded = flask_cli(["db", "upgrade"], instance)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (instance / "portal.db").exists()


# Real gunicorn workers -----------------------------------------------------------------------------------


def redis_or_fail():
    """A Redis client, or a loud stop: fail under CI (CI=true), else skip with the reason in the summary (-ra)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as e:
        message = (f"Redis does not answer at {REDIS_URL} ({e}): the login limits across gunicorn workers are NOT "
                   "tested. Start redis-server or set SOP_TEST_REDIS_URL.")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_env(instance: Path, **settings: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLASK_", "GUNICORN_")) and k not in ("SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY",
                                                                     "RATELIMIT_STORAGE_URI", "PROXY_HOPS")}
    env.update(SOP_INSTANCE_DIR=str(instance), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **settings)
    return env


@functools.cache
def gunicorn_has(flag: str) -> bool:
    return flag in subprocess.run([str(BIN / "gunicorn"), "--help"], capture_output=True, text=True).stdout


def gunicorn(env: dict, port: int, log: Path, workers: int = 2) -> subprocess.Popen:
    """The shipped gunicorn.conf.py; access log lines are '<pid> METHOD path status'."""
    cmd = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "-w", str(workers), "-b", f"127.0.0.1:{port}",
           "--access-logfile", "-", "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "wsgi:app"]
    if gunicorn_has("--no-control-socket"):
        cmd.insert(-1, "--no-control-socket")
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the master we started
            proc.wait(timeout=5)


def wait_ready(proc: subprocess.Popen, port: int, log: Path) -> None:
    wait_port(port, "/healthz", proc, log)


class Browser:
    """One cookie jar; every request on a new connection, from the address named in X-Forwarded-For."""

    def __init__(self, port: int):
        self.port, self.cookie = port, ""

    def request(self, method: str, path: str, body: dict | None = None, forwarded_for: str = "") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie, **({"X-Forwarded-For": forwarded_for} if forwarded_for else {})}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, urlencode(body) if body is not None else None, headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        for header in resp.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]
        conn.close()
        return resp.status, text

    def token(self) -> str:
        _status, html = self.request("GET", "/login")
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def demo_copy(templates, tmp_path):
    """A database with the demo users for a server process (SQLite file, or a PostgreSQL database)."""
    uri = new_database(templates["demo"], tmp_path)
    audit_files(templates, "demo", tmp_path / "instance")  # the trail is keyed: the server needs the key
    yield uri
    drop_database(uri)


def test_login_limit_holds_across_gunicorn_workers_with_redis(demo_copy, tmp_path):
    """2 workers share the Redis counters: 8 wrong passwords (sent two at a time, so both workers answer)
    give exactly 5 refusals by password and 3 by the limit. Behind one proxy hop, the limit is per forwarded
    address: the account's owner, elsewhere, still logs in; the guesser, even with the right password, does not."""
    store = redis_or_fail()
    prefix = f"sop-test-{uuid.uuid4().hex}"
    port, log = free_port(), tmp_path / "gunicorn.log"
    # The account's hash at Werkzeug's real cost (the suite's are cheaper): each login then keeps its worker busy
    # long enough that the second of a pair goes to the other worker.
    engine = sa.create_engine(database_url(demo_copy))
    with engine.begin() as conn:
        conn.execute(sa.text('UPDATE "user" SET password_hash = :h WHERE username = :u'),
                     {"h": werkzeug_hash("demo-2026"), "u": "fo.staff"})
    engine.dispose()
    env = gunicorn_env(tmp_path / "instance", DATABASE_URL=demo_copy, SECRET_KEY=secrets.token_hex(32),
                       RATELIMIT_STORAGE_URI=REDIS_URL, FLASK_RATELIMIT_KEY_PREFIX=prefix, PROXY_HOPS="1")
    proc = gunicorn(env, port, log)
    try:
        wait_ready(proc, port, log)
        # Both workers have loaded the app (on a busy machine the second may still be importing it, and the first
        # would then answer every login).
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Worker ready") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        guesser = Browser(port)
        token = guesser.token()

        def guess(i: int) -> int:
            return guesser.request("POST", "/login", {"username": "fo.staff", "password": f"guess-{i}",
                                                      "csrf_token": token}, forwarded_for="203.0.113.7")[0]

        with ThreadPoolExecutor(2) as pool:
            codes = [code for pair in range(4) for code in pool.map(guess, (2 * pair, 2 * pair + 1))]
        assert sorted(codes) == [401] * 5 + [429] * 3, codes
        owner = Browser(port)
        status, _html = owner.request("POST", "/login", {"username": "fo.staff", "password": "demo-2026",
                                                         "csrf_token": owner.token()}, forwarded_for="198.51.100.2")
        assert status == 303
        status, _html = guesser.request("POST", "/login", {"username": "fo.staff", "password": "demo-2026",
                                                           "csrf_token": token}, forwarded_for="203.0.113.7")
        assert status == 429
        assert any(store.scan_iter(f"*/{prefix}/*")), "the counters were not in Redis"
    finally:
        stop(proc)
        for key in store.scan_iter(f"*/{prefix}/*"):
            store.delete(key)
        store.close()
    posts = [line.split()[0] for line in log.read_text(errors="replace").splitlines() if " POST /login " in line]
    assert len(posts) == 10 and len(set(posts)) == 2, f"both workers must have answered logins: {posts}"


@pytest.mark.parametrize("settings,expected", [
    ({"RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI is memory://, which counts separately in each of the 2 workers"),
    ({}, "RATELIMIT_STORAGE_URI is memory://"),  # the shipped default
    ({"RATELIMIT_STORAGE_URI": REDIS_URL, "SECRET_KEY": ""}, "SECRET_KEY is the built-in development key"),
], ids=["memory", "default", "no-key"])
def test_gunicorn_refuses_a_configuration_that_cannot_protect_logins(demo_copy, tmp_path, settings, expected):
    env = gunicorn_env(tmp_path / "instance", DATABASE_URL=demo_copy, SECRET_KEY=secrets.token_hex(32))
    env.update(settings)
    if not env["SECRET_KEY"]:
        del env["SECRET_KEY"]
    log = tmp_path / "gunicorn.log"
    proc = gunicorn(env, free_port(), log)
    try:
        assert proc.wait(timeout=60) == 1
    finally:
        stop(proc)
    out = log.read_text(errors="replace")
    assert "refusing to start" in out and expected in out, out
    assert "Booting worker" not in out  # refused in the master, before any worker


@pytest.fixture
def redis_down_app(templates, tmp_path):
    from app.extensions import limiter

    yield from served(templates, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1")
    # The limiter is one object per process and remembers "storage dead" across init_app(); the next test's app
    # would count in the fallback and switch back to its real storage mid-test (a fresh count).
    limiter._storage_dead = False


def test_when_redis_is_down_logins_still_answer_and_are_still_limited(redis_down_app):
    """Each worker then counts on its own (the in-memory fallback) rather than answering 500."""
    auth = Auth(redis_down_app.test_client())
    assert [auth.login("fo.staff", f"guess-{i}").status_code for i in range(6)] == [401] * 5 + [429]


# Behind a reverse proxy ----------------------------------------------------------------------------------


def last_audit() -> AuditEvent:
    return db.session.scalar(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))


@pytest.fixture
def proxied_app(templates, tmp_path):
    yield from served(templates, tmp_path, PROXY_HOPS=1, RATELIMIT_ENABLED=True, LOGIN_LIMIT_ACCOUNT="2 per minute")


@pytest.fixture
def direct_app(templates, tmp_path):
    yield from served(templates, tmp_path, RATELIMIT_ENABLED=True, LOGIN_LIMIT_ACCOUNT="2 per minute")


def wrong_login(app, forwarded_for: str) -> int:
    client = app.test_client()
    return Auth(client).client.post("/login", data={"username": "fo.staff", "password": "wrong",
                                                    "csrf_token": Auth(client).token()},
                                    headers={"X-Forwarded-For": forwarded_for}).status_code


def test_with_one_proxy_hop_the_forwarded_address_is_recorded_and_limited(proxied_app):
    assert wrong_login(proxied_app, "10.9.9.9, 203.0.113.5") == 401  # the proxy appended the real client
    assert last_audit().action == "login.failed" and last_audit().ip == "203.0.113.5"
    assert wrong_login(proxied_app, "203.0.113.5") == 401
    assert wrong_login(proxied_app, "203.0.113.5") == 429
    assert wrong_login(proxied_app, "198.51.100.8") == 401  # another client behind the same proxy
    assert last_audit().ip == "198.51.100.8"


def test_with_one_proxy_hop_a_signature_records_the_forwarded_address(proxied_app):
    from app.acks.models import Acknowledgement
    from app.sops.models import Sop

    client = proxied_app.test_client()
    auth = Auth(client)
    assert client.post("/login", data={"username": "newhire", "password": "demo-2026", "csrf_token": auth.token()},
                       headers={"X-Forwarded-For": "203.0.113.21"}).status_code == 303
    revision = db.session.scalar(sa.select(Sop.current_revision_id).where(Sop.code == "FO-CI-001"))
    r = auth.post("/sops/FO-CI-001/ack", {"password": "demo-2026", "revision_id": revision},
                  token_from="/sops/FO-CI-001/ack", headers={"X-Forwarded-For": "203.0.113.21"})
    assert r.status_code in (200, 303)
    ack = db.session.scalar(sa.select(Acknowledgement).where(Acknowledgement.revision_id == revision,
                                                             Acknowledgement.user.has(username="newhire")))
    assert ack.ip == "203.0.113.21" and last_audit().action == "ack.sign" and last_audit().ip == "203.0.113.21"


def test_without_proxy_hops_the_header_is_ignored(direct_app):
    assert wrong_login(direct_app, "203.0.113.5") == 401
    assert last_audit().ip == "127.0.0.1"
    assert wrong_login(direct_app, "198.51.100.8") == 401
    assert wrong_login(direct_app, "192.0.2.1") == 429  # one address, whatever the header says

"""Two app nodes behind nginx, on one PostgreSQL database and one Redis: the machinery of tests/test_cluster.py and
bench/cluster.py (docs/deploy.md describes the same set-up for real).

Everything is started from here and stopped by its own handle: a throw-away database (CREATE DATABASE), a private
redis-server on a free port, gunicorn nodes from the shipped gunicorn.conf.py, each with its own instance folder
(its own Whoosh index), and Debian's nginx as a round-robin upstream, with its config and temp paths in a tmpdir.
Nothing here imports pytest.
"""
import functools
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("SOP_CLUSTER_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "demo-2026"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def missing_services() -> list[str]:
    """What this machine lacks for a two-node run, each with the reason (empty: all there)."""
    import psycopg

    missing = []
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as e:
        missing.append(f"PostgreSQL does not answer at {PG_ADMIN_URL} ({e}); set SOP_CLUSTER_PG_URL")
    if not shutil.which("redis-server"):
        missing.append("redis-server is not installed (Debian: apt-get install redis-server)")
    if not nginx_binary():
        missing.append("nginx is not installed (Debian: apt-get install nginx)")
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, path: str = "/healthz", proc: subprocess.Popen | None = None, log: Path | None = None,
              timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n" + (log.read_text(errors="replace") if log else ""))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered {path} on port {port} within {timeout:g} s:\n"
                       + (log.read_text(errors="replace") if log else ""))


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the process group of the one we started
        proc.wait(timeout=5)


# PostgreSQL ---------------------------------------------------------------------------------------------------


def create_database() -> str:
    import psycopg

    name = f"sop_cluster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')


def build_app(url: str, instance: Path, content: Path, audit_key: str):
    """An app in this process over the cluster's database: it migrates and loads the demo, and the test (or the
    benchmark) reads the database through it."""
    from app import create_app

    os.environ["SOP_INSTANCE_DIR"] = str(instance)
    return create_app({"TESTING": True, "SECRET_KEY": "cluster-build-key-0123456789", "SQLALCHEMY_DATABASE_URI": url,
                       "SOP_DIR": str(content / "sops"), "CONTENT_DIR": str(content), "AUDIT_KEY": audit_key,
                       "RATELIMIT_ENABLED": False, "NOTIFY_IN_BACKGROUND": False})


def load_demo(app) -> None:
    from flask_migrate import upgrade

    from app import demo
    from app.extensions import db

    with app.app_context():
        upgrade()
        demo.load()
        db.session.commit()
        db.session.remove()


class TcpRelay:
    """A TCP relay in this process (127.0.0.1:port → target) that can be cut and restored: a node whose database
    goes away, and comes back, without touching the real server."""

    def __init__(self, target_port: int):
        self.target, self.port = target_port, free_port()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Refuse new connections and break every open one (as a server that went away)."""
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.conns.clear()


# Redis ---------------------------------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port, no persistence; stopped and started again on the same port."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--dir", str(self.folder),
                        "--pidfile", str(self.folder / "redis.pid"), "--logfile", str(self.folder / "redis.log")],
                       check=True, capture_output=True)
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)

    def stop(self) -> None:
        pidfile = self.folder / "redis.pid"
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pidfile.unlink(missing_ok=True)


# gunicorn nodes and nginx --------------------------------------------------------------------------------------


@functools.cache
def gunicorn_has(flag: str) -> bool:
    return flag in subprocess.run([str(BIN / "gunicorn"), "--help"], capture_output=True, text=True).stdout


class Node:
    """One app node: gunicorn with the shipped gunicorn.conf.py, its own instance folder, on a fixed port."""

    def __init__(self, name: str, folder: Path, settings: dict, workers: int = 1):
        self.name, self.folder, self.settings, self.workers = name, folder, settings, workers
        self.instance, self.port, self.log = folder / "instance", free_port(), folder / "gunicorn.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FLASK_", "GUNICORN_")) and k not in (
                   "SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY", "RATELIMIT_STORAGE_URI", "PROXY_HOPS", "AUDIT_KEY",
                   "SOP_DIR", "CONTENT_DIR")}
        env.update(SOP_INSTANCE_DIR=str(self.instance), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **self.settings)
        return env

    def start(self) -> None:
        self.instance.mkdir(parents=True, exist_ok=True)
        cmd = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
               "--access-logfile", "-", "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "wsgi:app"]
        if gunicorn_has("--no-control-socket"):
            cmd.insert(-1, "--no-control-socket")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait(self) -> None:
        wait_port(self.port, proc=self.proc, log=self.log)

    def stop(self) -> None:
        stop_process(self.proc)

    def flask(self, *args: str, extra: dict | None = None) -> subprocess.Popen:
        """A `flask …` command as this node's cron would run it (same settings, same instance folder)."""
        env = {**self.env(), "FLASK_APP": "wsgi.py", **(extra or {})}
        return subprocess.Popen([str(BIN / "flask"), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)


NGINX_CONF = """\
worker_processes 1;
{user}
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format upstream '$upstream_addr $request_method $uri $status';
    access_log {tmp}/access.log upstream;
    client_max_body_size 20m;
    client_body_buffer_size 1m;
    upstream portal {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://portal;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


class Nginx:
    """Debian's nginx in the foreground, its config, logs, pid and temp paths in folder; round robin over nodes."""

    def __init__(self, folder: Path, nodes: list[Node]):
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{n.port};" for n in nodes)
        user = "user root;" if os.geteuid() == 0 else ""  # the worker writes the temp paths in a root-only tmpdir
        (folder / "nginx.conf").write_text(NGINX_CONF.format(tmp=folder, servers=servers, port=self.port, user=user))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.folder / "nginx.out"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [nginx_binary(), "-p", str(self.folder), "-e", str(self.folder / "error.log"), "-c", "nginx.conf",
                 "-g", f"daemon off; pid {self.folder}/pid;"], stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_port(self.port, proc=self.proc, log=self.folder / "error.log")

    def upstreams(self) -> list[str]:
        """The node (host:port) that answered each request so far, in order."""
        path = self.folder / "access.log"
        return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        stop_process(self.proc)


# A browser ------------------------------------------------------------------------------------------------------


class Http:
    """One cookie jar; every request on a new connection to `port` (a node, or nginx)."""

    def __init__(self, port: int, forwarded_for: str = "", source: str = ""):
        self.port, self.cookie, self.forwarded_for, self.source = port, "", forwarded_for, source

    def at(self, port: int) -> "Http":
        """The same browser (same session cookie) talking to another port."""
        other = Http(port, self.forwarded_for, self.source)
        other.cookie = self.cookie
        return other

    def request(self, method: str, path: str, body: dict | None = None, files: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60,
                                          source_address=(self.source, 0) if self.source else None)
        head = {"Cookie": self.cookie, **({"X-Forwarded-For": self.forwarded_for} if self.forwarded_for else {}),
                **(headers or {})}
        data = None
        if files:
            boundary = uuid.uuid4().hex
            parts = []
            for k, v in (body or {}).items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
            for k, (filename, content, ctype) in files.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{filename}"\r\n'
                             f'Content-Type: {ctype}\r\n\r\n'.encode() + content + b"\r\n")
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            head["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = urlencode(body).encode()
            head["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, data, head)
        resp = conn.getresponse()
        content = resp.read()
        for header in resp.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]
        result = resp.status, dict(resp.headers), content
        conn.close()
        return result

    def get(self, path: str, **kw) -> tuple[int, str]:
        status, _headers, content = self.request("GET", path, **kw)
        return status, content.decode(errors="replace")

    def token(self, path: str = "/login") -> str:
        _status, html = self.get(path)
        m = TOKEN.search(html)
        assert m, f"no CSRF token on {path}"
        return m.group(1) or m.group(2)

    def post(self, path: str, body: dict | None = None, token_from: str = "/", **kw) -> tuple[int, dict, bytes]:
        return self.request("POST", path, {"csrf_token": self.token(token_from), **(body or {})}, **kw)

    def login(self, username: str, password: str = PASSWORD) -> int:
        return self.request("POST", "/login", {"username": username, "password": password,
                                               "csrf_token": self.token("/login")})[0]


def publish(app, author: Http, approver: Http, code: str, marker: str) -> int:
    """Edit `code` (author), add a paragraph holding marker, submit, review and approve (approver): the approval
    publishes it on the approver's node. Returns the draft's id."""
    from app.authoring import drafts
    from app.authoring.models import Draft
    from app.authoring.views_form import form_values
    from app.extensions import db

    status, headers, _ = author.post(f"/sops/{code}/edit", token_from=f"/sops/{code}")
    assert status == 303, status
    draft_id = int(re.search(r"/drafts/(\d+)$", headers["Location"]).group(1))
    with app.app_context():
        d = db.session.get(Draft, draft_id)
        meta, body = drafts.split(d.text)
        form = {k: v for k, v in form_values(meta).items() if v not in (None, False)}
        form.update(form_sent="1", body=f"{body}\n\n{marker}\n", change_note=f"集群验证 {marker}",
                    base_version=d.version)
        db.session.remove()
    status, _h, content = author.post(f"/drafts/{draft_id}/submit", form, token_from=f"/drafts/{draft_id}")
    assert status == 303, content[:2000]
    for step in ("review", "approve"):
        status, _h, content = approver.post(f"/drafts/{draft_id}/{step}", {"password": PASSWORD},
                                            token_from=f"/drafts/{draft_id}")
        assert status == 303, (step, status, content[:2000])
    return draft_id


def search_codes(browser: Http, text: str) -> list[str]:
    import json

    status, body = browser.get("/api/search?" + urlencode({"q": text}))
    assert status == 200, (status, body[:500])
    return [hit["id"] for hit in json.loads(body)]

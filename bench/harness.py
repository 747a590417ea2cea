"""What the benchmarks share: a temporary instance's environment, gunicorn started and stopped, an HTTP
client with a cookie jar that logs in through the real form, percentiles and the machine's load.

Imported by the scripts in bench/ (run as `python bench/<name>.py`, so this folder is on sys.path).
"""
import http.client
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"  # loopback only


def tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def bench_env(instance: Path, content: Path) -> dict:
    env = dict(os.environ)
    for key in ("DATABASE_URL", "SOP_DIR", "CONTENT_DIR", "GUNICORN_ACCESSLOG", "GUNICORN_CMD_ARGS", "GUNICORN_BIND",
                "GUNICORN_MAX_REQUESTS", "WEB_CONCURRENCY"):
        env.pop(key, None)
    env.update(SOP_INSTANCE_DIR=str(instance), CONTENT_DIR=str(content), SOP_DIR=str(content / "sops"),
               FLASK_RATELIMIT_ENABLED="false", FLASK_APP="wsgi.py", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
               SECRET_KEY=secrets.token_hex(32))  # a throw-away instance: a throw-away key
    return env


def run_flask(args: list[str], env: dict, timeout: float = 300) -> tuple[str, float]:
    t0 = time.monotonic()
    proc = subprocess.run([tool("flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout, elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, env: dict, log: Path) -> subprocess.Popen:
    cmd = [tool("gunicorn"), "-c", "gunicorn.conf.py", "-w", "2", "-b", f"{HOST}:{port}"]
    help_text = subprocess.run([tool("gunicorn"), "--help"], capture_output=True, text=True, timeout=30).stdout
    if "--no-control-socket" in help_text:
        cmd.append("--no-control-socket")
    cmd.append("wsgi:app")
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    """SIGTERM to the master we started, then SIGKILL to its own process group if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class Client:
    """One user's browser: a cookie jar kept up to date from every response; a new connection per request."""

    def __init__(self, port: int):
        self.port, self.jar = port, SimpleCookie()

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        hdrs = dict(headers or {})
        if self.jar:
            hdrs["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.jar.items())
        body = None
        if form is not None:
            body = urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        elapsed = time.perf_counter() - t0
        for value in resp.headers.get_all("Set-Cookie") or []:
            self.jar.load(value)
        return resp.status, data, elapsed

    def login(self, username: str, password: str) -> None:
        status, body, _t = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
        if status != 200 or not token:
            sys.exit(f"GET /login answered {status} without a csrf_token field")
        status, _b, _t = self.request("POST", "/login", form={
            "username": username, "password": password, "csrf_token": token.group(1).decode()})
        if status != 303:
            sys.exit(f"POST /login as {username} answered {status}, expected 303")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile, values in seconds, result in ms."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)] * 1e3 if s else float("nan")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"

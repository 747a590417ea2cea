"""Login timing: a wrong password for a known, an unknown and a deactivated account should cost the same.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/login.py [--rounds 30]

Everything happens in a temporary folder (never instance/): a fresh SQLite database (`flask db upgrade`,
`flask demo load`, one demo account deactivated), then gunicorn (gunicorn.conf.py, 2 sync workers on 127.0.0.1,
rate limits off). Each round POSTs /login once per kind, in turn, one request at a time, with a valid CSRF token:
  - known:       fo.staff with a wrong password
  - unknown:     a name that does not exist
  - deactivated: fo.night (deactivated) with a wrong password
Prints median and p90 per kind and the largest difference of medians. Figures only, never asserted
(tests/test_auth.py checks the behaviour: one hash of the same method and cost in every case).
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (ROOT, Client, bench_env, free_port, load, percentile, run_flask, start_gunicorn,  # noqa: E402
                     stop_gunicorn, wait_ready)

KINDS = {"known": "fo.staff", "unknown": "no.such.person", "deactivated": "fo.night"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    print(f"login timing benchmark: {load()}")
    with tempfile.TemporaryDirectory(prefix="sop-bench-login-") as tmp_name:
        tmp = Path(tmp_name)
        content = tmp / "content"
        subprocess.run(["cp", "-r", str(ROOT / "content"), str(content)], check=True)
        env = bench_env(tmp / "instance", content)
        run_flask(["db", "upgrade"], env)
        run_flask(["demo", "load"], env)
        code = ("from app import create_app; from app.extensions import db; from app.auth.models import User; "
                "import sqlalchemy as sa\nwith create_app().app_context():\n"
                "    db.session.scalar(sa.select(User).where(User.username == 'fo.night')).active = False\n"
                "    db.session.commit()")
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
        port, log = free_port(), tmp / "gunicorn.log"
        server = start_gunicorn(port, env, log)
        try:
            wait_ready(server, port, log)
            client = Client(port)
            _s, body, _t = client.request("GET", "/login")
            token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body).group(1).decode()
            times: dict[str, list[float]] = {k: [] for k in KINDS}
            for kind, name in KINDS.items():  # warm-up: each worker's first hash, imports
                for _ in range(2):
                    client.request("POST", "/login", {"username": name, "password": "wrong-pass", "csrf_token": token})
            for _ in range(args.rounds):
                for kind, name in KINDS.items():
                    status, _b, elapsed = client.request("POST", "/login", {"username": name, "password": "wrong-pass",
                                                                            "csrf_token": token})
                    if status != 401:
                        sys.exit(f"POST /login as {name} answered {status}, expected 401")
                    times[kind].append(elapsed)
        finally:
            stop_gunicorn(server)
    print(f"gunicorn: 2 sync workers on 127.0.0.1:{port}, rate limits off; {args.rounds} rounds, one request at a time")
    medians = {}
    for kind, values in times.items():
        medians[kind] = statistics.median(values) * 1e3
        print(f"  wrong password, {kind:<11} median {medians[kind]:6.1f} ms   p90 {percentile(values, 90):6.1f} ms")
    print(f"  largest difference of medians: {max(medians.values()) - min(medians.values()):.1f} ms")


if __name__ == "__main__":
    main()

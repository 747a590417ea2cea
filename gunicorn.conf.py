"""Production gunicorn settings: gunicorn -c gunicorn.conf.py wsgi:app

Command-line flags (-w, -b, ...) override these values; bench/pages.py relies on that.
"""
import os

# Address to listen on. Behind a reverse proxy keep it on loopback; override with GUNICORN_BIND.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Worker processes. The reference machine has 2 cores: one sync worker per core. Override with WEB_CONCURRENCY.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Plain pre-fork workers: each handles one request at a time (the app does short, CPU-bound work).
worker_class = "sync"

# One thread per worker (only used by threaded worker classes; stated to make the model explicit).
threads = 1

# A worker silent for this many seconds is killed and replaced.
timeout = 30

# Seconds a worker gets to finish in-flight requests after a restart/stop signal.
graceful_timeout = 30

# Seconds to keep an idle keep-alive connection open. Sync workers ignore it (they close the connection after
# each response); it takes effect if worker_class is changed to gthread/gevent.
keepalive = 5

# Recycle each worker after this many requests (0 = never). The app holds no growing state (its page cache is
# bounded), so recycling is off; set GUNICORN_MAX_REQUESTS to bound memory growth from a leaky extension.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))

# A random spread so that, when recycling is on, the workers do not all restart at the same moment.
max_requests_jitter = max_requests // 10

# Access log to stdout only when GUNICORN_ACCESSLOG is set; off by default (the reverse proxy logs requests,
# and per-request logging would slow the benchmark).
accesslog = "-" if os.environ.get("GUNICORN_ACCESSLOG") else None

# Errors and worker lifecycle messages go to stderr.
errorlog = "-"

# Trust X-Forwarded-Proto only from the reverse proxy: the local one, or the address(es) in FORWARDED_ALLOW_IPS when
# nginx runs on another machine (docs/deploy.md). The client's address (rate limits, the audit trail, signatures)
# comes from X-Forwarded-For only when the app's PROXY_HOPS says how many proxies to trust.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Each worker imports the app itself (no shared state created before fork, e.g. database connections).
preload_app = False


def on_starting(server):
    """Refuse, before any worker starts, a configuration that would not protect logins: the public development
    SECRET_KEY, or memory:// rate-limit storage with several workers (each would count on its own, so 4 workers
    let through 4 times as many password guesses). Same settings as the app: app.config.load()."""
    from flask import Config
    from flask.helpers import get_debug_flag

    from app import instance_path
    from app.config import load, rate_limit_problem, secret_key_problem

    config = Config(instance_path())
    load(config, instance_path())
    problems = [rate_limit_problem(config, server.cfg.workers)]
    if not (config.get("TESTING") or get_debug_flag()):
        problems.append(secret_key_problem(config))
    problems = [p for p in problems if p]
    if problems:
        raise RuntimeError("refusing to start:\n  " + "\n  ".join(problems))  # gunicorn prints it and exits 1


def post_worker_init(worker):
    """Move everything loaded so far (the app, its templates, jieba's dictionary) out of the garbage
    collector's view: full collections then walk only per-request objects, which took p99 from ~80 ms
    to the p95 on the checklist page benchmark."""
    import gc

    gc.collect()
    gc.freeze()
    worker.log.info("Worker ready (pid: %s)", worker.pid)  # the app is loaded: this worker takes requests now

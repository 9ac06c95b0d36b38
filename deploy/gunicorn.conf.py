"""Gunicorn's configuration for the platform (docs/deploy.md). Read by the web unit:

    gunicorn -c deploy/gunicorn.conf.py config.wsgi:application

Every value can be changed from the unit's environment file (/etc/billpay/billpay.env) without editing
this file. nginx on the same machine is the only client: it terminates TLS and proxies here. Django's
system checks run when a worker loads config/wsgi.py: with an unsafe production setting the workers fail
to boot and gunicorn exits with the check's message.
"""

import multiprocessing
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: config.logs, config.env
from config.env import env_bool, env_str
from config.logs import gunicorn_logging


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# Where nginx finds us: the loopback only. A TCP port rather than a unix socket so that REMOTE_ADDR is
# 127.0.0.1, the one trusted proxy (TRUSTED_PROXIES=127.0.0.1/32) behind which X-Forwarded-For is believed.
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
# Sync workers: the platform's views are short and database-bound. Twice the cores plus one, as gunicorn
# advises; GUNICORN_WORKERS sets it outright (a small machine shared with the Celery worker wants fewer).
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
# A request that takes longer than this is killed and its worker restarted (nginx waits a little longer:
# proxy_read_timeout 60s in deploy/nginx/billpay.conf). Big imports and PDFs run in Celery, not here.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Recycle workers now and then so a slow leak never grows without bound. A new worker imports the platform
# and runs its system checks: about 2.5 s of CPU on the 2-core machine, during which it serves nothing. After
# 1,000 requests that was 2.5 ms a request, a quarter of a partner API payment's own CPU; after 20,000 it is
# 0.1 ms. The jitter (a tenth) keeps the workers, which share the requests evenly, from restarting together.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
# Heartbeat files in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Only the local nginx may set X-Forwarded-Proto/For.
# Django reads the client address and the scheme itself (TRUSTED_PROXIES, SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs go to stdout/stderr: journald keeps them under the unit's name (journalctl -u billpay-web).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The client as nginx saw it, the request, status, bytes, referrer, agent and the time taken in seconds.
access_log_format = '%({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s'
proc_name = "billpay-web"
# gunicorn's own lines in the platform's format (config/logs.py): JSON with DEBUG off, as LOG_FORMAT says; the
# access line carries the request id Django answered with (X-Request-ID).
logconfig_dict = gunicorn_logging(
    json=env_str("LOG_FORMAT", "console" if env_bool("DEBUG", True) else "json") == "json",
    level=env_str("LOG_LEVEL", "INFO"),
)
# gunicorn's logger, its access line built from the atoms the format names (config/logs.py).
logger_class = "config.logs.AccessLogger"

# Prometheus metrics (/metrics, config/metrics.py) from every worker: each writes its counts to files in this
# directory and /metrics adds them up, whichever worker answers. On a tmpfs (/run or /dev/shm): emptied when
# the machine starts. A Celery worker on the same machine given the same directory is counted too. It must
# be in the environment before the application imports prometheus_client, hence here and not in settings.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else "/tmp", "billpay-prometheus"),
)
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def child_exit(server, worker):
    """A worker that ended (recycled by max_requests, or killed): its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

"""Production start: `gunicorn -c gunicorn.conf.py` (docs/operations.md, README: Production).

Every setting comes from the environment, with the defaults this project is
measured with: gthread workers, so single posts arriving together share their
commit (docs/ingestion.md, group commit), drained before they stop
(mes/draining_worker.py: not ready first, `Connection: close`, then exit). The hooks
keep /metrics right across workers (mes/metrics.py): the metrics directory is emptied
when the server starts, and a worker that exits has its live gauges removed.

It listens on 127.0.0.1:8000 by default: behind the proxy on the same host
(docs/operations.md, "Behind a load balancer"). A client that can reach gunicorn
directly can claim `X-Forwarded-Proto: https`, so bind it elsewhere only to an address
the proxy alone can reach, and name the proxy in FORWARDED_ALLOW_IPS.
"""

import os
import shutil
import tempfile
from pathlib import Path

from mes.env_file import read_env_file

# The settings file MES_ENV_FILE names, read here too so that gunicorn's own settings
# (GUNICORN_*, FORWARDED_ALLOW_IPS, LOG_FORMAT) come from the same file as the app's; a
# variable already in the environment wins, as in the app (mes/env_file.py).
read_env_file()

# prometheus-client reads this when it is first imported, in the workers: set it first.
# One directory per server (this is read in gunicorn's master): two servers on one machine
# must not empty or add up each other's figures.
metrics_directory = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(
        Path(os.environ.get("RUNTIME_DIRECTORY", tempfile.gettempdir()))
        / f"mes-metrics-{os.getpid()}"
    ),
)

# Imported here, in the master, after the variable: a hook importing it while two workers
# exit at once (two SIGCHLD) would import it twice over and fail.
from prometheus_client import multiprocess  # noqa: E402

from mes import draining_worker  # noqa: E402
from mes.log_format import log_format, logging_config  # noqa: E402  (after the variable)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 2))
worker_class = "mes.draining_worker.DrainingThreadWorker"  # gthread, drained on SIGTERM
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request that takes longer is stuck: the worker is replaced (its threads' requests fail).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# On SIGTERM the workers answer /readyz 503 and keep serving this long, so the load
# balancer's health checks take the server out before it stops listening: at least the
# checks' interval times their fall count, plus one interval (deploy/haproxy: 1 s × 2).
drain_seconds = float(os.environ.get("GUNICORN_DRAIN_SECONDS", "5"))
if not 0 <= drain_seconds <= graceful_timeout - 5:
    raise RuntimeError(
        f"GUNICORN_DRAIN_SECONDS ({drain_seconds:g}) must be between 0 and "
        f"GUNICORN_GRACEFUL_TIMEOUT - 5 ({graceful_timeout - 5}): after the drain the "
        "requests in flight need time to finish before the master kills the workers."
    )
draining_worker.DrainingThreadWorker.drain_seconds = drain_seconds
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
# Workers are replaced after this many requests (0: never), a little apart.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Each request is logged once, by the app (mes/request_log.py: with its request id,
# gateway and events); gunicorn's own access log would say it again. GUNICORN_ACCESS_LOG=-
# turns it on (to stderr).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
logger_class = "mes.gunicorn_logger.AccessLogWhenOn"  # no access line built when off
# The proxy's address: only its X-Forwarded-* headers are believed (the proxy on this host).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's own lines in the app's format (JSON in production).
logconfig_dict = logging_config(
    log_format(os.environ.get("DEBUG", "") in {"1", "true", "yes", "on"}),
    os.environ.get("LOG_LEVEL", "INFO"),
    access_log=accesslog is not None,
)
wsgi_app = "mes.wsgi:application"


def when_ready(server):
    """A SIGTERM to the master makes the workers drain (a reload replaces them at once)."""
    draining_worker.watch_for_server_stop(server)


def on_starting(server):
    """Empty the metrics directory: figures of an earlier run must not be added up."""
    shutil.rmtree(metrics_directory, ignore_errors=True)
    Path(metrics_directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    """A worker is gone: drop its live gauges (its counters stay, as Prometheus expects)."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The server stops: its figures go with it (Prometheus has scraped them)."""
    shutil.rmtree(metrics_directory, ignore_errors=True)

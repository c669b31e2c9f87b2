"""Gunicorn settings, read from the environment so the local stack and compose share them."""

import os

from prometheus_client import multiprocess

from shared.env import env_int, env_str
from shared.logs import check_log_format, gunicorn_logging_config

# A unix socket in the local stack (unix:/run/dir/web.sock), a port in a container.
bind = env_str("WEB_BIND", "0.0.0.0:8000")
# Pages are short and I/O bound (a Redis or SQL read): a few threads per process suffice.
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
worker_class = "gthread"
threads = env_int("WEB_THREADS", 4, minimum=1)
# nginx buffers slow clients, so a request that takes this long is stuck, not slow.
timeout = 30
graceful_timeout = 10
accesslog = "-"
errorlog = "-"
# nginx sets X-Forwarded-For to the real peer; only nginx talks to Gunicorn.
forwarded_allow_ips = "*"
# No control socket (gunicornc): by default Gunicorn puts it under $HOME/.gunicorn, and the
# image's user has no home (/nonexistent), so every start logged "Control server error".
control_socket_disable = True

# LOG_FORMAT=json: Gunicorn's own lines (errors, access) as JSON too, like the app's (shared/logs.py).
if check_log_format(env_str("LOG_FORMAT", "text")) == "json":
    logconfig_dict = gunicorn_logging_config(env_str("LOG_LEVEL", "INFO"))


def child_exit(server, worker) -> None:
    """Multiprocess metrics: a worker's live gauges leave with it (prometheus-client's recipe)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)

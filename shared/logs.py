"""Log format of every process: readable text by default, one JSON object per line with
LOG_FORMAT=json (python-json-logger), each line carrying the socket or request id it belongs to.

A JSON line: {"time": "2026-12-02 06:10:00,123", "level": "INFO", "logger": "ws.board",
"message": "...", "socket_id": "5f0c..."} plus, for an error, "exc_info" (the traceback as one
string). Access lines add "method", "path", "status" and, from Gunicorn, "duration_ms" and
"request_id" (Daphne's add "client").

The ids travel in context variables: ws/consumers/base.py sets SOCKET_ID when a socket connects
(each consumer runs in its own task, so the id follows everything that task logs);
web/middleware.py sets REQUEST_ID for each page request (from nginx's X-Request-ID).
"""

import logging
import re
import uuid
from contextvars import ContextVar

from django.core.exceptions import ImproperlyConfigured

LOG_FORMATS = ("text", "json")
SOCKET_ID: ContextVar[str | None] = ContextVar("socket_id", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# An id taken from a request header: nginx's $request_id is 32 hex digits; allow any tracer's
# short token, but nothing that could forge a log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


def new_socket_id() -> str:
    return uuid.uuid4().hex[:16]


def request_id_from(header: str | None) -> str:
    """The request id nginx sent (X-Request-ID) if it looks like one, else a fresh one."""
    return header if header and _SAFE_ID.match(header) else uuid.uuid4().hex


def check_log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be 'text' or 'json', not {value!r}")
    return value


class ContextIds(logging.Filter):
    """Adds `socket_id` and `request_id` to a record when its code runs for one."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("socket_id", SOCKET_ID), ("request_id", REQUEST_ID)):
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


class GunicornAccessFields(logging.Filter):
    """Gunicorn's access record carries its atoms as `args`: lift the useful ones into fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, dict):
            record.method = atoms.get("m")
            record.path = atoms.get("U")
            record.status = _int_or_none(atoms.get("s"))
            record.duration_ms = atoms.get("D", 0) / 1000 if isinstance(atoms.get("D"), int) else None
            # Over a unix socket REMOTE_ADDR is empty: the peer is what nginx forwarded.
            forwarded = atoms.get("{x-forwarded-for}i")
            record.client = forwarded if forwarded and forwarded != "-" else atoms.get("h") or None
            request_id = atoms.get("{x-request-id}o")
            if request_id and request_id != "-":
                record.request_id = request_id
        return True


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _formatters() -> dict:
    return {
        "text": {"format": TEXT_FORMAT},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAMES,
        },
    }


def logging_config(log_format: str, level: str) -> dict:
    """Django's LOGGING (every process that loads the settings)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context_ids": {"()": "shared.logs.ContextIds"}},
        "formatters": _formatters(),
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context_ids"]},
        },
        "root": {"handlers": ["console"], "level": level},
        # Daphne logs every handshake at INFO: at a thousand clients that drowns the rest.
        "loggers": {"daphne": {"level": "WARNING"}},
    }


def gunicorn_logging_config(level: str) -> dict:
    """Gunicorn's `logconfig_dict` for LOG_FORMAT=json: its error and access logs as JSON lines."""
    config = logging_config("json", level)
    config["filters"]["access_fields"] = {"()": "shared.logs.GunicornAccessFields"}
    config["handlers"]["access"] = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["access_fields"],
        "stream": "ext://sys.stdout",
    }
    config["loggers"] = {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    }
    return config

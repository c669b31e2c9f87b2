"""Log format (shared/logs.py) and the page middleware that tags and counts requests."""

import json
import logging
import logging.config
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import REGISTRY

from shared.logs import (
    REQUEST_ID,
    SOCKET_ID,
    TEXT_FORMAT,
    ContextIds,
    GunicornAccessFields,
    check_log_format,
    gunicorn_logging_config,
    logging_config,
    request_id_from,
)


def formatter(config: dict, name: str) -> logging.Formatter:
    """The formatter `name` exactly as dictConfig builds it from `config`."""
    return logging.config.DictConfigurator(config).configure_formatter(config["formatters"][name])


def record(message: str = "a board tick failed", *args, exc_info=None) -> logging.LogRecord:
    made = logging.LogRecord("ws.board", logging.ERROR, __file__, 1, message, args, exc_info)
    ContextIds().filter(made)
    return made


def json_line(config: dict, made: logging.LogRecord) -> dict:
    line = formatter(config, "json").format(made)
    assert "\n" not in line
    return json.loads(line)


def test_a_json_line_has_time_level_logger_message_and_the_socket_id():
    """Inside a socket's task, every record names the socket; no request id is invented."""
    token = SOCKET_ID.set("5f0c9a")
    try:
        fields = json_line(logging_config("json", "INFO"), record("took %d ms", 12))
    finally:
        SOCKET_ID.reset(token)
    assert fields["level"] == "ERROR"
    assert fields["logger"] == "ws.board"
    assert fields["message"] == "took 12 ms"
    assert fields["socket_id"] == "5f0c9a"
    assert fields["time"]
    assert "request_id" not in fields


def test_a_traceback_stays_on_the_one_json_line():
    """An exception's traceback is one string field, so each line is still one object."""
    token = REQUEST_ID.set("abc123")
    try:
        raise ValueError("boom")
    except ValueError:
        made = record(exc_info=sys.exc_info())
    finally:
        REQUEST_ID.reset(token)
    fields = json_line(logging_config("json", "INFO"), made)
    assert "Traceback" in fields["exc_info"]
    assert "ValueError: boom" in fields["exc_info"]
    assert fields["request_id"] == "abc123"


def test_the_default_stays_readable_text_and_a_bad_format_is_refused():
    """LOG_FORMAT=text (the default) keeps the plain line; anything else but json is an error."""
    config = logging_config(check_log_format("text"), "INFO")
    assert config["handlers"]["console"]["formatter"] == "text"
    line = formatter(config, "text").format(record("hello"))
    assert line.endswith(" ERROR ws.board: hello")
    assert config["formatters"]["text"]["format"] == TEXT_FORMAT
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        check_log_format("xml")


def test_a_gunicorn_access_line_has_method_path_status_duration_client_and_request_id():
    """Gunicorn logs access with its atoms as args: they become fields, the message stays the line."""
    atoms = {
        "h": "",
        "{x-forwarded-for}i": "203.0.113.9",
        "m": "GET",
        "U": "/private/",
        "s": "200",
        "D": 2500,
        "r": "GET /private/ HTTP/1.1",
        "{x-request-id}o": "0123abcd",
    }
    made = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', (atoms,), None)
    assert made.args == atoms  # logging unwraps a lone dict argument, as Gunicorn relies on
    GunicornAccessFields().filter(made)
    fields = json_line(gunicorn_logging_config("INFO"), made)
    assert fields["message"] == ' "GET /private/ HTTP/1.1" 200'
    assert fields["client"] == "203.0.113.9"  # the peer nginx saw, not Gunicorn's unix socket
    assert (fields["method"], fields["path"], fields["status"]) == ("GET", "/private/", 200)
    assert fields["duration_ms"] == 2.5
    assert fields["request_id"] == "0123abcd"


def test_gunicorn_json_config_sends_its_loggers_to_json_handlers_only():
    """Gunicorn's two loggers do not propagate, so no line is written twice."""
    config = gunicorn_logging_config("INFO")
    for name in ("gunicorn.error", "gunicorn.access"):
        assert config["loggers"][name]["propagate"] is False
        for handler in config["loggers"][name]["handlers"]:
            assert config["handlers"][handler]["formatter"] == "json"


@pytest.mark.parametrize("header", [None, "", "has space", "line\nbreak", "x" * 65, '"quoted"'])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(header):
    """Only a short token of safe characters is taken from the header; the rest get a uuid."""
    fresh = request_id_from(header)
    assert fresh != header
    assert len(fresh) == 32
    assert int(fresh, 16) >= 0


def test_nginx_request_id_is_kept():
    assert request_id_from("9d2f0c1e4b7a6d5c3b2a1f0e9d8c7b6a") == "9d2f0c1e4b7a6d5c3b2a1f0e9d8c7b6a"


@pytest.mark.django_db
def test_a_page_answers_with_its_request_id_and_is_counted_by_route(client):
    """The response carries the request id; the request counts under its route, method and status."""
    labels = {"method": "GET", "view": "/chat/<str:room>/", "status": "200"}
    before = REGISTRY.get_sample_value("ping_http_requests_total", labels) or 0
    timed = REGISTRY.get_sample_value("ping_http_request_duration_seconds_count", {"method": "GET", "view": "/"}) or 0
    response = client.get("/chat/lobby/", HTTP_X_REQUEST_ID="abc-123")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "abc-123"
    assert REGISTRY.get_sample_value("ping_http_requests_total", labels) == before + 1
    client.get("/")
    after = REGISTRY.get_sample_value("ping_http_request_duration_seconds_count", {"method": "GET", "view": "/"})
    assert after == timed + 1
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert REGISTRY.get_sample_value(
        "ping_http_requests_total", {"method": "GET", "view": "unmatched", "status": "404"}
    )


class Captured(logging.Handler):
    """Records what a handler with the app's ContextIds filter would see."""

    def __init__(self):
        super().__init__()
        self.addFilter(ContextIds())
        self.records: list[logging.LogRecord] = []

    def emit(self, made: logging.LogRecord) -> None:
        self.records.append(made)


@pytest.mark.django_db
def test_djangos_own_line_about_a_404_carries_the_request_id_and_the_id_ends_with_the_response(client):
    """Django logs an error response after the middleware returns: the id is still set then, not after."""
    captured = Captured()
    logger = logging.getLogger("django.request")
    logger.addHandler(captured)
    try:
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-404")
    finally:
        logger.removeHandler(captured)
    assert response.status_code == 404
    assert [made.request_id for made in captured.records] == ["req-404"]
    assert REQUEST_ID.get() is None

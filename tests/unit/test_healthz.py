"""shared.healthz, the web and ws containers' health check, against a real local HTTP server."""

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from shared import healthz


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012 (one test's record, reset by the fixture)

    def do_GET(self):
        Handler.paths.append(self.path)
        self.send_response(Handler.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 answering Handler.status; yields its port."""
    Handler.status, Handler.paths = 200, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthy_when_healthz_answers_200(server):
    assert healthz.main([str(server)]) == 0
    assert Handler.paths == ["/healthz"]


def test_unhealthy_when_healthz_answers_503(server, capsys):
    Handler.status = 503
    assert healthz.main([str(server)]) == 1
    assert "503" in capsys.readouterr().err


def test_unhealthy_when_nothing_listens(capsys):
    assert healthz.main([str(free_port())]) == 1
    assert capsys.readouterr().err.startswith("unhealthy: ")


@pytest.mark.parametrize("argv", [[], ["8000", "8001"], ["http://127.0.0.1:8000/healthz"]])
def test_usage_error_without_exactly_one_port(argv, capsys):
    assert healthz.main(argv) == 2
    assert "usage" in capsys.readouterr().err

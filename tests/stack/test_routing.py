"""The split deployment over real sockets: nginx routes pages to Gunicorn and /ws/ to Daphne."""

import json

import pytest

from deploy.stack import WS_WORKERS, _http_status
from tests.helpers import connect, fetch, handshakes, request

pytestmark = pytest.mark.stack


def test_every_page_is_served_through_nginx(stack):
    """Home and the private page answer 200 with HTML."""
    for path in ("/", "/private/"):
        status, headers, body = fetch(stack.url + path)
        assert status == 200, path
        assert headers["Content-Type"].startswith("text/html")
        assert b"<!doctype html>" in body.lower()


def test_health_reports_database_and_redis(stack):
    """/healthz on the web side checks both stores."""
    status, _, body = fetch(stack.url + "/healthz")
    assert status == 200
    assert json.loads(body) == {"database": True, "redis": True}


def test_pages_carry_the_security_headers_nginx_sets(stack):
    """CSP without inline scripts, no framing, no sniffing; each header exactly once."""
    _, headers, _ = fetch(stack.url + "/private/")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_come_from_disk_not_from_gunicorn(stack):
    """nginx serves /static/ from collectstatic output; Gunicorn never logs it."""
    status, headers, _ = fetch(stack.url + "/static/js/socket.js")
    assert status == 200
    assert "javascript" in headers["Content-Type"]
    assert "/static/" not in stack.log("web").read_text()


async def test_websockets_reach_daphne_and_never_gunicorn(stack):
    """A ping through nginx gets a pong; Gunicorn's access log never shows /ws/."""
    async with connect(stack.ws_url, "/ws/ping/") as socket:
        assert (await request(socket, {"type": "ping", "seq": 1}))["type"] == "pong"
    fetch(stack.url + "/private/")  # a page request after, so Gunicorn's log is not empty
    web_log = stack.log("web").read_text()
    assert "GET /private/" in web_log
    assert "/ws/" not in web_log


def test_daphne_refuses_to_serve_pages_even_when_asked_directly(stack):
    """Each Daphne worker answers a page request on its own socket with 404."""
    for worker in WS_WORKERS:
        assert _http_status(stack.ws_socket(worker), "/private/") == 404
        assert _http_status(stack.ws_socket(worker), "/healthz") == 200


def test_plain_http_under_ws_gets_daphnes_short_404(stack):
    """/ws/ without an upgrade reaches Daphne, which explains it serves sockets only."""
    status, _, body = fetch(stack.url + "/ws/ping/")
    assert status == 404
    assert b"only WebSocket" in body


async def test_sockets_are_spread_over_both_daphne_workers(stack):
    """least_conn puts concurrent sockets on both workers (each logs its own handshakes)."""
    before = handshakes(stack, "/ws/ping/")
    sockets = [await connect(stack.ws_url, "/ws/ping/") for _ in range(6)]
    for seq, socket in enumerate(sockets):
        assert (await request(socket, {"type": "ping", "seq": seq}))["seq"] == seq
    for socket in sockets:
        await socket.close()
    after = handshakes(stack, "/ws/ping/")
    assert all(after[n] > before[n] for n in WS_WORKERS), (before, after)

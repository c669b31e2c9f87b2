"""SENTRY_DSN: exceptions from pages and from consumers reach Sentry (shared/errors.py).

A local HTTP server stands in for Sentry's ingest (tests/sentry_ingest.py) and records what the
SDK posts; a test urlconf's view and an injected handler bug raise the exceptions.
"""

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sentry_sdk
from channels.testing import WebsocketCommunicator
from django.test import Client, override_settings
from django.urls import path

from shared.errors import report_asgi_errors, start_error_reporting
from tests.consumers.conftest import ORIGIN
from tests.sentry_ingest import SentryIngest
from ws.asgi import application, router
from ws.consumers.ping import PingConsumer

pytestmark = pytest.mark.django_db(transaction=True)


class PageBug(Exception):
    pass


def broken_page(request):
    raise PageBug("a page failed")


# The test urlconf: one page that always raises.
urlpatterns = [path("broken/", broken_page)]


@pytest.fixture
def ingest() -> Iterator[SentryIngest]:
    """Error reporting on, to the local ingest, for this test only."""
    with SentryIngest() as running:
        assert start_error_reporting(running.dsn, "test")
        yield running
        sentry_sdk.flush(timeout=5)
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.init()  # no DSN: off again


def reported_websocket(path: str) -> WebsocketCommunicator:
    """The ws.asgi router wrapped as ws/asgi.py wraps it when SENTRY_DSN is set at start."""
    return WebsocketCommunicator(report_asgi_errors(router), path, headers=[ORIGIN, (b"host", b"127.0.0.1:8000")])


def test_reporting_is_off_without_a_dsn():
    """No DSN: nothing starts, and the ASGI app is not even wrapped."""
    assert not start_error_reporting("", "test")
    assert not sentry_sdk.get_client().is_active()
    assert application is router
    assert report_asgi_errors(router) is router


def test_with_a_dsn_at_start_daphne_gets_the_wrapped_app():
    """ws/asgi.py wraps the router when SENTRY_DSN is set as the process starts (as Daphne imports it)."""
    env = {**os.environ, "SENTRY_DSN": "http://key@127.0.0.1:9/1", "DJANGO_SETTINGS_MODULE": "shared.settings"}
    show = "import ws.asgi as a; print(type(a.application).__name__, a.application.app is a.router)"
    done = subprocess.run(
        [sys.executable, "-c", show],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["SentryAsgiMiddleware", "True"]


def test_a_page_exception_is_reported(ingest):
    """The Django integration reports a view's exception; the visitor gets a 500."""
    with override_settings(ROOT_URLCONF=__name__):
        response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    event = ingest.wait_for("PageBug", "a page failed")
    assert event["environment"] == "test"
    assert "cookies" not in event.get("request", {})


async def test_a_handler_bug_is_answered_with_internal_error_and_reported(ingest, monkeypatch):
    """The safety net keeps the socket open; its log.exception reaches Sentry with the traceback."""

    def answer_ping(self, ping):
        raise ZeroDivisionError("a handler bug")

    monkeypatch.setattr(PingConsumer, "answer_ping", answer_ping)
    client = reported_websocket("/ws/ping/")
    assert (await client.connect())[0]
    await client.send_json_to({"type": "ping", "seq": 1})
    assert (await client.receive_json_from())["code"] == "internal_error"
    await client.disconnect()
    sentry_sdk.flush(timeout=5)
    event = ingest.wait_for("ZeroDivisionError", "a handler bug")
    assert event["logger"] == "ws.consumers.base"
    assert event["exception"]["values"][-1]["stacktrace"]["frames"][-1]["function"] == "answer_ping"


async def test_an_exception_escaping_a_consumer_is_reported(ingest, monkeypatch):
    """Outside the safety net (here: in connect), the ASGI wrapper reports what Channels would only log."""

    async def connect(self):
        raise LookupError("a connect bug")

    monkeypatch.setattr(PingConsumer, "connect", connect)
    client = reported_websocket("/ws/ping/")
    with pytest.raises(LookupError):
        await client.connect()
    sentry_sdk.flush(timeout=5)
    ingest.wait_for("LookupError", "a connect bug")

"""The consumer layer's fixtures and helpers: the whole ASGI app in process (channels'
WebsocketCommunicator) on the tests' own redis-server, and the accounts and sessions its
sockets come with. Helpers for any socket (next_of, until, ...) are in tests/helpers.py."""

import asyncio

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, override_settings

from shared import redis as app_redis
from shared.identity import SESSION_NAME_KEY
from shared.layers import channel_layer_settings
from ws.asgi import application
from ws.worker import Worker

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def websocket(path: str, origin: bytes = ORIGIN[1], headers: list | None = None) -> WebsocketCommunicator:
    """A client of the whole ASGI app (origin check, auth, routing), as Daphne would run it."""
    base = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    return WebsocketCommunicator(application, path, headers=base + (headers or []))


def http(path: str) -> HttpCommunicator:
    return HttpCommunicator(application, "GET", path)


@sync_to_async
def sign_up(username: str):
    """A new user (tests sign it in with `signed_in_cookie`, never with the password)."""
    return get_user_model().objects.create_user(username, password="irrelevant-here")


@sync_to_async
def signed_in_cookie(username: str) -> str:
    """A new session of an existing user, as a Cookie header's value: "sessionid=..."."""
    browser = Client()
    browser.force_login(get_user_model().objects.get(username=username))
    return f"sessionid={browser.cookies['sessionid'].value}"


@sync_to_async
def guest_session(name: str) -> SessionStore:
    """A saved guest session that goes by `name`."""
    session = SessionStore()
    session[SESSION_NAME_KEY] = name
    session.save()
    return session


def _forget_connections() -> None:
    channel_layers.backends.clear()
    Worker._by_loop.clear()
    app_redis._async_clients.clear()


@pytest.fixture
async def live_redis(redis_server):
    """The app's state and channel layer on the tests' own redis-server, empty for each test,
    with a fast heartbeat (0.2 s) and expiry (1 s) so liveness is testable in seconds."""
    layers = {"default": channel_layer_settings("redis", redis_server.url, "test")}
    fast = {"LIVE_HEARTBEAT_SECONDS": 0.2, "LIVE_TTL_SECONDS": 1.0}
    with override_settings(REDIS_URL=redis_server.url, CHANNEL_LAYERS=layers, **fast):
        _forget_connections()
        yield redis_server
        worker = Worker._by_loop.get(asyncio.get_running_loop())
        if worker is not None:
            await worker.stop()
        _forget_connections()
    redis.Redis.from_url(redis_server.url).flushdb()

import asyncio

import pytest
import redis
from channels.layers import channel_layers
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.test import override_settings

from shared import redis as app_redis
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

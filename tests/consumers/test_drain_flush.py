"""A draining worker finishes what its consumers' disconnect() left to its background work
before it exits (ws/drain.py, Worker.flush): the board's leaves (behind the announcement
throttle), presence closes (written by the presence writer) and the frames the hub has not yet
handed to the channel layer. Daphne stops the reactor right after the drain, which here is the
worker's `stop()`; a second worker on the same redis-server is where the leaves must arrive."""

import asyncio

import pytest
from django.conf import settings

from shared.presence import PresenceStore
from shared.redis import async_redis
from tests.consumers.conftest import sign_up, signed_in_cookie, websocket
from tests.consumers.test_hub import FakeSocket, layer_for
from tests.consumers.test_public_consumer import announced, join
from tests.helpers import until, until_awaited
from ws import board as ws_board
from ws.drain import drain
from ws.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def other_worker(live_redis):
    """Another worker's subscriber of the board topic: what it hears."""
    other = Worker(layer_for(live_redis.url, "redis"))
    heard = FakeSocket()
    await other.hub.subscribe("board", heard)
    await other.hub.joined("board")
    yield heard
    await other.stop()


def disconnected(socket) -> dict:
    """Daphne's stand-in for one consumer: a connection whose client has sent its close reply."""
    return {"application_instance": socket.future}


async def test_the_last_leaves_and_presence_closes_reach_redis_before_the_worker_exits(
    live_redis, other_worker, monkeypatch
):
    # A leave behind the throttle (2 s here, so that it is behind it whatever the timing) and a
    # Redis slow to take presence writes: both still under way when the consumers are done.
    monkeypatch.setattr(ws_board, "ANNOUNCE_SECONDS", 2.0)
    leave_presence = PresenceStore.leave

    async def slow_leave(self, connections):
        await asyncio.sleep(0.3)
        await leave_presence(self, connections)

    monkeypatch.setattr(PresenceStore, "leave", slow_leave)
    watcher, _ = await join()
    leaving, welcome = await join()
    await announced(watcher, welcome["you"]["id"])
    await sign_up("bob")
    bob = websocket("/ws/ping/", headers=[(b"cookie", (await signed_in_cookie("bob")).encode())])
    assert (await bob.connect())[0]
    presence = PresenceStore(async_redis(), ttl=settings.LIVE_TTL_SECONDS, grace=settings.PRESENCE_GRACE_SECONDS)

    async def bobs_connections(count: int) -> bool:
        return await presence.connection_count("bob") == count

    await until_awaited(lambda: bobs_connections(1))

    for socket in (leaving, bob):
        await socket.send_input({"type": "websocket.disconnect", "code": 1012})
    connections = {object(): disconnected(leaving), object(): disconnected(bob)}
    await drain(connections, 0.0, flush=Worker.flush_current)
    await Worker.current().stop()  # the reactor stops: no background task runs on

    await until(lambda: any(welcome["you"]["id"] in frame for frame in other_worker.frames if '"disconnect"' in frame))
    assert await presence.connection_count("bob") == 0
    await watcher.disconnect()

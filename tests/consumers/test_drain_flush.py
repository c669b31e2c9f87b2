"""A draining worker finishes what its consumers' disconnect() left to its background work
before it exits (ws/drain.py, Worker.flush): the board's leaves (behind the announcement
throttle), presence closes (written by the presence writer) and the frames the hub has not yet
handed to the channel layer. Daphne stops the reactor right after the drain, which here is the
worker's `stop()`; a second worker on the same redis-server is where the leaves must arrive."""

import asyncio

import pytest
from django.conf import settings
from django.test import override_settings

from shared.presence import PresenceStore
from shared.redis import async_redis, key
from tests.consumers.conftest import sign_up, signed_in_cookie, websocket
from tests.consumers.test_hub import FakeSocket, layer_for
from tests.consumers.test_public_consumer import announced, join
from tests.helpers import until, until_awaited
from ws import board as ws_board
from ws.board import Board
from ws.drain import drain
from ws.serve import DrainingServer
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


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)  # no sweep could do it
async def test_a_consumer_still_joining_when_the_drain_ends_is_cancelled_and_its_leave_still_goes_out(
    live_redis, other_worker, monkeypatch
):
    """A straggler: its row written and its join announced, it waits on the board when the
    drain's wait runs out. Cancelled, it takes its row off and announces its leave in the
    background; the last flush gets those to Redis before the process exits."""
    monkeypatch.setattr(ws_board, "ANNOUNCE_SECONDS", 2.0)  # its leave behind the throttle
    watcher, _ = await join()

    async def hung_read(self):
        await asyncio.Event().wait()

    monkeypatch.setattr(Board, "refresh_snapshot", hung_read)
    straggler = websocket("/ws/public/")
    await straggler.connect()
    rows = async_redis()

    async def rows_on_the_board(count: int) -> bool:
        return await rows.hlen(key("board", "rows")) == count

    await until_awaited(lambda: rows_on_the_board(2))
    # Its join announced (behind the watcher's, 2 s later): its leave is then behind the throttle.
    await until(lambda: sum('"connect"' in frame for frame in other_worker.frames) == 2, timeout=5)
    server = DrainingServer.__new__(DrainingServer)  # only what cancel_remaining reads
    server.connections = {object(): {"application_instance": straggler.future}}
    await server.cancel_remaining()
    await Worker.current().stop()  # the reactor stops: no background task runs on

    await until_awaited(lambda: rows_on_the_board(1), timeout=0.1)
    await until(lambda: any('"disconnect"' in frame for frame in other_worker.frames))
    await watcher.disconnect()

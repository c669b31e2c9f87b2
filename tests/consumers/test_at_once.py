"""Pings answered in the read that brought them (ws/direct.py), as our Daphne server runs a
consumer: its input queue is ws/serve.py's Inbox, and the scope carries the socket's
`send_text` and the Inbox's at-once registration. (Channels' test communicator offers neither,
so the other consumer tests never take this way.)"""

import asyncio
import gc
import json
import weakref
from functools import partial

import pytest

from ws.consumers.base import ProtocolConsumer
from ws.consumers.ping import PingConsumer
from ws.direct import AT_ONCE_KEY, SCOPE_KEY
from ws.serve import Inbox

pytestmark = pytest.mark.django_db(transaction=True)


class ServedSocket:
    """One /ws/ping/ consumer fed by an Inbox, as ws/serve.py's DrainingServer makes it."""

    def __init__(self):
        self.inbox = Inbox()
        self.sent: list[str] = []  # text frames, whichever way they went
        self.scope = {"type": "websocket", "path": "/ws/ping/", "headers": [], "query_string": b""}
        self.scope[SCOPE_KEY] = self.sent.append
        self.scope[AT_ONCE_KEY] = partial(setattr, self.inbox, "at_once")
        self.task = asyncio.ensure_future(PingConsumer.as_asgi()(self.scope, self.inbox.get, self.asgi_send))

    async def asgi_send(self, message: dict) -> None:
        if message.get("text") is not None:
            self.sent.append(message["text"])

    async def put(self, message: dict) -> None:
        self.inbox.put_nowait(message)
        for _ in range(5):  # the consumer's turn, if the message was queued
            await asyncio.sleep(0)

    async def open(self) -> None:
        await self.put({"type": "websocket.connect"})

    async def frame(self, frame: dict) -> dict:
        await self.put({"type": "websocket.receive", "text": json.dumps(frame)})
        return json.loads(self.sent[-1])

    async def close(self) -> None:
        await self.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 1)


async def test_a_ping_is_answered_at_once_while_the_consumer_waits():
    socket = ServedSocket()
    await socket.open()
    answered_before_the_consumer_ran = []
    socket.inbox.put_nowait({"type": "websocket.receive", "text": '{"type":"ping","seq":3}'})
    answered_before_the_consumer_ran.append(len(socket.sent))
    assert answered_before_the_consumer_ran == [1]
    assert json.loads(socket.sent[0])["seq"] == 3
    await socket.close()


async def test_a_pong_that_fails_at_once_gets_internal_error_and_the_socket_stays_open(monkeypatch, caplog):
    """The safety net (ProtocolConsumer.receive_frame) holds for pings answered at once too: a bug
    while answering one is logged and answered with internal_error, the next ping gets its pong.
    It must not escape into Daphne's read callback, where Twisted drops the connection (1006)
    and the frame is lost."""
    real = ProtocolConsumer.pong_for

    def fails_on_seq_1(self, ping):
        if ping.seq == 1:
            raise RuntimeError("a bug on seq 1")
        return real(self, ping)

    monkeypatch.setattr(ProtocolConsumer, "pong_for", fails_on_seq_1)
    socket = ServedSocket()
    await socket.open()
    error = await socket.frame({"type": "ping", "seq": 1})
    assert (error["type"], error["code"]) == ("error", "internal_error")
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert len(logged) == 1
    assert "a bug on seq 1" in str(logged[0].exc_info[1])
    assert (await socket.frame({"type": "ping", "seq": 7}))["seq"] == 7
    assert len(socket.sent) == 2
    await socket.close()


async def test_a_finished_consumer_is_freed_without_the_garbage_collector():
    """The Inbox holds the consumer's at-once handler, and the consumer holds the Inbox (its
    scope's registration): once the consumer is done, that cycle must not keep it (its scope,
    session, limiters, pong ledger) for the cyclic garbage collector, as every closed socket's
    consumer was freed at once before pings were answered at once."""
    gc.disable()
    try:
        socket = ServedSocket()
        await socket.open()
        assert (await socket.frame({"type": "ping", "seq": 1}))["type"] == "pong"
        consumer = weakref.ref(socket.inbox.at_once.__self__)
        await socket.close()
        del socket
        assert consumer() is None
    finally:
        gc.enable()

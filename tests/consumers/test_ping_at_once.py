"""Pings answered in the read that brought them (ws/direct.py AT_ONCE_KEY). Channels' test
communicator offers neither hook our Daphne server puts in the scope, so the other consumer
tests never take this way. Two harnesses:

- `Server`: the whole ASGI app (origin check, auth, routing) with the two hooks standing in for
  the server: a `send_text` that keeps the frames, and the registration of the consumer's
  handler, which these tests call as the server would, between frames (the server calls it only
  while the consumer waits for its next message: tests/unit/test_inbox.py).
- `ServedSocket`: one consumer fed by ws/serve.py's Inbox itself, as DrainingServer makes it."""

import asyncio
import gc
import json
import weakref
from functools import partial

import pytest
from django.test import override_settings

from shared.logs import SOCKET_ID
from tests.consumers.conftest import websocket
from tests.helpers import until
from ws.consumers.base import ProtocolConsumer
from ws.consumers.ping import PingConsumer
from ws.direct import AT_ONCE_KEY, SCOPE_KEY
from ws.serve import Inbox

pytestmark = pytest.mark.django_db(transaction=True)


def receiving(text: str) -> dict:
    return {"type": "websocket.receive", "text": text}


class Server:
    """What ws/serve.py offers a consumer: its frames kept in `sent`, its at-once handler."""

    def __init__(self, path: str):
        self.sent: list[dict] = []
        self.handlers: list = []
        self.client = websocket(path)
        # The scope is read once the application runs, after this.
        self.client.scope[SCOPE_KEY] = lambda text: self.sent.append(json.loads(text))
        self.client.scope[AT_ONCE_KEY] = self.handlers.append

    async def open(self) -> "Server":
        connected, _ = await self.client.connect()
        assert connected
        return self

    def at_once(self, text: str) -> bool:
        [handler] = self.handlers
        return handler(receiving(text))

    def frames(self, kind: str) -> list[dict]:
        return [frame for frame in self.sent if frame["type"] == kind]


async def test_a_ping_is_answered_inside_the_handler_call():
    server = await Server("/ws/ping/").open()
    assert server.at_once('{"type":"ping","seq":7,"sent_at":12.5}')
    [pong] = server.sent  # sent before the call returned: no task ran in between
    assert (pong["type"], pong["seq"], pong["sent_at"]) == ("pong", 7, 12.5)
    await server.client.disconnect()


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"ping"}',  # no seq: the usual way answers bad_message
        '{"type":"ping","seq":1,"pad":"' + "x" * 17000 + '"}',  # over the frame cap: too_large
        '{"type":"ping",',  # bad_json
        '{"type":"delay","delay_ms":1,"seq":1,"token":"ping"}',  # another type that mentions ping
    ],
    ids=["no_seq", "too_large", "bad_json", "other_type"],
)
async def test_anything_but_a_valid_ping_is_declined_and_answered_the_usual_way(text):
    server = await Server("/ws/public/").open()
    await until(lambda: server.frames("welcome"))
    assert not server.at_once(text)
    assert not server.frames("pong")
    await server.client.send_to(text_data=text)  # the way a declined message goes on
    await until(lambda: server.frames("error"))
    assert not server.frames("pong")
    await server.client.disconnect()


async def test_a_ping_the_flood_guard_would_refuse_is_declined_and_then_refused_as_before():
    with override_settings(WS_RATE_PER_SECOND=0.001, WS_RATE_BURST=2):
        server = await Server("/ws/ping/").open()
        assert server.at_once('{"type":"ping","seq":1}')
        assert server.at_once('{"type":"ping","seq":2}')
        # The bucket is empty: declined, and nothing counted against the client twice.
        assert not server.at_once('{"type":"ping","seq":3}')
        await server.client.send_to(text_data='{"type":"ping","seq":3}')
        await until(lambda: server.frames("error"))
    assert [pong["seq"] for pong in server.frames("pong")] == [1, 2]
    assert server.frames("error")[0]["code"] == "rate_limited"
    await server.client.disconnect()


async def test_a_board_report_quoting_an_at_once_pong_is_answered_with_the_board():
    server = await Server("/ws/public/").open()
    await until(lambda: server.frames("welcome"))
    assert server.at_once('{"type":"ping","seq":1,"sent_at":1}')
    [pong] = server.frames("pong")
    report = {"type": "delay", "delay_ms": 3.5, "seq": 1, "token": pong["token"]}
    assert not server.at_once(json.dumps(report))  # reports take the usual way
    await server.client.send_json_to(report)
    await until(lambda: server.frames("delays"))
    assert not server.frames("error")
    await server.client.disconnect()


async def test_a_socket_the_server_closed_declines_its_pings():
    with override_settings(WS_RATE_PER_SECOND=0.001, WS_RATE_BURST=1, WS_FLOOD_CLOSE_AFTER=1):
        server = await Server("/ws/ping/").open()
        for seq in range(4):  # accepted, warned, dropped, closed with 4008
            await server.client.send_to(text_data=json.dumps({"type": "ping", "seq": seq}))
        closed = await server.client.receive_output(2)
    assert closed["type"] == "websocket.close"
    assert not server.at_once('{"type":"ping","seq":9}')


class ServedSocket:
    """One /ws/ping/ consumer fed by an Inbox, as ws/serve.py's DrainingServer makes it."""

    def __init__(self, consumer: type[ProtocolConsumer] = PingConsumer):
        self.inbox = Inbox()
        self.sent: list[str] = []  # text frames, whichever way they went
        self.scope = {"type": "websocket", "path": "/ws/ping/", "headers": [], "query_string": b""}
        self.scope[SCOPE_KEY] = self.sent.append
        self.scope[AT_ONCE_KEY] = partial(setattr, self.inbox, "at_once")
        self.task = asyncio.ensure_future(consumer.as_asgi()(self.scope, self.inbox.get, self.asgi_send))

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
    real = ProtocolConsumer.answer_ping

    socket_ids = []

    def fails_on_seq_1(self, ping):
        socket_ids.append(SOCKET_ID.get())
        if ping.seq == 1:
            raise RuntimeError("a bug on seq 1")
        return real(self, ping)

    monkeypatch.setattr(ProtocolConsumer, "answer_ping", fails_on_seq_1)
    socket = ServedSocket()
    await socket.open()
    error = await socket.frame({"type": "ping", "seq": 1})
    assert (error["type"], error["code"]) == ("error", "internal_error")
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert len(logged) == 1
    assert "a bug on seq 1" in str(logged[0].exc_info[1])
    assert (await socket.frame({"type": "ping", "seq": 7}))["seq"] == 7
    assert len(socket.sent) == 2
    # Answered in the reactor's read, yet under the socket's own context: its log lines (and
    # this one's Sentry event) carry its id, as on the usual way.
    assert socket_ids[0] is not None
    assert socket_ids == [socket_ids[0]] * 2
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


class OwnPingConsumer(PingConsumer):
    async def on_ping(self, ping):
        await self.send(text_data='{"type":"own"}')


async def test_an_endpoint_that_answers_pings_its_own_way_keeps_every_ping_on_the_usual_way():
    socket = ServedSocket(OwnPingConsumer)
    await socket.open()
    assert socket.inbox.at_once is None
    assert (await socket.frame({"type": "ping", "seq": 1})) == {"type": "own"}
    await socket.close()


class NoPingsConsumer(ProtocolConsumer):
    accepts = frozenset({"message"})  # as chat's


async def test_an_endpoint_that_takes_no_pings_registers_no_handler_and_refuses_them_as_before():
    socket = ServedSocket(NoPingsConsumer)
    await socket.open()
    assert socket.inbox.at_once is None
    error = await socket.frame({"type": "ping", "seq": 1})
    assert (error["type"], error["code"]) == ("error", "unknown_type")
    await socket.close()

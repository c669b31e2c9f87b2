"""Pings answered in the read that brought them (ws/direct.py AT_ONCE_KEY): the whole ASGI app,
with the two hooks our Daphne server puts in the scope standing in for it: a `send_text` that
keeps the frames, and the registration of the consumer's `at_once` handler.

A handler is called by the server only while the consumer waits for its next message
(tests/unit/test_inbox.py); these tests call it as the server would, between frames."""

import json

import pytest
from django.test import override_settings

from tests.consumers.conftest import websocket
from tests.helpers import until
from ws.direct import AT_ONCE_KEY, SCOPE_KEY

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


async def test_only_endpoints_that_take_pings_register_a_handler():
    chat = await Server("/ws/chat/lobby/").open()
    assert chat.handlers == []
    await chat.client.disconnect()
    ping = await Server("/ws/ping/").open()
    assert len(ping.handlers) == 1
    await ping.client.disconnect()


async def test_a_socket_the_server_closed_declines_its_pings():
    with override_settings(WS_RATE_PER_SECOND=0.001, WS_RATE_BURST=1, WS_FLOOD_CLOSE_AFTER=1):
        server = await Server("/ws/ping/").open()
        for seq in range(4):  # accepted, warned, dropped, closed with 4008
            await server.client.send_to(text_data=json.dumps({"type": "ping", "seq": seq}))
        closed = await server.client.receive_output(2)
    assert closed["type"] == "websocket.close"
    assert not server.at_once('{"type":"ping","seq":9}')

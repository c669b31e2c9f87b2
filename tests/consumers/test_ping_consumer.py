"""`/ws/ping/` through the whole ASGI application, without a server."""

import json
import time

import pytest
from django.test import override_settings

from shared.protocol import CLOSE_RATE_LIMITED
from tests.consumers.conftest import http, websocket

pytestmark = pytest.mark.django_db(transaction=True)


async def open_ping_socket():
    client = websocket("/ws/ping/")
    connected, _ = await client.connect()
    assert connected
    return client


async def test_a_ping_is_answered_with_its_seq_sent_at_and_the_server_time():
    """The pong echoes what the client needs and stamps the server's clock."""
    client = await open_ping_socket()
    await client.send_to(text_data=json.dumps({"type": "ping", "seq": 41, "sent_at": 1000.5}))
    pong = await client.receive_json_from()
    assert pong["type"] == "pong"
    assert (pong["seq"], pong["sent_at"]) == (41, 1000.5)
    assert abs(pong["server_time"] - time.time() * 1000) < 5000
    await client.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ('{"type":"ping"}', "bad_message"),
        ('{"type":"ping","seq":"1"}', "bad_message"),
        ('{"type":"delay","delay_ms":5}', "unknown_type"),
        ('{"type":"ping","seq":1,"pad":"' + "x" * 17000 + '"}', "too_large"),
    ],
    ids=["bad_json", "missing_seq", "string_seq", "unknown_type", "too_large"],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_keeps_working(frame, code):
    """After the error frame, the same socket still answers pings."""
    client = await open_ping_socket()
    await client.send_to(text_data=frame)
    error = await client.receive_json_from()
    assert (error["type"], error["code"]) == ("error", code)
    assert error["detail"]
    await client.send_json_to({"type": "ping", "seq": 2})
    assert (await client.receive_json_from())["seq"] == 2
    await client.disconnect()


async def test_a_binary_frame_gets_bad_message():
    """The protocol is JSON text; binary frames are refused, not crashed on."""
    client = await open_ping_socket()
    await client.send_to(bytes_data=b"\x00\x01")
    assert (await client.receive_json_from())["code"] == "bad_message"
    await client.disconnect()


@override_settings(WS_RATE_PER_SECOND=1.0, WS_RATE_BURST=5, WS_FLOOD_CLOSE_AFTER=3)
async def test_a_flood_gets_rate_limited_once_then_a_4008_close():
    """Five pings pass, the sixth is refused with rate_limited, and three more close the socket."""
    client = await open_ping_socket()
    for seq in range(10):
        await client.send_json_to({"type": "ping", "seq": seq})
    answers = [await client.receive_output() for _ in range(7)]
    texts = [json.loads(a["text"]) for a in answers if a["type"] == "websocket.send"]
    assert [t["seq"] for t in texts if t["type"] == "pong"] == [0, 1, 2, 3, 4]
    assert [t["code"] for t in texts if t["type"] == "error"] == ["rate_limited"]
    assert (answers[-1]["type"], answers[-1]["code"]) == ("websocket.close", CLOSE_RATE_LIMITED)
    await client.disconnect()


async def test_a_handshake_from_a_foreign_origin_is_refused():
    """The origin check (ws/origin.py) turns away pages of other sites, ports and schemes."""
    for origin in (b"http://evil.example", b"http://127.0.0.1:8001", b"https://127.0.0.1:8000", b"null"):
        client = websocket("/ws/ping/", origin=origin)
        connected, _ = await client.connect()
        assert not connected, origin


async def test_a_handshake_with_two_origins_is_refused():
    """Two Origin headers (one of them the site's own) are two answers: neither is trusted."""
    client = websocket("/ws/ping/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await client.connect()
    assert not connected


async def test_a_trusted_origin_is_accepted_as_the_csrf_check_accepts_it():
    """CSRF_TRUSTED_ORIGINS opens sockets too (e.g. a page behind another proxy)."""
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://ping.example.com:8443"]):
        client = websocket("/ws/ping/", origin=b"https://ping.example.com:8443")
        connected, _ = await client.connect()
        assert connected
        await client.disconnect()


async def test_a_handshake_without_an_origin_is_refused():
    """No Origin header, no socket: load tools must send one."""
    from channels.testing import WebsocketCommunicator

    from ws.asgi import application

    client = WebsocketCommunicator(application, "/ws/ping/")
    connected, _ = await client.connect()
    assert not connected


@override_settings(
    REDIS_URL="redis://127.0.0.1:1/0",
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0", "socket_connect_timeout": 0.2}]},
        }
    },
)
async def test_pings_are_answered_while_redis_is_unreachable():
    """The ping path has no channel layer, so a dead Redis cannot stop pongs."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    client = await open_ping_socket()
    await client.send_json_to({"type": "ping", "seq": 1})
    assert (await client.receive_json_from(timeout=2))["type"] == "pong"
    await client.disconnect()
    channel_layers.backends.clear()


async def test_unknown_websocket_paths_are_refused_not_crashed():
    """A socket to a path with no consumer is refused at the handshake (no router traceback)."""
    client = websocket("/ws/nowhere/")
    connected, _ = await client.connect()
    assert not connected


async def test_daphne_answers_plain_http_with_a_short_404():
    """Pages come from Gunicorn; Daphne says so instead of rendering one."""
    response = await http("/private/").get_response()
    assert response["status"] == 404
    assert b"only WebSocket" in response["body"]


async def test_daphne_has_a_health_route_for_orchestrators():
    """GET /healthz on Daphne itself answers 200."""
    response = await http("/healthz").get_response()
    assert (response["status"], response["body"]) == (200, b"ok\n")


HUGE = "1" + "0" * 400


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"ping","seq":1,"sent_at":' + HUGE + "}",
        '{"type":"ping","seq":1,"sent_at":-' + HUGE + "}",
        '{"type":"ping","seq":' + HUGE + "}",
        '{"type":"ping","seq":1,"sent_at":1e400}',
        '{"type":"ping","seq":1,"sent_at":{"a":[' + HUGE + "]}}",
    ],
    ids=["huge_sent_at", "huge_negative_sent_at", "huge_seq", "inf_sent_at", "nested"],
)
async def test_a_number_past_any_float_is_bad_message_and_the_next_ping_gets_its_pong(frame):
    """Issue 9: `sent_at` of 1 followed by 400 zeros closed the socket with 1011."""
    client = await open_ping_socket()
    await client.send_to(text_data=frame)
    error = await client.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "bad_message")
    await client.send_json_to({"type": "ping", "seq": 7})
    assert (await client.receive_json_from())["seq"] == 7
    await client.disconnect()


async def test_a_handler_that_raises_gets_internal_error_and_the_socket_stays_open(monkeypatch, caplog):
    """The safety net: a bug while handling one frame is logged with its traceback and answered
    with internal_error; the socket is not closed and answers the next frame."""
    from ws.consumers.base import ProtocolConsumer

    real = ProtocolConsumer.answer_ping

    def fails_on_seq_1(self, ping):
        if ping.seq == 1:
            raise RuntimeError("a bug on seq 1")
        return real(self, ping)

    monkeypatch.setattr(ProtocolConsumer, "answer_ping", fails_on_seq_1)
    client = await open_ping_socket()
    await client.send_json_to({"type": "ping", "seq": 1})
    error = await client.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "internal_error")
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged
    assert "a bug on seq 1" in str(logged[0].exc_info[1])
    await client.send_json_to({"type": "ping", "seq": 7})
    assert (await client.receive_json_from())["seq"] == 7
    assert await client.receive_nothing(timeout=0.2)
    await client.disconnect()

"""`/ws/ping/` through nginx and Daphne: hostile input is answered, and nobody else notices."""

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared.protocol import CLOSE_RATE_LIMITED, CLOSE_TOO_LARGE
from tests.helpers import connect, receive, request

pytestmark = pytest.mark.stack


async def test_pongs_match_their_pings_in_order(stack):
    """Sequential pings come back with the same seq and sent_at."""
    async with connect(stack.ws_url, "/ws/ping/") as socket:
        for seq in range(20):
            pong = await request(socket, {"type": "ping", "seq": seq, "sent_at": 1.5 + seq})
            assert (pong["type"], pong["seq"], pong["sent_at"]) == ("pong", seq, 1.5 + seq)


async def test_bad_frames_get_errors_and_the_socket_stays_open(stack):
    """bad_json, bad_message, unknown_type and too_large each leave the socket usable."""
    frames = {
        "bad_json": "{oops",
        "bad_message": '{"type":"ping","seq":-1}',
        "unknown_type": '{"type":"shout"}',
        "too_large": json.dumps({"type": "ping", "seq": 1, "pad": "x" * 20_000}),
    }
    async with connect(stack.ws_url, "/ws/ping/") as socket:
        for code, frame in frames.items():
            await socket.send(frame)
            assert (await receive(socket))["code"] == code
        assert (await request(socket, {"type": "ping", "seq": 9}))["seq"] == 9


async def test_a_frame_over_the_transport_cap_is_closed_with_1009(stack):
    """Daphne cuts off a 100 KB frame before buffering it, with close code 1009."""
    async with connect(stack.ws_url, "/ws/ping/", max_size=None) as socket:
        await socket.send("x" * 100_000)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket)
    assert closed.value.rcvd.code == CLOSE_TOO_LARGE


async def test_a_foreign_origin_is_refused_with_403(stack):
    """A page of another site cannot open a socket here."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(stack.ws_url, "/ws/ping/", origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def flood(socket) -> tuple[list[str], int | None]:
    """Send pings without waiting; collect error codes until the server closes the socket."""
    for seq in range(400):
        await socket.send(json.dumps({"type": "ping", "seq": seq}))
    errors = []
    try:
        while True:
            frame = await receive(socket, timeout=10)
            if frame["type"] == "error":
                errors.append(frame["code"])
    except ConnectionClosed as closed:
        return errors, closed.rcvd.code if closed.rcvd else None


async def test_a_flood_is_rate_limited_then_closed_while_a_neighbour_keeps_its_pace(stack):
    """400 frames at once: one rate_limited, a 4008 close, and another client's pings all answered."""
    async with connect(stack.ws_url, "/ws/ping/") as flooder, connect(stack.ws_url, "/ws/ping/") as neighbour:

        async def neighbour_pings() -> list[int]:
            seqs = []
            for seq in range(20):
                seqs.append((await request(neighbour, {"type": "ping", "seq": seq}))["seq"])
                await asyncio.sleep(0.05)
            return seqs

        (errors, code), seqs = await asyncio.gather(flood(flooder), neighbour_pings())
    assert errors == ["rate_limited"]
    assert code == CLOSE_RATE_LIMITED
    assert seqs == list(range(20))


@pytest.mark.parametrize(
    ("path", "frame"),
    [
        ("/ws/ping/", '{"type":"ping","seq":1,"sent_at":1' + "0" * 400 + "}"),
        ("/ws/public/", '{"type":"delay","delay_ms":1' + "0" * 400 + "}"),
    ],
    ids=["ping_sent_at", "public_delay_ms"],
)
async def test_a_number_of_400_digits_is_bad_message_and_the_next_ping_gets_its_pong(stack, path, frame):
    """Issue 9 through nginx and Daphne: the socket was closed with 1011 (OverflowError)."""
    async with connect(stack.ws_url, path) as socket:
        if path == "/ws/public/":
            assert (await receive(socket))["type"] == "welcome"
        await socket.send(frame)
        while (answer := await receive(socket))["type"] not in {"error", "pong"}:
            pass  # board broadcasts may come first
        assert (answer["type"], answer["code"]) == ("error", "bad_message")
        await socket.send(json.dumps({"type": "ping", "seq": 7}))
        while (answer := await receive(socket))["type"] != "pong":
            pass
        assert answer["seq"] == 7

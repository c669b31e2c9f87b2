"""permessage-deflate through real nginx and Daphne (ws/serve.py): a client that offers it (as
every browser does) gets the board's `delays` answers compressed, with the same content; one that
does not offer it gets them as they are; pongs are never compressed."""

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection

from tests.helpers import connect, ping, receive

pytestmark = pytest.mark.stack


class CountingConnection(ClientConnection):
    """A client connection that counts the bytes it receives off the wire (after
    permessage-deflate, frame headers included): what a phone downloads."""

    wire_bytes = 0

    def data_received(self, data: bytes) -> None:
        self.wire_bytes += len(data)
        super().data_received(data)


async def answer_on_the_wire(stack, compression: str | None) -> tuple[dict, int, int, str | None]:
    """One ping, one report on its pong: the answer, its length, the bytes it took on the wire,
    and the extensions the server agreed to."""
    async with connect(
        stack.ws_url, "/ws/public/", compression=compression, create_connection=CountingConnection, max_size=None
    ) as socket:
        await receive(socket)  # the welcome (its own join may follow: ping skips it)
        await ping(socket)  # the first pong is a warm-up; report on the second
        pong = await ping(socket)
        before = socket.wire_bytes
        await socket.send(json.dumps({"type": "delay", "delay_ms": 1.0, "seq": pong["seq"], "token": pong["token"]}))
        text = await socket.recv()
        return (
            json.loads(text),
            len(text.encode()),
            socket.wire_bytes - before,
            socket.response.headers.get("Sec-WebSocket-Extensions"),
        )


async def test_board_answers_go_compressed_to_a_client_that_offers_deflate(stack):
    answer, length, wire, extensions = await answer_on_the_wire(stack, "deflate")
    assert extensions is not None
    assert "permessage-deflate" in extensions
    assert answer["type"] == "delays"
    assert answer["clients"]
    assert wire < length, (wire, length)  # with its 2-byte header, an uncompressed frame is longer


async def test_a_client_that_does_not_offer_it_gets_them_as_they_are(stack):
    answer, length, wire, extensions = await answer_on_the_wire(stack, None)
    assert extensions is None
    assert answer["type"] == "delays"
    assert wire >= length


async def test_pongs_are_never_compressed(stack):
    async with connect(stack.ws_url, "/ws/public/", create_connection=CountingConnection) as socket:
        await receive(socket)
        for seq in range(1, 4):
            await socket.send(json.dumps({"type": "ping", "seq": seq}))
            before = socket.wire_bytes
            pong = await socket.recv()
            # A compressed frame of ~100 bytes would be shorter than its text.
            assert socket.wire_bytes - before >= len(pong.encode())


async def test_other_endpoints_do_not_negotiate_it(stack):
    async with connect(stack.ws_url, "/ws/ping/") as socket:
        assert socket.response.headers.get("Sec-WebSocket-Extensions") is None


async def test_a_client_capping_the_servers_window_connects_and_reads_its_answers(stack):
    """RFC 7692 lets a client ask for a smaller server window (server_max_window_bits=9): the
    socket opens with that cap and its answers inflate within it (the client's inflater has a
    2^9 window and fails the socket on a reference past it). Before, the handshake was never
    answered while the consumer had joined the board, and nginx gave up with 503 after ~10 s."""
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    async with asyncio.timeout(5):
        async with connect(
            stack.ws_url,
            "/ws/public/",
            compression=None,
            extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=9)],
        ) as socket:
            assert "server_max_window_bits=9" in socket.response.headers["Sec-WebSocket-Extensions"]
            assert (await receive(socket))["type"] == "welcome"
            for seq in (1, 2, 3):
                await socket.send(json.dumps({"type": "ping", "seq": seq}))
                pong = await receive(socket)
                if seq > 1:  # the first pong is a warm-up
                    await socket.send(
                        json.dumps({"type": "delay", "delay_ms": 1.0, "seq": seq, "token": pong["token"]})
                    )
                    answer = await receive(socket)
                    assert answer["type"] == "delays"
                    assert answer["clients"]

"""Daphne's protocol with the send backlog bound (ws/serve.py), on a real autobahn connection
over an in-memory transport that the peer never reads unless the test says so: every byte
written counts (application frames, pongs to the peer's pings, the close frame); only pongs
to probes actually sent pay the debt; a peer that floods control frames is closed with 4008;
past the worker's socket cap a handshake gets 503; only /ws/public/'s `delays` frames are
compressed; an open socket lets go of its handshake."""

import asyncio
import base64
import os
import random
import struct
import zlib

import pytest
from django.test import override_settings
from isal import isal_zlib
from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.python.failure import Failure

from shared.protocol import CLOSE_RATE_LIMITED, CLOSE_TOO_SLOW
from shared.ratelimit import CONTROL_BURST
from ws.direct import OPENED_KEY, prepared
from ws.serve import DEFLATE_LEVEL, DEFLATE_WINDOW_BITS, PROBE_PREFIX, AppWebSocketFactory, DrainingServer

KIB = 1024
PING, PONG, CLOSE, TEXT, BINARY = 0x9, 0xA, 0x8, 0x1, 0x2
PEER = IPv4Address("TCP", "127.0.0.1", 50000)
HOST = IPv4Address("TCP", "127.0.0.1", 80)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """What Daphne's protocol asks of its server, no more."""

    root_path = ""
    proxy_forwarded_address_header = None
    websocket_timeout = -1
    websocket_connect_timeout = 5
    ping_interval = 20

    def protocol_connected(self, protocol): ...

    def protocol_disconnected(self, protocol): ...

    def log_action(self, *args): ...

    def create_application(self, protocol, scope):
        class Queue:
            def put_nowait(self, message): ...

        return Queue()


class Transport(StringTransport):
    """StringTransport, letting autobahn unregister the producer it never registered on a
    handshake it refuses (a real transport does)."""

    def unregisterProducer(self):
        self.producer = None


class SocketTransport(FileDescriptor):
    """A real Twisted connection but for its socket, which takes at most `room` bytes (what it
    takes is `value()`); Twisted's own queue holds the rest until `doWrite`."""

    def __init__(self, room: int = 2**30):
        super().__init__(reactor=MemoryReactor())
        self.connected = 1
        self.room = room
        self.taken = b""

    def writeSomeData(self, data):
        taken = bytes(data[: self.room])
        self.room -= len(taken)
        self.taken += taken
        return len(taken)

    def value(self) -> bytes:
        return self.taken

    def getPeer(self):
        return PEER

    def getHost(self):
        return HOST


class Peer:
    """One open WebSocket to the protocol; `written` is every byte the server wrote to it."""

    def __init__(self, path: str = "/ws/ping/", extensions: str = "", factory=None, transport=None, accept=True):
        self.clock = Clock()
        factory = factory or AppWebSocketFactory(Server(), server="Daphne")
        self.protocol = factory.buildProtocol(PEER)
        self.protocol.clock = self.clock
        self.transport = transport or Transport(peerAddress=PEER, hostAddress=HOST)
        self.protocol.makeConnection(self.transport)
        self.protocol._raw_query_string = b""  # Daphne's HTTP side sets it before the upgrade
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
        self.protocol.dataReceived(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n".encode()
        )
        if not self.transport.value() and accept:  # not refused at once (past the cap): the application accepts
            self.protocol.handle_reply({"type": "websocket.accept"})
        if not self.transport.value():
            return  # still waiting for the application
        self.handshake = self.transport.value()[: self.transport.value().index(b"\r\n\r\n") + 4]
        self.read_up_to = len(self.handshake)  # the handshake, read

    @property
    def written(self) -> bytes:
        return self.transport.value()

    def frames(self) -> list[tuple[int, bytes]]:
        """Every frame the server wrote after its handshake: (opcode, payload)."""
        return [(opcode, payload) for opcode, _, payload in self.frames_with_rsv1()]

    def app_frames(self) -> list[tuple[int, bytes]]:
        """`frames` without the backlog's probes (the first frame after the handshake has one)."""
        return [(opcode, payload) for opcode, _, payload in self.app_frames_with_rsv1()]

    def app_frames_with_rsv1(self) -> list[tuple[int, bool, bytes]]:
        return [f for f in self.frames_with_rsv1() if not (f[0] == PING and f[2].startswith(PROBE_PREFIX))]

    def frames_with_rsv1(self) -> list[tuple[int, bool, bytes]]:
        """(opcode, RSV1 (set on a compressed message, RFC 7692), payload) for every frame."""
        data, at, out = self.written, self.read_up_to, []
        while at < len(data):
            opcode, rsv1, length = data[at] & 0x0F, bool(data[at] & 0x40), data[at + 1] & 0x7F
            at += 2
            if length == 126:
                length, at = struct.unpack(">H", data[at : at + 2])[0], at + 2
            elif length == 127:
                length, at = struct.unpack(">Q", data[at : at + 8])[0], at + 8
            out.append((opcode, rsv1, data[at : at + length]))
            at += length
        return out

    def closes(self) -> list[int]:
        return [struct.unpack(">H", payload[:2])[0] for opcode, payload in self.frames() if opcode == CLOSE]

    def send(self, opcode: int, payload: bytes) -> None:
        """A masked frame from the peer (payloads under 126 bytes)."""
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.protocol.dataReceived(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def app_sends(self, frame: str | bytes) -> None:
        self.protocol.handle_reply(
            {"type": "websocket.send", **({"bytes": frame} if isinstance(frame, bytes) else {"text": frame})}
        )

    def app_sends_directly(self, text: str) -> None:
        """What a consumer does with the scope's `send_text` (ws/direct.py)."""
        self.protocol.send_text(text)

    def answer_probes(self) -> None:
        """What an honest peer's library does once it has read everything: pong each ping."""
        for opcode, payload in self.frames()[self._answered :]:
            if opcode == PING:
                self.send(PONG, payload)
        self._answered = len(self.frames())

    _answered = 0


@pytest.fixture
def peer():
    with override_settings(WS_SEND_BACKLOG_BYTES=64 * KIB, WS_SEND_BACKLOG_SECONDS=10.0):
        yield Peer()


@pytest.mark.parametrize(
    ("frame", "direct"),
    [("x" * 20 * KIB, False), (b"x" * 20 * KIB, False), ("x" * 20 * KIB, True)],
    ids=["text", "bytes", "text-direct"],
)
def test_a_peer_that_never_answers_is_closed_once_and_sent_nothing_more(peer, frame, direct):
    for _ in range(10):
        peer.app_sends_directly(frame) if direct else peer.app_sends(frame)
        peer.clock.now += 0.1
    messages = [payload for opcode, payload in peer.frames() if opcode in (TEXT, BINARY)]
    assert len(messages) == 3  # 60 KiB owed; a fourth would make 80
    assert peer.closes() == [CLOSE_TOO_SLOW]
    assert peer.frames()[-1][0] == CLOSE
    size = len(peer.written)
    peer.send(PING, b"still there?")  # no pong for it either: nothing more is written
    peer.protocol.check_timeouts()
    assert len(peer.written) == size


def test_pongs_to_probes_let_a_reading_peer_go_on_for_ever(peer):
    for _ in range(100):
        peer.app_sends("x" * 20 * KIB)
        peer.answer_probes()
        peer.clock.now += 0.1
        peer.protocol.check_timeouts()
    assert sum(opcode == TEXT for opcode, _ in peer.frames()) == 100
    assert peer.closes() == []


@pytest.mark.parametrize(
    "forged",
    [PROBE_PREFIX + b"\xff" * 8, PROBE_PREFIX + struct.pack(">Q", 1), PROBE_PREFIX + b"\x00" * 16, b"hello"],
    ids=["max-marker", "first-marker", "zeros", "other"],
)
def test_unrequested_pongs_prove_nothing(peer, forged):
    """The attack: app frames never read, and a made-up pong every 0.5 s (under the control rate)."""
    for _ in range(40):
        peer.app_sends("x" * 8 * KIB)
        peer.send(PONG, forged)
        peer.clock.now += 0.5
        peer.protocol.check_timeouts()
    assert peer.closes() == [CLOSE_TOO_SLOW]
    assert sum(opcode == TEXT for opcode, _ in peer.frames()) <= 8


def test_probe_payloads_are_random_and_a_replayed_answer_proves_nothing_more(peer):
    peer.app_sends("x" * 20 * KIB)
    first = [payload for opcode, payload in peer.frames() if opcode == PING]
    assert len(first) == 1
    assert len(first[0]) == len(PROBE_PREFIX) + 16
    peer.send(PONG, first[0])
    assert peer.protocol.backlog.owed < 100  # only the probe's own bytes
    peer.clock.now += 2
    peer.app_sends("x" * 20 * KIB)
    second = [payload for opcode, payload in peer.frames() if opcode == PING][1]
    assert second != first[0]
    peer.send(PONG, first[0])  # replayed
    assert peer.protocol.backlog.owed > 20 * KIB


def test_pongs_to_the_peers_pings_count_and_are_probed(peer):
    """A peer that pings (within the rate) and never reads: its pongs are owed like any frame,
    a probe follows them, and the unanswered probe closes the socket after the bound's age."""
    for _ in range(50):
        peer.send(PING, b"p" * 125)
        peer.clock.now += 0.2
        peer.protocol.check_timeouts()
    pongs = [payload for opcode, payload in peer.frames() if opcode == PONG]
    probes = [payload for opcode, payload in peer.frames() if opcode == PING]
    assert pongs
    assert probes
    assert peer.protocol.backlog.sent_total == len(peer.written)  # every byte, the handshake's too
    assert peer.closes() == [CLOSE_TOO_SLOW]


def test_a_ping_flood_is_closed_with_4008_and_its_pings_go_unanswered(peer):
    for _ in range(1000):
        peer.send(PING, b"p" * 125)
    assert sum(opcode == PONG for opcode, _ in peer.frames()) == CONTROL_BURST
    assert peer.closes() == [CLOSE_RATE_LIMITED]


def test_a_pong_flood_is_closed_with_4008_too(peer):
    for _ in range(100):
        peer.send(PONG, b"x")
    assert peer.closes() == [CLOSE_RATE_LIMITED]


def test_pings_within_the_rate_are_answered(peer):
    for _ in range(100):
        peer.send(PING, b"p")
        peer.answer_probes()
        peer.clock.now += 0.2  # 5 a second
    assert sum(opcode == PONG for opcode, _ in peer.frames()) == 100
    assert peer.closes() == []


def test_a_fast_reader_answering_many_probes_is_not_taken_for_a_flood(peer):
    """Probes go out every quarter of the bound too: a reader taking in 1 MiB a second answers
    16 a second, over the control rate; answers to probes never count against it."""
    for _ in range(200):
        peer.app_sends("x" * 16 * KIB)
        peer.answer_probes()
        peer.clock.now += 1 / 64
    assert sum(opcode == PING for opcode, _ in peer.frames()) > 40
    assert peer.closes() == []


def test_a_socket_that_goes_quiet_after_its_first_frames_stays_open(peer):
    """A chat member in a quiet room: its handshake and first frames, every probe answered, then
    nothing written for far longer than WS_SEND_BACKLOG_SECONDS. Nothing is owed or awaited."""
    peer.app_sends("x" * 10)
    peer.answer_probes()
    peer.clock.now += 0.1
    peer.app_sends("y" * 10)  # within the probe interval: no probe
    for _ in range(30):
        peer.clock.now += 2
        peer.protocol.check_timeouts()
    assert peer.closes() == []
    assert peer.protocol.backlog.probes == []


@pytest.mark.parametrize("code", [4401, 1012], ids=["app-close", "drain"])
def test_nothing_follows_the_close_frame_not_even_a_due_probe(peer, code):
    """A ping after a close frame breaks the protocol (Chromium fails the socket: "Ping received
    after close"); autobahn marks the socket closing only after writing the frame."""
    peer.app_sends("x" * 10)
    peer.answer_probes()
    peer.clock.now += 5  # a probe is due with the next write
    if code == 1012:
        peer.protocol.sendCloseFrame(code=code)  # as the drain sends it
    else:
        peer.protocol.handle_reply({"type": "websocket.close", "code": code})
    assert peer.closes() == [code]
    assert peer.frames()[-1][0] == CLOSE


DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
DELAYS = '{"type":"delays","rows":[' + ",".join(['{"ms":12.5,"region":"eu"}'] * 200) + "]}"


def test_on_the_board_only_delays_frames_are_compressed():
    with override_settings(WS_SEND_BACKLOG_BYTES=64 * KIB, WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions=DEFLATE_OFFER)
    assert b"permessage-deflate" in peer.handshake
    peer.app_sends(DELAYS)
    peer.app_sends('{"type":"pong","t":1}')
    messages = [(rsv1, payload) for opcode, rsv1, payload in peer.frames_with_rsv1() if opcode == TEXT]
    assert [rsv1 for rsv1, _ in messages] == [True, False]
    assert len(messages[0][1]) < len(DELAYS) / 10
    assert messages[1][1] == b'{"type":"pong","t":1}'
    # The backlog counts what went on the wire: the compressed size, not the answer's.
    assert peer.protocol.backlog.sent_total == len(peer.written)


def deflated(text: str, compressor) -> bytes:
    """A first message compressed as RFC 7692 sends it, by `compressor` with the server's
    window: sync-flushed, without the trailing 00 00 ff ff."""
    return (compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_answers_are_compressed_by_isa_l_at_the_fast_level_and_inflate_to_the_same_text():
    figures = random.Random(7)
    answer = (
        '{"type":"delays","clients":['
        + ",".join(
            f'["id{n:05d}","guest-{n:x}",true,{figures.uniform(1, 300):.1f},{figures.uniform(1, 300):.1f}]'
            for n in range(200)
        )
        + "]}"
    )
    with override_settings(WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions=DEFLATE_OFFER)
    peer.app_sends(answer)
    [(_, rsv1, payload)] = peer.app_frames_with_rsv1()
    assert rsv1
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == answer.encode()
    assert DEFLATE_LEVEL == 1
    assert payload == deflated(answer, isal_zlib.compressobj(DEFLATE_LEVEL, isal_zlib.DEFLATED, -DEFLATE_WINDOW_BITS))
    # What autobahn alone would send: zlib at its default level.
    autobahns = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -DEFLATE_WINDOW_BITS)
    assert payload != deflated(answer, autobahns)


def test_a_client_asking_the_server_to_keep_no_context_gets_each_answer_compressed_on_its_own():
    with override_settings(WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions="permessage-deflate; server_no_context_takeover")
    assert peer.handshake.startswith(b"HTTP/1.1 101")
    answers = [DELAYS.replace("12.5", str(n)) for n in range(3)]
    for answer in answers:
        peer.app_sends(answer)
    for (opcode, rsv1, payload), answer in zip(peer.app_frames_with_rsv1(), answers, strict=True):
        assert (opcode, rsv1) == (TEXT, True)
        # The client may start afresh for every message: each inflates on its own.
        assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == answer.encode()


def test_an_open_socket_keeps_only_the_path_of_its_handshake():
    with override_settings(WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions=DEFLATE_OFFER)
    protocol = peer.protocol
    assert protocol.request.path == "/ws/public/"  # Daphne's access log lines
    assert (protocol.http_request_data, protocol.http_response_data, protocol.http_headers) == (b"", b"", {})
    peer.app_sends(DELAYS)  # what was negotiated still holds
    assert [rsv1 for opcode, rsv1, _ in peer.frames_with_rsv1() if opcode == TEXT] == [True]


@pytest.mark.parametrize(("path", "enabled"), [("/ws/ping/", True), ("/ws/chat/lobby/", True), ("/ws/public/", False)])
def test_no_deflate_off_the_board_or_when_turned_off(path, enabled):
    with override_settings(WS_PERMESSAGE_DEFLATE=enabled):
        peer = Peer(path, extensions=DEFLATE_OFFER)
    assert peer.handshake.startswith(b"HTTP/1.1 101")
    assert b"permessage-deflate" not in peer.handshake
    peer.app_sends(DELAYS)
    assert [rsv1 for opcode, rsv1, _ in peer.frames_with_rsv1() if opcode == TEXT] == [False]


def test_past_the_cap_a_handshake_gets_503_and_a_closed_socket_gives_its_place_back():
    with override_settings(WS_MAX_SOCKETS=1):
        factory = AppWebSocketFactory(Server(), server="Daphne")
    first = Peer(factory=factory)
    refused = Peer(factory=factory)
    assert first.handshake.startswith(b"HTTP/1.1 101")
    assert refused.handshake.startswith(b"HTTP/1.1 503")
    refused.protocol.connectionLost(Failure(ConnectionDone()))
    assert factory.cap.open == 1  # the refused one held no place
    first.protocol.connectionLost(Failure(ConnectionDone()))
    assert Peer(factory=factory).handshake.startswith(b"HTTP/1.1 101")


def test_a_handshake_refused_as_overdue_gets_503_and_never_counts_as_opened():
    """The consumer asks `opened()` after its accept (ws/direct.py OPENED_KEY): a handshake the
    server gave up on is refused with 503 and stays unopened, whatever comes after."""
    waiting = Peer(accept=False)
    assert not waiting.protocol.opened()
    waiting.protocol.socket_opened -= waiting.protocol.server.websocket_connect_timeout + 1
    waiting.protocol.check_timeouts()
    assert waiting.written.startswith(b"HTTP/1.1 503")
    assert not waiting.protocol.opened()
    accepted = Peer()
    assert accepted.protocol.opened()
    accepted.protocol.connectionLost(Failure(ConnectionDone()))
    assert not accepted.protocol.opened()


async def test_the_server_offers_each_socket_its_opened_check_in_the_scope():
    peer, scopes = Peer(), []

    async def application(scope, receive, send):
        scopes.append(scope)

    server = DrainingServer.__new__(DrainingServer)  # only what create_application reads
    server.application, server.connections = application, {peer.protocol: {}}
    server.create_application(peer.protocol, {"type": "websocket"})
    await server.connections[peer.protocol]["application_instance"]
    [scope] = scopes
    assert scope[OPENED_KEY]() is True
    peer.protocol.connectionLost(Failure(ConnectionDone()))
    assert scope[OPENED_KEY]() is False


def test_a_frame_goes_to_the_socket_at_once_when_nothing_is_queued():
    peer = Peer(transport=SocketTransport())
    peer.app_sends("hello")
    assert peer.app_frames() == [(TEXT, b"hello")]
    assert peer.transport.reactor.getWriters() == []  # the reactor was never asked to watch it


def test_what_the_socket_does_not_take_waits_in_twisteds_queue_and_keeps_its_order():
    peer = Peer(transport=SocketTransport())
    peer.transport.room = 3
    peer.app_sends("first")
    peer.app_sends("second")  # behind the rest of "first", not straight to the socket
    assert peer.transport.reactor.getWriters() == [peer.transport]
    peer.transport.room = 2**30
    peer.transport.doWrite()
    assert peer.app_frames() == [(TEXT, b"first"), (TEXT, b"second")]
    assert peer.transport.reactor.getWriters() == []


def test_a_text_sent_directly_is_framed_once_for_every_socket_it_goes_to():
    join = '{"type":"connect","clients":[{"id":"a","name":"guest-1","guest":true}]}'
    peers = [Peer("/ws/public/"), Peer("/ws/public/")]
    for peer in peers:
        peer.app_sends_directly(join)
    assert [peer.app_frames() for peer in peers] == [[(TEXT, join.encode())]] * 2
    frame = prepared(join)
    assert frame is prepared(join)  # the same frame, made once
    assert all(frame.payloadHybi in peer.written for peer in peers)


def test_sent_directly_delays_are_compressed_and_the_rest_not():
    with override_settings(WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions=DEFLATE_OFFER)
    peer.app_sends_directly(DELAYS)
    peer.app_sends_directly('{"type":"pong","seq":1}')
    assert [rsv1 for opcode, rsv1, _ in peer.frames_with_rsv1() if opcode == TEXT] == [True, False]


def test_a_text_sent_directly_to_a_closed_socket_is_dropped_quietly(peer):
    peer.protocol.connectionLost(Failure(ConnectionDone()))
    size = len(peer.written)
    peer.app_sends_directly("too late")
    assert len(peer.written) == size


@pytest.mark.parametrize("bits", [9, 12])
def test_a_client_asking_for_a_smaller_server_window_gets_it_and_frames_that_fit_it(bits):
    """RFC 7692 lets a client cap the server's window (server_max_window_bits): the handshake is
    answered with that cap, and every answer inflates with a window that small (a frame
    compressed with the 2^15 window would refer back past it: "invalid distance too far back")."""
    far = "".join(random.Random(bits).choice("abcdefghij0123456789") for _ in range(1500))
    answer = '{"type":"delays","clients":["' + far + '","' + far + '"]}'
    with override_settings(WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions=f"permessage-deflate; server_max_window_bits={bits}")
    assert peer.handshake.startswith(b"HTTP/1.1 101")
    assert f"server_max_window_bits={bits}".encode() in peer.handshake
    peer.app_sends_directly(answer)
    peer.app_sends(answer)
    inflate = zlib.decompressobj(-bits)  # context kept from one message to the next
    messages = [(rsv1, payload) for opcode, rsv1, payload in peer.frames_with_rsv1() if opcode == TEXT]
    assert [rsv1 for rsv1, _ in messages] == [True, True]
    assert [inflate.decompress(payload + b"\x00\x00\xff\xff") for _, payload in messages] == [answer.encode()] * 2


@pytest.mark.parametrize(
    ("offer", "answered"),
    [
        ("permessage-deflate; client_max_window_bits", b"client_max_window_bits=10"),
        ("permessage-deflate; client_max_window_bits=12", b"client_max_window_bits=10"),
        ("permessage-deflate; client_max_window_bits=9", b"client_max_window_bits=9"),
        ('permessage-deflate; client_max_window_bits="9"', b"client_max_window_bits=9"),
    ],
)
def test_the_client_window_asked_for_is_never_above_the_one_the_client_offered(offer, answered):
    """RFC 7692 7.1.2.2: a response's client_max_window_bits must not exceed the offer's value;
    a client offering 9 that heard 10 would fail the handshake."""
    with override_settings(WS_PERMESSAGE_DEFLATE=True):
        peer = Peer("/ws/public/", extensions=offer)
    assert peer.handshake.startswith(b"HTTP/1.1 101")
    assert answered + b"\r\n" in peer.handshake or answered + b";" in peer.handshake


async def test_after_the_drain_every_running_application_is_cancelled_even_beside_a_request_still_coming_in():
    """Daphne's kill_all_applications raised KeyError on a connection with no application yet
    (an HTTP request or a handshake not complete when the drain ended), and cancelled nothing."""
    running, done = asyncio.ensure_future(asyncio.sleep(60)), asyncio.ensure_future(asyncio.sleep(0))
    await done
    server = DrainingServer.__new__(DrainingServer)  # only what cancel_remaining reads
    server.connections = {"arriving": {"connected": 0.0}, "open": {"application_instance": running}}
    server.connections["finished"] = {"application_instance": done}
    await server.cancel_remaining()
    assert running.cancelled()

"""Daphne's protocol with the send backlog bound (ws/serve.py), its glue alone: every frame the
application sends, text or bytes, is counted and probed; over the bound the socket is closed
with 4009 once and sent nothing more; pongs to probes pay the debt."""

import struct

import pytest

from shared.backlog import SendBacklog
from shared.protocol import CLOSE_TOO_SLOW
from ws.serve import PROBE_PREFIX, BoundedWebSocketProtocol

KIB = 1024


class Recorded(BoundedWebSocketProtocol):
    """The protocol with autobahn's wire methods replaced by a record of what they were asked."""

    def __init__(self):
        self.state = self.STATE_OPEN
        self.client_addr = ["127.0.0.1", 0]
        self.backlog = SendBacklog(max_bytes=64 * KIB, max_seconds=10.0)
        self.wire: list[tuple] = []

    def sendMessage(self, payload, isBinary=False, doNotCompress=False):
        self.wire.append(("message", len(payload), isBinary))

    def sendPing(self, payload=None):
        self.wire.append(("ping", payload))

    def sendClose(self, code=None, reason=None):
        self.wire.append(("close", code))
        self.state = self.STATE_CLOSING

    def probes(self) -> list[int]:
        return [
            struct.unpack(">Q", p[len(PROBE_PREFIX) :])[0] for kind, *rest in self.wire if kind == "ping" for p in rest
        ]


@pytest.mark.parametrize("frame", ["x" * 20 * KIB, b"x" * 20 * KIB], ids=["text", "bytes"])
def test_a_peer_that_never_answers_is_closed_once_and_sent_nothing_more(frame):
    protocol = Recorded()
    for _ in range(10):
        protocol.handle_reply(
            {"type": "websocket.send", **({"bytes": frame} if isinstance(frame, bytes) else {"text": frame})}
        )
    messages = [entry for entry in protocol.wire if entry[0] == "message"]
    assert len(messages) == 3  # 60 KiB owed; a fourth would make 80
    assert [entry for entry in protocol.wire if entry[0] == "close"] == [("close", CLOSE_TOO_SLOW)]
    assert protocol.wire[-1] == ("close", CLOSE_TOO_SLOW)


def test_pongs_to_probes_let_a_reading_peer_go_on_for_ever():
    protocol = Recorded()
    for _ in range(100):
        protocol.serverSend("x" * 20 * KIB)
        for marker in protocol.probes():
            protocol.onPong(PROBE_PREFIX + struct.pack(">Q", marker))
    assert sum(entry[0] == "message" for entry in protocol.wire) == 100
    assert all(entry[0] != "close" for entry in protocol.wire)


def test_pongs_that_are_not_probes_change_nothing():
    protocol = Recorded()
    protocol.serverSend("x" * 40 * KIB)
    protocol.onPong(b"an autobahn auto-ping payload")
    protocol.onPong(PROBE_PREFIX + b"\x00")
    assert protocol.backlog.owed == 40 * KIB

"""Daphne's own command line, with its WebSocket protocol adjusted (ws/start runs this).

- Clean failures: autobahn fails a connection by dropping TCP unless told otherwise, so a
  client that sends a frame over the cap would see an abnormal 1006 and no reason. With
  failByDrop off it gets a close frame with 1009 (message too big) first; ping timeouts close
  cleanly the same way.
- A bounded send backlog: Twisted never blocks a write, it buffers it, and Daphne counts any
  incoming frame as a sign of life. So a peer that sends but never reads would make its
  worker buffer every answer and broadcast for it, for ever (django/daphne#170). Every frame
  the application sends, of any kind, passes `BoundedWebSocketProtocol.serverSend`, which
  keeps the account of shared/backlog.py: bytes sent, probes (pings) sent after them, and
  what the pongs prove was read. Over the bound the socket is closed with 4009 and every
  later frame for it is dropped. A peer that does not read will not read the close frame
  either: autobahn drops the connection when the closing handshake is not answered within
  CLOSE_GRACE_SECONDS.
- A bounded number of sockets: past WS_MAX_SOCKETS open on this worker a handshake is refused
  with HTTP 503 before any application instance is made, and counted (shared/capacity.py).
  Daphne itself can only refuse with 403 (its `websocket.close` before accept).
- permessage-deflate (RFC 7692) for the board's `delays` answers only: on /ws/public/ (no other
  endpoint negotiates it), when the client offers it
  (every browser does), those frames go compressed with the context kept from one to the next,
  so the 200 rows a viewer already has cost little more than what changed (32 KB -> 2-5 KB).
  Every other frame goes as it is: pongs stay as fast as they were, and a socket that never
  gets an answer (an idle viewer, chat, presence) never allocates a compressor (~136 KiB).
  Why this and not compact rows or deltas: docs/benchmarks.md. WS_PERMESSAGE_DEFLATE=false
  turns it off.
"""

import logging
import struct
import time

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionDeny
from daphne import server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings

from shared.backlog import SendBacklog
from shared.capacity import SocketCap, count_refusal
from shared.protocol import CLOSE_TOO_SLOW

log = logging.getLogger(__name__)

# How long a socket closed for slowness gets to answer the close before its connection is
# dropped (autobahn's closeHandshakeTimeout, set explicitly so it cannot drift to "never").
CLOSE_GRACE_SECONDS = 1.0


# Frames worth compressing (module doc): the board's answers, large and alike from one to the next.
COMPRESSED_FRAME_PREFIXES = (b'{"type":"delays"',)
# The compressor's window (2^15: an answer, ~23 KB, sees the previous one) and zlib memLevel:
# 4 keeps the state at 136 KiB (8 would be 256 KiB) for 2-4% larger frames (docs/benchmarks.md).
DEFLATE_WINDOW_BITS, DEFLATE_MEM_LEVEL = 15, 4
# What the client may compress with: its frames are small, and a 2^10 window keeps the server's
# decompressor of a reporting socket small too.
CLIENT_WINDOW_BITS = 10


# Only the board's sockets negotiate it: elsewhere nothing is compressed, and a socket that
# negotiated would still pay for inflating every frame its client compresses.
COMPRESSED_PATHS = ("/ws/public/",)


def worth_compressing(data: bytes) -> bool:
    return data.startswith(COMPRESSED_FRAME_PREFIXES)


def accept_deflate(offers: list) -> PerMessageDeflateOfferAccept | None:
    """autobahn's perMessageCompressionAccept: take the client's permessage-deflate offer."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(
                offer,
                request_max_window_bits=CLIENT_WINDOW_BITS if offer.accept_max_window_bits else 0,
                window_bits=DEFLATE_WINDOW_BITS,
                mem_level=DEFLATE_MEM_LEVEL,
            )
    return None


# A probe's ping payload: this prefix, then its marker (8 bytes, big-endian).
PROBE_PREFIX = b"backlog:"


class BoundedWebSocketProtocol(WebSocketProtocol):
    """Daphne's protocol, closing a socket whose peer does not read (module doc)."""

    closed_too_slow = False
    # Whether this connection holds a place in the worker's SocketCap (give it back once).
    admitted = False

    def onConnect(self, request):
        """Refuse the handshake with 503 when this worker is full (module doc)."""
        if not self.factory.cap.admit():
            log.warning("refusing a WebSocket: %d sockets open, the cap (WS_MAX_SOCKETS)", self.factory.cap.open)
            raise ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Service Unavailable: this worker is full")
        self.admitted = True
        return super().onConnect(request)

    def connectionLost(self, reason):
        if self.admitted:
            self.admitted = False
            self.factory.cap.release()
        super().connectionLost(reason)

    def connectionMade(self):
        super().connectionMade()
        self.backlog = SendBacklog(settings.WS_SEND_BACKLOG_BYTES, settings.WS_SEND_BACKLOG_SECONDS)
        if settings.WS_PERMESSAGE_DEFLATE:
            self.perMessageCompressionAccept = self.accept_deflate_on_the_board

    def accept_deflate_on_the_board(self, offers: list) -> PerMessageDeflateOfferAccept | None:
        """permessage-deflate for the board's sockets only (COMPRESSED_PATHS)."""
        path = getattr(self, "http_request_path", "") or ""
        return accept_deflate(offers) if path.startswith(COMPRESSED_PATHS) else None

    def serverSend(self, content, binary=False):
        """Every application frame comes here (Daphne's handle_reply): write it, or drop it and
        close the socket when the peer owes too much already."""
        if self.closed_too_slow:
            return  # closing: the application's frames have nowhere to go
        if self.state == self.STATE_CONNECTING:
            self.serverAccept()
        data = content if binary else content.encode("utf8")
        now = time.monotonic()
        if self.state == self.STATE_OPEN and not self.backlog.allows(now, len(data)):
            self.close_too_slow(now)
            return
        self.sendMessage(data, binary, doNotCompress=not worth_compressing(data))
        marker = self.backlog.sent(len(data), now)
        if marker is not None:
            self.sendPing(PROBE_PREFIX + struct.pack(">Q", marker))

    def onPong(self, payload):
        if payload.startswith(PROBE_PREFIX) and len(payload) == len(PROBE_PREFIX) + 8:
            self.backlog.answered(struct.unpack(">Q", payload[len(PROBE_PREFIX) :])[0])

    def check_timeouts(self):
        """Daphne calls this every 2 s: also catch a peer that no new frame comes to test."""
        overdue = self.state == self.STATE_CONNECTING and hasattr(self, "handshake_deferred")
        if overdue and self.duration() > self.server.websocket_connect_timeout:
            self.refuse_overdue()
            return
        super().check_timeouts()
        now = time.monotonic()
        if self.state == self.STATE_OPEN and not self.closed_too_slow and not self.backlog.allows(now):
            self.close_too_slow(now)

    def refuse_overdue(self) -> None:
        """A handshake the application did not accept in time (the worker is swamped, as in a
        connect storm): 503 like any refusal for capacity, counted, where Daphne would say 403."""
        count_refusal()
        log.warning(
            "refusing a WebSocket not accepted within %s s: the worker is busy", self.server.websocket_connect_timeout
        )
        self.handshake_deferred.errback(ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Service Unavailable: busy"))
        del self.handshake_deferred
        self.server.protocol_disconnected(self)

    def close_too_slow(self, now: float) -> None:
        self.closed_too_slow = True
        log.info(
            "closing a WebSocket whose peer does not read (%s): owes %d bytes, probe unanswered for %.1f s",
            self.client_addr,
            self.backlog.owed,
            self.backlog.age(now),
        )
        self.sendClose(code=CLOSE_TOO_SLOW)


class AppWebSocketFactory(WebSocketFactory):
    protocol = BoundedWebSocketProtocol

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False, closeHandshakeTimeout=CLOSE_GRACE_SECONDS)
        self.cap = SocketCap(settings.WS_MAX_SOCKETS)


# Daphne builds its factory from this module-level name in Server.run().
server.WebSocketFactory = AppWebSocketFactory

if __name__ == "__main__":
    CommandLineInterface.entrypoint()

"""Daphne's own command line, with its WebSocket protocol adjusted (ws/start runs this), a
graceful drain on SIGTERM, and, with LOG_FORMAT=json, its access lines logged as JSON
(ws/access.py).

- Clean failures: autobahn fails a connection by dropping TCP unless told otherwise, so a
  client that sends a frame over the cap would see an abnormal 1006 and no reason. With
  failByDrop off it gets a close frame with 1009 (message too big) first; ping timeouts close
  cleanly the same way.
- A bounded send backlog: Twisted never blocks a write, it buffers it, and Daphne counts any
  incoming frame as a sign of life. So a peer that sends but never reads would make its
  worker buffer every answer and broadcast for it, for ever (django/daphne#170). Every byte
  written to the connection, whatever wrote it (the application's frames, autobahn's pongs to
  the peer's pings, Daphne's own pings, the close frame), passes
  `BoundedWebSocketProtocol.counted_write`, which keeps the account of shared/backlog.py:
  bytes written, probes (pings with random payloads) sent after them, and what the pongs to
  those probes prove was read. Over the bound the socket is closed with 4009 and nothing
  more is written to it but its close frame. A peer that does not read will not read the
  close frame either: autobahn drops the connection when the closing handshake is not
  answered within CLOSE_GRACE_SECONDS.
- Control frames from the peer are rate limited: pings and pongs together (but for the pongs
  that answer probes, which come no faster than probes go out) at most
  CONTROL_RATE_PER_SECOND on average (burst CONTROL_BURST, shared/ratelimit.py). A peer over
  it is closed with 4008 and its pings go unanswered: each ping costs the server a pong it
  must buffer, so a ping flood is a way to make it buffer without sending application frames.
- Writes go to the socket at once when nothing waits before them (BoundedWebSocketProtocol.
  write_now), as asyncio's transports do; Twisted's own write queues every one and has the
  reactor watch the socket until the queue is out, two epoll_ctl calls and a loop pass per
  frame: ~13% of the workers' busy time in a chat broadcast to 500 members
  (docs/benchmarks.md). What the socket does not take waits in Twisted's queue, as before.
- A graceful drain: on SIGTERM, Twisted stops the reactor and Daphne cancels every consumer at
  once: their sockets would drop with no close frame (1006) and their disconnect() would not
  finish. DrainingServer first stops listening and closes every socket with 1012, spread over
  WS_DRAIN_SECONDS, and waits for their disconnect() and for the announcements and writes those
  left to the worker (ws/drain.py, Worker.flush); Daphne then cancels whatever is left.
- A bounded number of sockets: past WS_MAX_SOCKETS open on this worker a handshake is refused
  with HTTP 503 before any application instance is made, and counted (shared/capacity.py).
  Daphne itself can only refuse with 403 (its `websocket.close` before accept). A handshake
  the swamped worker did not accept within Daphne's connect timeout gets 503 too (counted),
  where Daphne would answer 403; its consumer's late accept opens nothing (ws/direct.py
  OPENED_KEY).
- permessage-deflate (RFC 7692) for the board's `delays` answers only: on /ws/public/ (no other
  endpoint negotiates it), when the client offers it (every browser does), those frames go
  compressed with the context kept from one to the next, so the 200 rows a viewer already has
  cost little more than what changed. Rows go as compact arrays (shared/protocol.py), so an
  answer (~14 KB) and the one before it fit the 32 KiB window together (14 KB -> 1-3 KB).
  Every other frame goes as it is: pongs stay as fast as they were, and a socket that never
  gets an answer (an idle viewer, chat, presence) never allocates a compressor (~83 KiB).
  Compressed by ISA-L (python-isal) at its level 1, not by zlib at autobahn's level 6: the same
  DEFLATE stream for any client's inflater, at about a twentieth of the CPU (23 us an answer,
  zlib's level 1 84 us, level 6 460 us), for fewer bytes than zlib's level 1 and ~1.6x level 6's
  (the CPU of compressing an answer per report is what bound the board at 1,000 clients).
  Why compact rows and deflate, not deltas or fewer rows: docs/benchmarks.md.
  WS_PERMESSAGE_DEFLATE=false turns it off. The send backlog counts the bytes as written,
  compressed or not.
"""

import asyncio
import logging
import os
import time
from functools import partial
from typing import NamedTuple

from autobahn.websocket.compress import PerMessageDeflate, PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionDeny
from daphne import cli, server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from isal import isal_zlib
from twisted.internet import defer
from twisted.internet.abstract import FileDescriptor

from shared.backlog import SendBacklog
from shared.capacity import REFUSED_AFTER_TIMEOUT, SocketCap, count_refusal
from shared.drain import LAST_FLUSH_SECONDS
from shared.protocol import CLOSE_RATE_LIMITED, CLOSE_TOO_SLOW
from shared.ratelimit import CONTROL_BURST, CONTROL_RATE_PER_SECOND, TokenBucket
from ws.access import LoggedAccess
from ws.direct import AT_ONCE_KEY, OPENED_KEY, SCOPE_KEY, AtOnce, prepared
from ws.drain import drain, flush_before, pending_applications
from ws.worker import Worker

log = logging.getLogger(__name__)

# How long a socket closed for slowness gets to answer the close before its connection is
# dropped (autobahn's closeHandshakeTimeout, set explicitly so it cannot drift to "never").
CLOSE_GRACE_SECONDS = 1.0

# Frames worth compressing (module doc): the board's answers, large and alike from one to the next.
COMPRESSED_FRAME_PREFIXES = (b'{"type":"delays"',)
COMPRESSED_TEXT_PREFIXES = tuple(prefix.decode() for prefix in COMPRESSED_FRAME_PREFIXES)
# The compressor's window (2^15: an answer, ~14 KB, sees the previous one).
DEFLATE_WINDOW_BITS = 15
# ISA-L's levels go from 0 to 3; 1 is the best bytes for the CPU on the board's answers, and its
# state is ~83 KiB per compressing socket (zlib's at memLevel 4: ~124 KiB; docs/benchmarks.md).
DEFLATE_LEVEL = 1
# What the client may compress with: its frames are small, and a 2^10 window keeps the server's
# decompressor of a reporting socket small too.
CLIENT_WINDOW_BITS = 10
# Only the board's sockets negotiate it: elsewhere nothing is compressed, and a socket that
# negotiated would still pay for inflating every frame its client compresses.
COMPRESSED_PATHS = ("/ws/public/",)


def worth_compressing(data: bytes) -> bool:
    return data.startswith(COMPRESSED_FRAME_PREFIXES)


def offered_client_window(header: str) -> int | None:
    """The value of client_max_window_bits in the first permessage-deflate offer of a
    Sec-WebSocket-Extensions header; None when it has none (or there is no such offer).
    autobahn parses the value but keeps only that the parameter was there."""
    for offer in header.split(","):
        name, *params = (part.strip() for part in offer.split(";"))
        if name != "permessage-deflate":
            continue
        for param in params:
            key, _, value = (part.strip().strip('"') for part in param.partition("="))
            if key == "client_max_window_bits" and value.isdigit():
                return int(value)
        return None
    return None


def accept_deflate(offers: list, client_window_cap: int | None = None) -> PerMessageDeflateOfferAccept | None:
    """autobahn's perMessageCompressionAccept: take the client's permessage-deflate offer.

    A client may ask for a smaller server window (server_max_window_bits=9..14, RFC 7692
    7.1.2.1): the compressor then uses that one. (autobahn raises on a larger one, and an
    exception here leaves the handshake unanswered while the consumer has already accepted.)
    The client's own window is asked down to CLIENT_WINDOW_BITS when it allows that, never above
    the value it offered (`client_window_cap`: the response must not exceed it, 7.1.2.2).
    """
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            asked = offer.request_max_window_bits
            client_window = min(CLIENT_WINDOW_BITS, client_window_cap or CLIENT_WINDOW_BITS)
            return PerMessageDeflateOfferAccept(
                offer,
                request_max_window_bits=client_window if offer.accept_max_window_bits else 0,
                window_bits=min(DEFLATE_WINDOW_BITS, asked) if asked else DEFLATE_WINDOW_BITS,
            )
    return None


class FastDeflate(PerMessageDeflate):
    """autobahn's permessage-deflate, with the server's frames compressed by ISA-L at
    DEFLATE_LEVEL instead of zlib at its default (6), which autobahn does not let one set. The
    same stream format (RFC 7692), inflated by zlib or any other inflater; what the client
    sends is still inflated by autobahn with zlib."""

    @classmethod
    def replacing(cls, negotiated: PerMessageDeflate) -> "FastDeflate":
        """The same negotiated parameters; made before the first message, so no state is lost."""
        return cls(
            negotiated._is_server,
            negotiated.server_no_context_takeover,
            negotiated.client_no_context_takeover,
            negotiated.server_max_window_bits,
            negotiated.client_max_window_bits,
            negotiated.mem_level,
            negotiated.max_message_size,
        )

    def start_compress_message(self):
        if not self._is_server:
            super().start_compress_message()
        elif self._compressor is None or self.server_no_context_takeover:
            # isal_zlib's compressobj and flush(Z_SYNC_FLUSH) are zlib's, which autobahn calls.
            self._compressor = isal_zlib.compressobj(DEFLATE_LEVEL, isal_zlib.DEFLATED, -self.server_max_window_bits)


class OpenedRequest(NamedTuple):
    """What Daphne reads of an open socket's handshake request (its access log lines)."""

    path: str


# A probe's ping payload: this prefix, then its random token (16 bytes, shared/backlog.py).
PROBE_PREFIX = b"backlog:"


class BoundedWebSocketProtocol(WebSocketProtocol):
    """Daphne's protocol, closing a socket whose peer does not read, or floods it with control
    frames (module doc)."""

    closed_too_slow = False
    closed_for_control_flood = False
    # True while the close frame for slowness is written: the one write let through after it.
    _writing_close = False
    # True while a probe is written: its own bytes never call for another probe.
    _probing = False
    # True from the close frame on: autobahn marks the socket closing only after writing it, and
    # a ping after a close frame breaks the protocol (browsers fail the socket: "Ping received
    # after close").
    _close_sent = False
    # Seconds, monotonic (tests replace it).
    clock = staticmethod(time.monotonic)
    # Whether this connection holds a place in the worker's SocketCap (give it back once).
    admitted = False

    def onConnect(self, request):
        """Refuse the handshake with 503 when this worker is full (module doc)."""
        if not self.factory.cap.admit():
            log.warning("refusing a WebSocket: %d sockets open, the cap (WS_MAX_SOCKETS)", self.factory.cap.open)
            raise ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Service Unavailable: this worker is full")
        self.admitted = True
        return super().onConnect(request)

    def onOpen(self):
        if isinstance(self._perMessageCompress, PerMessageDeflate):
            self._perMessageCompress = FastDeflate.replacing(self._perMessageCompress)
        super().onOpen()
        self.forget_handshake()

    def forget_handshake(self) -> None:
        """Let go of what autobahn and Daphne keep of the handshake once the socket is open, and
        nothing reads again: the raw request and response, the parsed headers (the application
        has its own copy in its scope) and extension offers: ~1.3 KiB for every idle socket.
        Daphne still logs the request's path."""
        self.request = OpenedRequest(self.request.path)
        self.http_request_data = self.http_response_data = b""
        self.http_headers, self.http_request_params, self.websocket_extensions = {}, {}, []

    def connectionLost(self, reason):
        if self.admitted:
            self.admitted = False
            self.factory.cap.release()
        super().connectionLost(reason)

    def onClose(self, wasClean, code, reason):
        # A handshake refused past the cap never reached Daphne's onConnect: no server was
        # told of it and no application was made, so there is nothing to tell either (Daphne's
        # onClose would fail on the missing `self.server`, an error logged per refused socket).
        if "server" in self.__dict__:
            super().onClose(wasClean, code, reason)

    def connectionMade(self):
        self.backlog = SendBacklog(settings.WS_SEND_BACKLOG_BYTES, settings.WS_SEND_BACKLOG_SECONDS)
        self.control_frames = TokenBucket(CONTROL_RATE_PER_SECOND, CONTROL_BURST, clock=self.clock)
        # Every write to the connection from here on (the handshake's answer included) counts.
        self._raw_write = self.transport.write
        self.transport.write = self.counted_write
        super().connectionMade()
        if settings.WS_PERMESSAGE_DEFLATE:
            self.perMessageCompressionAccept = self.accept_deflate_on_the_board

    def accept_deflate_on_the_board(self, offers: list) -> PerMessageDeflateOfferAccept | None:
        """permessage-deflate for the board's sockets only (COMPRESSED_PATHS)."""
        path = getattr(self, "http_request_path", "") or ""
        if not path.startswith(COMPRESSED_PATHS):
            return None
        return accept_deflate(offers, offered_client_window(self.http_headers.get("sec-websocket-extensions", "")))

    def counted_write(self, data: bytes) -> None:
        """The transport's write, for every byte this connection sends: refused (and the socket
        closed with 4009) when the peer owes too much; followed by a probe when one is due."""
        if self.closed_too_slow and not self._writing_close:
            return  # closing: nothing more goes to a peer that does not read
        now = self.clock()
        if self.state == self.STATE_OPEN and not self.closed_too_slow and not self.backlog.allows(now, len(data)):
            self.close_too_slow(now)
            return
        self.write_now(data)
        can_probe = self.state == self.STATE_OPEN and not (self._probing or self._close_sent or self.closed_too_slow)
        probe = self.backlog.sent(len(data), now, can_probe)
        if probe is None:
            return
        self._probing = True
        try:
            self.sendPing(PROBE_PREFIX + probe)
        finally:
            self._probing = False

    def write_now(self, data: bytes) -> None:
        """Hand `data` to the socket at once when nothing is queued before it (module doc); what
        the socket does not take, and anything behind queued bytes, goes to Twisted's queue."""
        transport = self.transport
        if not (isinstance(transport, FileDescriptor) and self._nothing_queued(transport)):
            self._raw_write(data)
            return
        sent = transport.writeSomeData(data)
        if isinstance(sent, Exception):
            sent = 0  # the queued write meets the failure again and closes the connection, as always
        if sent < len(data):
            self._raw_write(data[sent:])

    @staticmethod
    def _nothing_queued(transport: FileDescriptor) -> bool:
        """A plain connection, open for writing, with no bytes waiting in Twisted's queue."""
        return (
            transport.connected
            and not transport.disconnecting
            and not transport._writeDisconnected
            and not getattr(transport, "TLS", False)
            and not transport._tempDataBuffer
            and len(transport.dataBuffer) == transport.offset
        )

    def sendCloseFrame(self, code=None, reasonUtf8=None, isReply=False):
        self._close_sent = True
        super().sendCloseFrame(code, reasonUtf8, isReply)

    def serverSend(self, content, binary=False):
        """Every application frame comes here (Daphne's handle_reply, whose own serverSend this
        replaces): compressed only when worth it (module doc); once the socket is closing for
        slowness, the application's frames have nowhere to go."""
        if self.closed_too_slow:
            return
        if self.state == self.STATE_CONNECTING:
            self.serverAccept()
        data = content if binary else content.encode("utf8")
        self.sendMessage(data, binary, doNotCompress=not worth_compressing(data))

    def send_text(self, text: str) -> None:
        """A text frame straight from the consumer (ws/direct.py), as `serverSend` would send
        it: dropped once the socket is no longer open (autobahn would raise) or closing for
        slowness; compressed when worth it, else framed once for every socket it goes to."""
        if self.state != self.STATE_OPEN or self.closed_too_slow:
            return
        if self._perMessageCompress is not None and text.startswith(COMPRESSED_TEXT_PREFIXES):
            self.sendMessage(text.encode("utf8"), False)
        else:
            self.sendPreparedMessage(prepared(text))

    def opened(self) -> bool:
        """Whether the handshake succeeded and the socket is not closed yet (ws/direct.py)."""
        return self.state == self.STATE_OPEN

    def _onPing(self, payload):
        if self.control_frame_allowed():
            super()._onPing(payload)  # autobahn answers with a pong (counted by counted_write)

    def _onPong(self, payload):
        # Only the answer to a probe still waiting proves anything (shared/backlog.py). Those
        # come no faster than the probes went out, so only the other pongs count as flooding.
        if payload.startswith(PROBE_PREFIX) and self.backlog.answered(payload[len(PROBE_PREFIX) :]):
            return
        self.control_frame_allowed()

    def control_frame_allowed(self) -> bool:
        """Within the peer's control frame rate; otherwise close the socket with 4008 once."""
        if self.closed_for_control_flood:
            return False
        if self.control_frames.take():
            return True
        self.closed_for_control_flood = True
        log.info("closing a WebSocket whose peer floods it with control frames (%s)", self.client_addr)
        if self.state == self.STATE_OPEN:
            self.sendClose(code=CLOSE_RATE_LIMITED)
        return False

    def check_timeouts(self):
        """Daphne calls this every 2 s: also catch a peer that no new frame comes to test."""
        overdue = self.state == self.STATE_CONNECTING and hasattr(self, "handshake_deferred")
        if overdue and self.duration() > self.server.websocket_connect_timeout:
            self.refuse_overdue()
            return
        super().check_timeouts()
        now = self.clock()
        if self.state == self.STATE_OPEN and not self.closed_too_slow and not self.backlog.allows(now):
            self.close_too_slow(now)

    def refuse_overdue(self) -> None:
        """A handshake the application did not accept in time (the worker is swamped, as in a
        connect storm): 503 like any refusal for capacity, counted, where Daphne would say 403."""
        count_refusal(REFUSED_AFTER_TIMEOUT)
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
        self._writing_close = True
        try:
            self.sendClose(code=CLOSE_TOO_SLOW)
        finally:
            self._writing_close = False


class AppWebSocketFactory(WebSocketFactory):
    protocol = BoundedWebSocketProtocol

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False, closeHandshakeTimeout=CLOSE_GRACE_SECONDS)
        self.cap = SocketCap(settings.WS_MAX_SOCKETS)


# Daphne builds its factory from this module-level name in Server.run().
server.WebSocketFactory = AppWebSocketFactory


class Inbox:
    """An application instance's incoming messages: what Daphne needs of its input queue
    (`put_nowait`, and `get` as the application's `receive`), for one reader.

    Daphne makes an asyncio.Queue per connection, whose three deques (items, getters, putters)
    hold a 64-slot block each: ~3 KiB for every idle socket, which has no message waiting.

    A message that comes while the reader waits is first offered to its `at_once` handler, if
    it registered one (ws/direct.py): handled there, it is never queued.
    """

    __slots__ = ("_items", "_waiter", "at_once")

    def __init__(self) -> None:
        self._items: list[dict] = []
        self._waiter: asyncio.Future | None = None
        self.at_once: AtOnce | None = None

    def put_nowait(self, message: dict) -> None:
        # A pending waiter means an empty queue and a reader done with everything before.
        waiting = self._waiter is not None and not self._waiter.done()
        if waiting and self.at_once is not None and self.at_once(message):
            return
        self._items.append(message)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> dict:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class DrainingServer(server.Server):
    """Daphne's Server, draining its sockets before its shutdown cancels the consumers, with a
    lighter input queue per connection (Inbox)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ports = []

    def create_application(self, protocol, scope):
        """Daphne's own, with an Inbox for the application's messages instead of an asyncio.Queue,
        and in the scope the protocol's `send_text` and the Inbox's `at_once` (ws/direct.py)."""
        assert "application_instance" not in self.connections[protocol]
        inbox = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        if scope["type"] == "websocket":  # ws/direct.py
            scope[SCOPE_KEY] = protocol.send_text
            scope[OPENED_KEY] = protocol.opened
            scope[AT_ONCE_KEY] = partial(setattr, inbox, "at_once")
        instance = self.application(scope=scope, receive=inbox.get, send=partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return inbox

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self):
        # Daphne's "before shutdown" trigger: Twisted waits for the Deferred, with the loop
        # still running, before it stops the reactor.
        drained = defer.Deferred.fromFuture(asyncio.ensure_future(self.drain()))
        drained.addErrback(lambda failure: log.error("drain failed: %s", failure.getTraceback()))
        drained.addCallback(lambda _: defer.Deferred.fromFuture(asyncio.ensure_future(self.cancel_remaining())))
        return drained

    async def cancel_remaining(self) -> None:
        """Daphne's own kill_all_applications after the drain, then a last flush: cancel every
        application still running, wait for them (their disconnect() runs: ProtocolConsumer
        releases what a socket holds however it ends), and give what they left to the worker's
        background work LAST_FLUSH_SECONDS to reach Redis. Daphne's raises KeyError, and cancels
        nothing, when a connection has no application yet (a request or handshake coming in)."""
        pending = pending_applications(self.connections)
        for instance in pending:
            instance.cancel()
        log.info("cancelled %d application instances left after the drain", len(pending))
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            await flush_before(Worker.flush_current, asyncio.get_running_loop().time() + LAST_FLUSH_SECONDS)

    async def drain(self) -> None:
        for port in self.ports:
            port.stopListening()  # new sockets go to another worker; a unix socket file is removed
        await drain(self.connections, settings.WS_DRAIN_SECONDS, flush=Worker.flush_current)


CommandLineInterface.server_class = DrainingServer
# LOG_FORMAT=json: access lines go through logging as JSON too (ws/access.py), not raw to stdout.
if os.environ.get("LOG_FORMAT") == "json":
    cli.AccessLogGenerator = LoggedAccess

if __name__ == "__main__":
    CommandLineInterface.entrypoint()

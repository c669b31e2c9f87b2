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
- A graceful drain: on SIGTERM, Twisted stops the reactor and Daphne cancels every consumer at
  once: their sockets would drop with no close frame (1006) and their disconnect() would not
  finish. DrainingServer first stops listening and closes every socket with 1012, spread over
  WS_DRAIN_SECONDS, and waits for their disconnect() (ws/drain.py); Daphne then cancels
  whatever is left.
"""

import asyncio
import logging
import os
import time

from daphne import cli, server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet import defer

from shared.backlog import SendBacklog
from shared.protocol import CLOSE_RATE_LIMITED, CLOSE_TOO_SLOW
from shared.ratelimit import CONTROL_BURST, CONTROL_RATE_PER_SECOND, TokenBucket
from ws.access import LoggedAccess
from ws.drain import drain

log = logging.getLogger(__name__)

# How long a socket closed for slowness gets to answer the close before its connection is
# dropped (autobahn's closeHandshakeTimeout, set explicitly so it cannot drift to "never").
CLOSE_GRACE_SECONDS = 1.0

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

    def connectionMade(self):
        self.backlog = SendBacklog(settings.WS_SEND_BACKLOG_BYTES, settings.WS_SEND_BACKLOG_SECONDS)
        self.control_frames = TokenBucket(CONTROL_RATE_PER_SECOND, CONTROL_BURST, clock=self.clock)
        # Every write to the connection from here on (the handshake's answer included) counts.
        self._raw_write = self.transport.write
        self.transport.write = self.counted_write
        super().connectionMade()

    def counted_write(self, data: bytes) -> None:
        """The transport's write, for every byte this connection sends: refused (and the socket
        closed with 4009) when the peer owes too much; followed by a probe when one is due."""
        if self.closed_too_slow and not self._writing_close:
            return  # closing: nothing more goes to a peer that does not read
        now = self.clock()
        if self.state == self.STATE_OPEN and not self.closed_too_slow and not self.backlog.allows(now, len(data)):
            self.close_too_slow(now)
            return
        self._raw_write(data)
        probe = self.backlog.sent(len(data), now)
        if probe is None or self._probing or self._close_sent or self.closed_too_slow:
            return
        if self.state == self.STATE_OPEN:
            self._probing = True
            try:
                self.sendPing(PROBE_PREFIX + probe)
            finally:
                self._probing = False

    def sendCloseFrame(self, code=None, reasonUtf8=None, isReply=False):
        self._close_sent = True
        super().sendCloseFrame(code, reasonUtf8, isReply)

    def serverSend(self, content, binary=False):
        """Every application frame comes here (Daphne's handle_reply); once the socket is
        closing for slowness, the application's frames have nowhere to go."""
        if self.closed_too_slow:
            return
        super().serverSend(content, binary)

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
        super().check_timeouts()
        now = self.clock()
        if self.state == self.STATE_OPEN and not self.closed_too_slow and not self.backlog.allows(now):
            self.close_too_slow(now)

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


# Daphne builds its factory from this module-level name in Server.run().
server.WebSocketFactory = AppWebSocketFactory


class DrainingServer(server.Server):
    """Daphne's Server, draining its sockets before its shutdown cancels the consumers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ports = []

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self):
        # Daphne's "before shutdown" trigger: Twisted waits for the Deferred, with the loop
        # still running, before it stops the reactor.
        drained = defer.Deferred.fromFuture(asyncio.ensure_future(self.drain()))
        drained.addErrback(lambda failure: log.error("drain failed: %s", failure.getTraceback()))
        drained.addCallback(lambda _: super(DrainingServer, self).kill_all_applications())
        return drained

    async def drain(self) -> None:
        for port in self.ports:
            port.stopListening()  # new sockets go to another worker; a unix socket file is removed
        await drain(self.connections, settings.WS_DRAIN_SECONDS)


CommandLineInterface.server_class = DrainingServer
# LOG_FORMAT=json: access lines go through logging as JSON too (ws/access.py), not raw to stdout.
if os.environ.get("LOG_FORMAT") == "json":
    cli.AccessLogGenerator = LoggedAccess

if __name__ == "__main__":
    CommandLineInterface.entrypoint()

"""The send backlog bound: how much a socket may owe its peer, in bytes and in time.

A WebSocket server's writes never block. Bytes the peer has not read wait in the server's
write buffer (Twisted's, under Daphne) and in the kernel buffers of every hop (nginx's socket
to the client alone may hold 4 MB), so a peer that sends but never reads would make its server
buffer every answer and broadcast for it, for ever (django/daphne#170,
crossbario/autobahn-python#1574). Daphne counts any incoming frame as a sign of life, so its
ping timeout never fires for such a peer.

Only the peer can say what it has read. So the server counts the bytes it sends and, now and
then, sends a probe: a WebSocket ping, which the peer's library answers with a pong once it
has read every frame before it (RFC 6455 delivers frames in order). A pong to a probe sent
after N bytes proves N bytes were read; what was sent after the newest answered probe is
*owed*. The rule (ws/serve.py applies it before every frame and every few seconds):
- a socket that owes nothing always gets its frame, however large (one frame is bounded by the
  protocol itself);
- otherwise a frame that would make it owe more than `max_bytes` is refused;
- and the socket is refused once a probe has waited `max_seconds` for its answer.
Refused means: close the socket with CLOSE_TOO_SLOW (4009) and write nothing more to it.

A probe's payload is 16 random bytes (secrets.token_bytes), so only the peer that read the
ping can answer it: a pong whose payload is not one of the probes still waiting proves nothing,
however it is made (a forged marker, a replayed answer, an unrequested pong). Answering a probe
also answers every earlier one (RFC 6455 5.5.3 lets a peer answer only the newest ping).

Every byte the server writes counts, not only application frames: pongs to the peer's pings,
the server's own pings and the close frame fill the same buffers (ws/serve.py counts at the
transport's write).

A probe goes out after a frame when bytes were sent since the last probe and either
`probe_seconds` have passed or `probe_bytes` more were sent; an honest reader answers within a
round trip, so it owes about one probe interval of traffic at most. By default a probe goes out
every quarter of `max_seconds` (2.5 s at the default 10 s): a peer that stops reading is closed
about 1.25 `max_seconds` later (plus up to the worker's periodic check when nothing is being
written), and a board viewer, who gets two frames a second, is not sent a third (a probe, and
its pong back) every second: a probe a second was a third of its frames.
"""

import secrets
from dataclasses import dataclass, field

# Bytes of randomness in a probe's payload: not guessable, and well under a ping's 125 bytes.
PROBE_TOKEN_BYTES = 16


@dataclass(slots=True)
class Probe:
    token: bytes
    sent_total: int  # bytes sent before it
    sent_at: float


@dataclass(slots=True)
class SendBacklog:
    """One socket's account. Times are seconds on one monotonic clock; sizes are bytes."""

    max_bytes: int
    max_seconds: float
    # Defaults: a quarter of max_seconds (module doc), and a quarter of max_bytes, so a fast
    # sender is probed before it can owe the bound.
    probe_seconds: float | None = None
    probe_bytes: int = 0
    sent_total: int = field(default=0, init=False)
    read_total: int = field(default=0, init=False)
    # Unanswered probes, oldest first: a few at most, so a list (an idle socket's empty deque
    # would hold a 64-slot block, 0.7 KiB, for nothing).
    probes: list[Probe] = field(default_factory=list, init=False)
    _last_probe_total: int = field(default=0, init=False)
    _last_probe_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.probe_seconds is None:
            self.probe_seconds = self.max_seconds / 4
        if self.max_bytes <= 0 or self.max_seconds <= 0 or self.probe_seconds <= 0:
            raise ValueError("a send backlog bound needs a positive size, age and probe interval")
        if self.probe_bytes <= 0:
            self.probe_bytes = max(1, self.max_bytes // 4)

    @property
    def owed(self) -> int:
        """Bytes sent that the peer has not proved it read."""
        return self.sent_total - self.read_total

    def allows(self, now: float, frame: int = 0) -> bool:
        """May the socket go on at `now`, sending `frame` more bytes? False: close it (4009)."""
        if self.probes and now - self.probes[0].sent_at >= self.max_seconds:
            return False
        return self.owed == 0 or self.owed + frame <= self.max_bytes

    def sent(self, size: int, now: float, can_probe: bool = True) -> bytes | None:
        """Count `size` bytes just written; returns a probe's payload to send as a ping right
        after them, or None when no probe is due.

        `can_probe`: False when no ping can follow these bytes now (the handshake's answer, a
        probe's own write, a closing socket). Then no probe is made, and the next write that
        can carry one does: a probe noted but never sent could never be answered, and would
        close a quiet socket once `max_seconds` had passed."""
        self.sent_total += size
        unprobed = self.sent_total - self._last_probe_total
        if unprobed <= 0 or not can_probe:
            return None
        if (
            self._last_probe_at is not None
            and now - self._last_probe_at < self.probe_seconds
            and unprobed < self.probe_bytes
        ):
            return None
        token = secrets.token_bytes(PROBE_TOKEN_BYTES)
        self.probes.append(Probe(token, self.sent_total, now))
        self._last_probe_total, self._last_probe_at = self.sent_total, now
        return token

    def answered(self, payload: bytes) -> bool:
        """A pong came with `payload`. If it is a probe still waiting, the peer read everything
        sent before that probe (and before every earlier one): returns True. Anything else (a
        payload never sent, or one already answered) changes nothing: returns False."""
        for index, probe in enumerate(self.probes):
            if secrets.compare_digest(probe.token, payload):
                # Probes go out in order: this one was sent after every earlier one's bytes.
                self.read_total = max(self.read_total, probe.sent_total)
                del self.probes[: index + 1]
                return True
        return False

    def age(self, now: float) -> float:
        """Seconds the oldest unanswered probe has waited (0 when none waits)."""
        return now - self.probes[0].sent_at if self.probes else 0.0

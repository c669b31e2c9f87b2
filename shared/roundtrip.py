"""Round trips the server times itself, so the public board shows delays no client can fake.

On `/ws/public/` every pong carries a `token` (random, unguessable) and the server notes when
it handed that pong to Daphne. A client's next `delay` report names the pong it answers
(`seq` and `token`); the server's observed delay for that report is

    observed = (when the consumer handles the report) - (when the pong was handed to Daphne)

that is: the pong's way out (Daphne, nginx, the network, the browser's socket), the client's own
work from the pong's arrival to sending its report (microseconds in an idle page), and the
report's way back up to the consumer, queueing included. A client cannot report before it has
its pong (it needs the token), so the observed delay is never below its real round trip. What
the client reports is kept beside it as its claim, and compared (`is_suspect`).
"""

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from shared.protocol import ProtocolError

# A ping not answered within this time is lost, on every page (their config carries it) and
# here: a pong older than this cannot be reported. Far above any real round trip, well under
# Daphne's 30 s ping timeout, so a dead socket shows as lost pings first.
LOST_AFTER_MS = 5000
# Pongs awaiting a report per socket; a page keeps one ping in flight, so a few are plenty.
PENDING_PONGS = 8


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One report's timing: the server-observed delay in ms, and whether it answers the socket's
    first pong (a warm-up: a fresh socket's first round trip pays for set-up later ones do not,
    so it is shown but not counted, as speed tests discard their first probe)."""

    observed_ms: float
    warmup: bool


class PongLedger:
    """The pongs one socket was sent and has not reported on yet, by seq.

    Times are in seconds of one monotonic clock (the caller's `time.perf_counter()`); delays
    come out in milliseconds.
    """

    __slots__ = ("_keep", "_lost_after_ms", "_pending", "_pongs_sent")

    def __init__(self, lost_after_ms: float = LOST_AFTER_MS, keep: int = PENDING_PONGS):
        self._pending: OrderedDict[int, tuple[str, float, bool]] = OrderedDict()
        self._lost_after_ms = lost_after_ms
        self._keep = keep
        self._pongs_sent = 0

    def sent(self, seq: int, at: float) -> str:
        """Note a pong about to be sent; returns the token it must carry. A second ping with a
        pending seq replaces the first one's pong (its token is no longer accepted)."""
        token = secrets.token_urlsafe(6)
        self._pending.pop(seq, None)
        self._pending[seq] = (token, at, self._pongs_sent == 0)
        self._pongs_sent += 1
        while len(self._pending) > self._keep:
            self._pending.popitem(last=False)
        return token

    def acknowledge(self, seq: int, token: str, at: float) -> RoundTrip:
        """The timing of the report at `at` on pong `seq`; each pong once.

        Raises ProtocolError (bad_message) for a pong this socket was not sent, one already
        reported or replaced, a wrong token, or a pong older than the lost-ping limit."""
        pending = self._pending.get(seq)
        if pending is None or not secrets.compare_digest(pending[0], token):
            raise ProtocolError(
                "bad_message",
                f"no pong with seq {seq} and this token awaits a report on this socket "
                "(never sent, already reported, or replaced by a later ping with the same seq)",
            )
        del self._pending[seq]
        _, sent_at, warmup = pending
        observed_ms = (at - sent_at) * 1000
        if observed_ms > self._lost_after_ms:
            limit = f"{self._lost_after_ms:g} ms"
            raise ProtocolError("bad_message", f"pong {seq} was sent {observed_ms:.0f} ms ago: over {limit}, so lost")
        return RoundTrip(observed_ms, warmup)


def is_suspect(claimed_ms: float | None, observed_ms: float | None) -> bool:
    """True when a client's claim and the server's timing disagree widely: one is more than
    twice the other, with 1 ms of slack for the smallest delays (claimed < observed / 2 - 1 or
    claimed > 2 * observed + 1). Applied to the medians of a client's recent reports, so one
    unlucky sample does not flag an honest client."""
    if claimed_ms is None or observed_ms is None:
        return False
    return claimed_ms < observed_ms / 2 - 1 or claimed_ms > observed_ms * 2 + 1

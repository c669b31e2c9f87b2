"""How many WebSockets one Daphne worker holds at once, and the clean refusal past that.

A worker admits a handshake while it holds fewer than `limit` sockets; past that the handshake
is answered with HTTP 503 (ws/serve.py), before any application instance is made, so a full
worker spends almost nothing on the sockets it turns away and a client sees a status it can
retry on (socket.js backs off) instead of a connection dropped without one.

Every refusal is counted here: `SocketCap.refused` per worker, and `count_refusal()` is the
one place a refusal passes, counted in this process and in the Prometheus counter
`ping_websocket_refusals_total{reason}` (shared/metrics.py).

Sizing (docs/operations.md, "Capacity"): WS_MAX_SOCKETS per worker, nginx's `limit_conn` on
/ws/ for the whole stack, and below both the file descriptors and nginx's
worker_connections, so that the first limit a client meets is always one that answers 503.
"""

from dataclasses import dataclass

from shared import metrics

# count_refusal()'s reasons: past the cap, or not accepted within Daphne's connect timeout.
REFUSED_AT_CAPACITY, REFUSED_AFTER_TIMEOUT = "capacity", "timeout"


@dataclass
class SocketCap:
    """Admission of sockets to one worker.

    `admit()` is called once per handshake: True reserves a place (give it back with
    `release()` when that connection ends), False means refuse it with 503. Not thread-safe:
    one worker's event loop calls it.
    """

    limit: int
    open: int = 0
    refused: int = 0

    def admit(self) -> bool:
        if self.open >= self.limit:
            self.refused += 1
            count_refusal(REFUSED_AT_CAPACITY)
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open = max(0, self.open - 1)


# Refusals in this process since it started (every SocketCap counts here too).
refusals_total = 0


def count_refusal(reason: str = REFUSED_AT_CAPACITY) -> None:
    """One handshake refused with 503; `reason` is REFUSED_AT_CAPACITY or REFUSED_AFTER_TIMEOUT
    (a fixed label value, so the counter's series stay two)."""
    global refusals_total
    refusals_total += 1
    metrics.REFUSALS.labels(reason).inc()

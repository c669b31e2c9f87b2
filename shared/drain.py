"""When a draining Daphne worker closes each of its sockets (ws/drain.py runs the plan).

On SIGTERM a worker closes every open socket with 1012 (Service Restart) and its clients
reconnect at once to another worker. Closing them all in the same instant would land every
reconnect (a handshake, a session lookup, a board join) on the other workers together, so
the closes are spread evenly over a short window instead; the clients add their own 0-1 s
of jitter on top (web/static/js/socket.js).
"""

# After the last close frame, how long the worker waits for the clients' close replies and
# for every consumer's disconnect() (a board row removed, a room seat freed: a few Redis calls,
# each bounded by REDIS_TIMEOUT_SECONDS) before Daphne cancels whatever is left and exits.
# The whole drain takes at most WS_DRAIN_SECONDS + this + LAST_FLUSH_SECONDS; supervisor's
# stopwaitsecs and a pod's terminationGracePeriodSeconds must be longer (docs/operations.md).
DISCONNECT_WAIT_SECONDS = 5.0
# Consumers still running after that wait are cancelled; their disconnect() still runs (a board
# row removed, a presence close noted), and what it leaves to the worker's background work gets
# this long to reach Redis before the process exits (ws/serve.py cancel_remaining).
LAST_FLUSH_SECONDS = 1.0


def close_offsets(count: int, window: float) -> list[float]:
    """Seconds after the drain starts at which to close each of `count` sockets.

    Evenly spaced over [0, window): the first at 0, the last at window * (count - 1) / count,
    so reconnects arrive at count / window per second rather than all at once. A window of 0
    (or less) closes everything at once.

    >>> close_offsets(4, 2.0)
    [0.0, 0.5, 1.0, 1.5]
    """
    if count <= 0:
        return []
    step = max(window, 0.0) / count
    return [index * step for index in range(count)]

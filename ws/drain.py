"""The graceful drain of a Daphne worker on SIGTERM (ws/serve.py calls `drain()`).

1. The worker has stopped listening (ws/serve.py), so nginx sends new sockets elsewhere.
2. Every open WebSocket gets a close frame with 1012 (Service Restart), spread evenly over
   WS_DRAIN_SECONDS (shared/drain.py).
3. Each close runs its consumer's disconnect() the usual way (Daphne passes the client's
   close reply on as `websocket.disconnect`): board rows, room seats and presence leave at
   once instead of expiring after LIVE_TTL_SECONDS.
4. Once every consumer has finished, what their disconnect() left to the worker's background
   work is finished too (`flush`, Worker.flush): leaves still behind the board's announcement
   throttle, presence closes not written yet, frames not yet handed to the channel layer. Left
   to the exiting process, they would be lost: the rows are already gone from Redis, so no sweep
   would ever announce those leaves.
5. Once that is done, or DISCONNECT_WAIT_SECONDS after the last close (the consumers and the
   flush share that wait), the server cancels what is left (ws/serve.py `cancel_remaining`)
   and the process exits.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from daphne.ws_protocol import WebSocketProtocol

from shared.drain import DISCONNECT_WAIT_SECONDS, close_offsets
from shared.protocol import CLOSE_SERVICE_RESTART

log = logging.getLogger(__name__)

CLOSE_REASON = b"server restarting"
# While waiting for the consumers to finish, sockets whose handshake was still under way when
# the drain began are closed as soon as they open, checked this often.
SWEEP_SECONDS = 0.1


def open_sockets(connections: dict) -> list[WebSocketProtocol]:
    """The accepted WebSockets among Daphne's connections (`Server.connections`' keys)."""
    return [p for p in connections if isinstance(p, WebSocketProtocol) and p.state == WebSocketProtocol.STATE_OPEN]


def close_for_restart(socket: WebSocketProtocol) -> None:
    """Send 1012 with a reason; the client's reply (or autobahn's 1 s timeout) ends the socket.

    autobahn's public sendClose() allows only 1000 and 3000-4999, so this goes through
    sendCloseFrame(), as Daphne itself does for 1011.
    """
    if socket.state == WebSocketProtocol.STATE_OPEN:
        socket.sendCloseFrame(code=CLOSE_SERVICE_RESTART, reasonUtf8=CLOSE_REASON)


def pending_applications(connections: dict) -> list[asyncio.Future]:
    return [
        instance
        for details in tuple(connections.values())
        if (instance := details.get("application_instance")) is not None and not instance.done()
    ]


async def drain(connections: dict, window: float, flush: Callable[[], Awaitable[None]] | None = None) -> None:
    """Close every socket in `connections` with 1012 over `window` seconds, wait for the
    consumers, then for `flush()` (module doc).

    `connections` is Daphne's live `Server.connections` ({protocol: {"application_instance": future, ...}}).
    """
    loop = asyncio.get_running_loop()
    sockets = open_sockets(connections)
    log.info("draining: closing %d sockets with %d over %.1f s", len(sockets), CLOSE_SERVICE_RESTART, window)
    started = loop.time()
    for socket, offset in zip(sockets, close_offsets(len(sockets), window), strict=True):
        await asyncio.sleep(max(0.0, started + offset - loop.time()))
        close_for_restart(socket)
    deadline = loop.time() + DISCONNECT_WAIT_SECONDS
    while pending_applications(connections) and loop.time() < deadline:
        for socket in open_sockets(connections):
            close_for_restart(socket)
        await asyncio.sleep(SWEEP_SECONDS)
    left = len(pending_applications(connections))
    if left:
        log.warning("drained: %d consumers did not finish in time and are cancelled", left)
    else:
        log.info("drained: every consumer finished in %.1f s", loop.time() - started)
    if flush is not None:
        await flush_before(flush, deadline)


async def flush_before(flush: Callable[[], Awaitable[None]], deadline: float) -> None:
    """Await `flush()` until `deadline` (the loop's time) at most."""
    try:
        async with asyncio.timeout_at(deadline):
            await flush()
    except TimeoutError:
        log.warning("drained: the last announcements and presence writes did not reach Redis in time; they expire")

"""Text frames from a consumer straight to its socket, past the ASGI `send` chain.

Daphne hands every consumer an ASGI `send`; a text frame then travels as a message dict through
Channels' session wrapper (which looks at the session on every frame), Daphne's `handle_reply`
and the protocol's dispatch on the message type before autobahn frames it. For the frames a
worker sends most (pongs, board answers, and broadcasts fanned out to thousands of sockets:
joins, chat messages, presence) that chain was a large part of the work. Our Daphne server
(ws/serve.py) puts its protocol's `send_text` in the scope under SCOPE_KEY; a consumer that finds
it sends text frames with it and everything else (accept, close, binary) through ASGI.

A broadcast's frame is framed once for every socket it goes to (autobahn's PreparedMessage:
encoded to UTF-8, header in front), unless the socket compresses it.

Whether the accept opened the socket: Daphne drops an accept that comes after the server gave up
on the handshake (ws/serve.py refuses one the worker did not accept within Daphne's connect
timeout with 503), and the consumer's `accept()` returns all the same. The server puts under
OPENED_KEY a check the consumer calls after its accept (`socket_opened`): a socket refused so is
never announced, joined or counted.

Under Channels' test communicator (no Daphne) the keys are absent and every frame goes through ASGI.
A frame sent directly is not held to autobahn's cap on a message's size (Daphne's
--websocket-max-message-size, 64 KiB), which is there for what clients send: a chat history of
long messages can be larger, and goes out whole.

Frames answered in the read that brought them: Daphne hands each incoming frame to the consumer's
input queue, and the consumer's task takes it on a later pass of the event loop, behind every
task woken meanwhile (under load, other sockets' board answers: ~1 ms of CPU each). A consumer
may register a handler under AT_ONCE_KEY; while the consumer waits for its next message (so
nothing it was sent earlier is still unhandled, and answers keep their order), each message is
offered to that handler first, in the reactor's read callback, and only goes to the queue if the
handler declines it. The consumers answer pings this way (ws/consumers/base.py
`answered_in_the_read`): a pong then measures the network and the socket's read, not the queue
behind it. Only cheap answers go this way: every read callback of one pass of the event loop runs
before the tasks it woke, so a board answer built there would hold up the pings read after it.
"""

from collections.abc import Callable
from functools import lru_cache

from autobahn.websocket.protocol import PreparedMessage

SCOPE_KEY = "ping.send_text"
AT_ONCE_KEY = "ping.receive_at_once"
OPENED_KEY = "ping.socket_opened"

SendText = Callable[[str], None]
# Takes an ASGI message; True if it handled it (it then goes nowhere else).
AtOnce = Callable[[dict], bool]


def direct_sender(scope: dict) -> SendText | None:
    """The socket's `send_text(text)` when the server offers one, else None: writes the frame
    now (no await), or drops it quietly if the socket is no longer open."""
    return scope.get(SCOPE_KEY)


@lru_cache(maxsize=16)
def prepared(text: str) -> PreparedMessage:
    """`text` framed as one uncompressed server frame (unmasked), shared by every socket it goes
    to: a fan-out delivers the same string object to each subscriber in turn, so the cache hits
    on identity (a few recent entries: other frames may be sent in between)."""
    return PreparedMessage(text.encode("utf8"), isBinary=False, applyMask=False, doNotCompress=True)


def socket_opened(scope: dict) -> bool:
    """After the consumer's accept: whether the server really opened the socket (module doc).
    True where the server offers no such check (the test communicator opens every accepted one)."""
    opened = scope.get(OPENED_KEY)
    return opened is None or opened()


def receive_at_once(scope: dict, handler: AtOnce | None) -> bool:
    """Offer every message to `handler` in the read that brought it, while the consumer waits for
    its next one (module doc); None: no more. False if the server offers no such thing (the test
    communicator)."""
    register = scope.get(AT_ONCE_KEY)
    if register is None:
        return False
    register(handler)
    return True

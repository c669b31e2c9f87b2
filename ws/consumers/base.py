"""The edge every endpoint shares: frame limits, parsing and dispatch by message type."""

import contextvars
import logging
import time

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from shared import metrics
from shared.logs import SOCKET_ID, new_socket_id
from shared.protocol import (
    CLOSE_ABNORMAL,
    CLOSE_RATE_LIMITED,
    CLOSE_SIGN_IN_REQUIRED,
    ClientMessage,
    Ping,
    ProtocolError,
    error_frame,
    parse_client_frame,
    pong_frame,
)
from shared.ratelimit import FloodGuard, TokenBucket, Verdict
from ws import presence, sessions
from ws.direct import direct_sender, receive_at_once, socket_opened
from ws.hub import send_or_drop

log = logging.getLogger(__name__)


class ProtocolConsumer(AsyncWebsocketConsumer):
    """Turns raw frames into validated messages and hands each to the handler of its type.

    Subclasses set `accepts` (from shared.protocol) and define, per type, either a coroutine
    `on_<type>(message)` or, for a frame answered without waiting on anything (no store, no
    await), `answer_<type>(message) -> frame`: those are answered in the read that brought them
    (receive_at_once) when they are `answered_in_the_read`. Every endpoint that accepts pings
    answers them with `answer_ping`.

    A bad frame gets an `error` frame and the socket stays open; only a flood that goes on
    after `rate_limited` closes it (4008). Frames over the transport cap never get here:
    Daphne closes those with 1009 (ws/start).

    Every endpoint's signed-in sockets count as the user being online (ws/presence.py): from
    the accepted handshake until the disconnect, whatever `connect()` a subclass defines. And
    each is closed with 4401 once the session that signed it in ends (ws/sessions.py).
    """

    accepts: frozenset[str] = frozenset()
    # No channel layer: broadcasts and events reach sockets through the worker's hub
    # (ws/hub.py), and without a layer pongs keep flowing while Redis is down.
    channel_layer_alias = None
    channel_layer = None
    # The `endpoint` label of this endpoint's metrics (shared/metrics.py).
    endpoint = "unknown"
    # From the accepted handshake until the server closes the socket.
    is_open = False
    # This socket's presence connection id, if a signed-in user opened it.
    presence_connection: str | None = None
    released = False
    # Whether ws/sessions.py watches this socket's session; set once that session has ended.
    session_watched = False
    session_ended = False
    # Whether ping_websockets_open counts this socket (from accept to release).
    counted_open = False
    # The socket's own text sender, when the server offers one (ws/direct.py).
    direct_send = None
    # Types answered in the read that brought them (receive_at_once), if the endpoint `answers`
    # them: cheap answers only. Every read callback of one pass of the event loop runs before
    # any task that pass woke, so a costly answer there (a board answer, ~0.1 ms) would hold up
    # the pings read after it; a board report goes the usual way, behind them.
    answered_in_the_read = frozenset({"ping"})
    # Those this endpoint accepts and `answers`, and their quoted names as in a frame's text.
    at_once_types: frozenset[str] = frozenset()
    at_once_marks: tuple[str, ...] = ()

    async def websocket_connect(self, message: dict) -> None:
        # Every log line of this consumer's task carries the socket's id (shared/logs.py).
        SOCKET_ID.set(new_socket_id())
        self.frames_in = metrics.FRAMES_RECEIVED.labels(self.endpoint)
        self.frames_out = metrics.FRAMES_SENT.labels(self.endpoint)
        self.flood_guard = FloodGuard(
            TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST), settings.WS_FLOOD_CLOSE_AFTER
        )
        await super().websocket_connect(message)
        # What receive_at_once answers under: this task's context, the socket's id in it.
        self.log_context = contextvars.copy_context()
        if self.is_open:
            # Only noted in memory here: a Redis outage never delays or breaks the socket.
            self.presence_connection = presence.track(self.scope.get("user"))
            self.session_watched = sessions.watch(self, self.scope)

    async def accept(self, subprotocol: str | None = None, headers=None) -> None:
        """Channels' accept. Raises StopConsumer when the server had already refused the
        handshake (it waited past the connect timeout, ws/direct.py): the consumer ends there,
        and the socket is never announced, joined, counted or tracked as online."""
        await super().accept(subprotocol, headers)
        if not socket_opened(self.scope):
            log.info("%s: the server refused this handshake before the accept came; ending", type(self).__name__)
            raise StopConsumer
        self.is_open = True
        if not self.counted_open:
            self.counted_open = True
            metrics.WEBSOCKETS_OPEN.labels(self.endpoint).inc()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.is_open = False
        await super().close(code, reason)

    async def websocket_disconnect(self, message: dict) -> None:
        await self.release(message.get("code", CLOSE_ABNORMAL))
        raise StopConsumer

    async def __call__(self, scope, receive, send) -> None:
        # Channels runs disconnect() only when the disconnect message is dispatched. A consumer
        # that crashed, or that Daphne cancelled, would keep its board row, room seat and
        # presence alive through its worker's heartbeats for ever: release them here too.
        try:
            await self.serve(scope, receive, send)
        finally:
            await self.release(CLOSE_ABNORMAL)

    async def serve(self, scope, receive, send) -> None:
        """Channels' AsyncConsumer.__call__ for a consumer without a channel layer (broadcasts
        come through the worker's hub): its one source of messages awaited in place.

        Channels' await_many_dispatch would keep, for every idle socket, a task of its own for
        `receive` and an asyncio.wait on it (their frames, futures and callbacks: ~2.5 KiB).
        """
        self.scope = scope
        self.base_send = send
        self.direct_send = direct_sender(scope)
        self.at_once_types = frozenset(k for k in self.accepts & self.answered_in_the_read if self.answers(k))
        self.at_once_marks = tuple(f'"{kind}"' for kind in sorted(self.at_once_types))
        at_once = self.direct_send is not None and self.at_once_marks and receive_at_once(scope, self.receive_at_once)
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            if at_once:
                # The input queue holds the handler, so this consumer, which holds the queue's
                # registration in its scope: a cycle that only the garbage collector would free.
                receive_at_once(scope, None)

    async def release(self, code: int) -> None:
        """Give up everything this socket holds, once: presence, then the endpoint's disconnect()."""
        if self.released:
            return
        self.released = True
        self.is_open = False
        if self.counted_open:
            metrics.WEBSOCKETS_OPEN.labels(self.endpoint).dec()
            metrics.CLOSES.labels(self.endpoint, str(code)).inc()
        presence.untrack(self.presence_connection)
        self.presence_connection = None
        if self.session_watched:
            sessions.unwatch(self)
        await self.disconnect(code)

    async def end_session(self) -> None:
        """The session that signed this socket in has ended: nothing more under that user's name.

        Closed with 4401, and everything the socket holds (presence, board row, room seat) is let
        go of at once rather than when the client completes the close.
        """
        self.session_ended = True
        if self.is_open:
            await self.close(code=CLOSE_SIGN_IN_REQUIRED)
        await self.release(CLOSE_SIGN_IN_REQUIRED)

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch, minus its `aclose_old_connections()` before every message.

        That call hops to a worker thread for each frame (a quarter of a worker's CPU under
        load, and queueing that shows in the delays we measure). These consumers reach the
        database only through `database_sync_to_async`, which closes stale connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.frames_in.inc()
        if not self.is_open:
            return  # frames already on their way when the server closed the socket
        verdict = self.flood_guard.judge()
        if verdict is Verdict.CLOSE:
            await self.close(code=CLOSE_RATE_LIMITED)
        elif verdict is Verdict.WARN:
            await self.send_error(ProtocolError("rate_limited", "too many frames: wait for answers, then go on"))
        elif verdict is Verdict.ACCEPT:
            await self.receive_frame(text_data)

    async def receive_frame(self, text: str | None) -> None:
        """Parse and dispatch: to `on_<type>` if the endpoint defines it, else it sends what
        `answer_<type>` returns. A handler may refuse a valid frame by raising ProtocolError.

        The safety net: any other exception while handling this one frame is a bug of ours,
        not a reason to drop the client. It is logged with its traceback and answered with
        `internal_error`; the socket stays open for the next frame. (Cancellation and
        StopConsumer still end the consumer as Channels means them to.)
        """
        try:
            message = parse_client_frame(text, self.accepts, settings.WS_MAX_FRAME_BYTES)
            if self.answers(message.type):
                await self.send(text_data=self.answer(message))
            else:
                await getattr(self, f"on_{message.type}")(message)
        except StopConsumer:
            raise
        except Exception as error:  # noqa: BLE001 - the safety net (above)
            refusal = self.refusal(error)
            if self.is_open or isinstance(error, ProtocolError):
                await self.send_error(refusal)

    def answers(self, kind: str) -> bool:
        """Whether frames of this type are answered by `answer_<type>(message) -> frame`, which
        awaits nothing and touches no store (and so can answer in the read that brought the
        frame), rather than handled by an `on_<type>` coroutine."""
        return not hasattr(self, f"on_{kind}") and hasattr(self, f"answer_{kind}")

    def answer(self, message: ClientMessage) -> str:
        """The frame `answer_<type>` returns for `message`, or the error frame for what it raised."""
        try:
            return getattr(self, f"answer_{message.type}")(message)
        except Exception as error:  # noqa: BLE001 - the safety net (receive_frame)
            return self.counted_error_frame(self.refusal(error))

    def refusal(self, error: Exception) -> ProtocolError:
        """What the client is told when handling its frame raised `error` (call it in the except
        block): a ProtocolError as it is; anything else is a bug of ours, logged with its
        traceback, and told `internal_error`."""
        if isinstance(error, ProtocolError):
            return error
        log.exception("%s: unexpected error while handling a frame; the socket stays open", type(self).__name__)
        return ProtocolError("internal_error", "the server failed on this frame; try again")

    def receive_at_once(self, message: dict) -> bool:
        """A frame of a type `answered_in_the_read`, answered in the read that brought it while
        this socket waits for its next frame (ws/direct.py): True if answered. Anything else (a
        frame of another type, one the flood guard would refuse, a bad frame) is declined, and
        takes the usual way to `receive`. Once parsed, the frame is answered here whatever its
        handler does: with its answer, its refusal or internal_error, as on the usual way, and
        under the socket's own log context (its id), not the reactor's. Nothing raised here
        reaches Daphne's read."""
        text = message.get("text")
        if text is None or not self.is_open or message["type"] != "websocket.receive":
            return False
        if not any(mark in text for mark in self.at_once_marks) or not self.flood_guard.would_accept():
            return False  # a frame that names none of those types is never parsed twice
        try:
            parsed = parse_client_frame(text, self.accepts, settings.WS_MAX_FRAME_BYTES)
        except Exception:  # noqa: BLE001 - the usual way answers it (or logs a bug of ours)
            return False
        if parsed.type not in self.at_once_types:
            return False
        self.frames_in.inc()
        self.flood_guard.judge()
        frame = self.log_context.run(self.answer, parsed)
        self.frames_out.inc()
        self.direct_send(frame)
        return True

    def answer_ping(self, ping: Ping) -> str:
        """Every endpoint that accepts pings answers them alike, touching no store: the pong,
        stamped now (an endpoint that defines `on_ping` handles them itself instead)."""
        return pong_frame(ping, server_time=time.time() * 1000)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """Channels' send; a text frame alone goes straight to the socket when the server
        allows it (ws/direct.py)."""
        if text_data is not None or bytes_data is not None:
            self.frames_out.inc()
        if self.direct_send is not None and text_data is not None and bytes_data is None and not close:
            self.direct_send(text_data)
            return
        await super().send(text_data, bytes_data, close)

    async def deliver(self, frame: str) -> None:
        """A frame published to a topic this socket subscribes to (ws/hub.py); dropped if the
        socket is closing."""
        await send_or_drop(self, frame)

    async def send_error(self, error: ProtocolError) -> None:
        await self.send(text_data=self.counted_error_frame(error))

    def counted_error_frame(self, error: ProtocolError) -> str:
        metrics.ERROR_FRAMES.labels(self.endpoint, error.code).inc()
        return error_frame(error.code, error.detail)

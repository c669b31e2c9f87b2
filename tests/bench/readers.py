"""Lean WebSocket clients for the benches that read hundreds or thousands of sockets in one
process (chat members, idle viewers, the public board's pinging clients).

The `websockets` asyncio client costs a task, a future and a few coroutine switches per frame,
and it decodes every text frame: at 500 members or 10,000 viewers on the server's own two cores,
that reading was a large part of what the benches measured. A `Reader` is the same library's
Sans-I/O protocol (`websockets.client.ClientProtocol`) under a plain `asyncio.Protocol`: each
read from the socket is counted (`wire_bytes`: what came off the wire, after permessage-deflate,
frame headers included), fed to the parser, stamped once (`time.monotonic_ns()`, taken before
parsing) and its data frames handed as bytes to one callback, with no task and no decoding; the
callback may answer at once with `send_text`.
Everything the protocol owes the server goes back at once: the pongs to its pings (the server's
slow-reader probes, ws/serve.py) and the echo of its close frame.

The handshake is the asyncio client's (`tests/helpers.py` `connect`): the Origin a page of that host
would send (the stack checks it exactly), the same User-Agent, permessage-deflate offered (or,
with `compression=None`, not offered, as the asyncio client's option of that name).
"""

import asyncio
import time
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidMessage
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import USER_AGENT, Response
from websockets.uri import parse_uri

DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY)
# How long a closing socket waits for the server to end the TCP connection before dropping it.
CLOSE_TIMEOUT_S = 10.0

# Called with the monotonic time in ns at which the read holding it returned, and a data frame's
# payload (bytes, UTF-8 for a text frame).
OnFrame = Callable[[int, bytes], None]


class Reader(asyncio.Protocol):
    """One client socket that reads every frame and hands each data frame to `on_frame`.

    `opened` resolves once the handshake succeeded (or fails with what failed it: OSError,
    InvalidStatus for a refusal such as 503, InvalidMessage...); `first_frame` resolves with the
    first data frame's payload (the app's welcome or history), or fails with ConnectionClosed if
    the socket closes before one; `closed` resolves when the TCP connection is gone.
    """

    def __init__(self, protocol: ClientProtocol, on_frame: OnFrame | None = None):
        loop = asyncio.get_running_loop()
        self.protocol = protocol
        self.on_frame = on_frame
        self.opened: asyncio.Future[None] = loop.create_future()
        self.first_frame: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        # Monotonic ns of the last read from the socket (0 before any).
        self.last_read_ns = 0
        # Bytes read from the socket: the handshake's response, then frames as sent (compressed,
        # with their headers).
        self.wire_bytes = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        request = self.protocol.connect()
        request.headers["User-Agent"] = USER_AGENT
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = self.last_read_ns = time.monotonic_ns()
        self.wire_bytes += len(data)
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode in DATA_OPCODES:
                    self._frame(now, event.data)
            elif isinstance(event, Response):
                self._handshake_done()
        self._flush()

    def _frame(self, now: int, payload: bytes) -> None:
        if not self.first_frame.done():
            self.first_frame.set_result(payload)
        if self.on_frame is not None:
            self.on_frame(now, payload)

    def _handshake_done(self) -> None:
        error = self.protocol.handshake_exc
        if self.opened.done():
            return
        if error is None:
            self.opened.set_result(None)
        else:
            self.opened.set_exception(error)

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent: the state becomes CLOSED
        if not self.opened.done():
            failure = self.protocol.handshake_exc or InvalidMessage("closed during the handshake")
            self.opened.set_exception(failure)
        if not self.first_frame.done():
            self.first_frame.set_exception(self.protocol.close_exc)
        self.closed.set_result(None)
        # Nobody need await these to hear of a failure it already handled (and a wait on one
        # that timed out cancelled it).
        for future in (self.opened, self.first_frame):
            if not future.cancelled():
                future.exception()

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()  # the protocol's SEND_EOF

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    async def close(self) -> None:
        """The closing handshake (1000), then wait for the server to end the TCP connection."""
        if not self.closed.done() and self.protocol.close_sent is None and self.opened.done():
            self.protocol.send_close(1000)
            self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection at once, with no closing handshake."""
        self.transport.abort()


async def open_reader(
    base_url: str,
    path: str,
    on_frame: OnFrame | None = None,
    timeout: float = 30,
    compression: str | None = "deflate",
) -> Reader:
    """A Reader on ws://host:port/path, its handshake done; raises what failed it (see Reader),
    or TimeoutError after `timeout` seconds. `compression`: "deflate" offers permessage-deflate
    (as browsers do), None offers nothing."""
    if compression not in ("deflate", None):
        raise ValueError(f"unsupported compression: {compression!r}")
    uri = parse_uri(f"{base_url}{path}")
    origin = base_url.replace("ws://", "http://")
    extensions = enable_client_permessage_deflate(None) if compression == "deflate" else None
    loop = asyncio.get_running_loop()

    def reader() -> Reader:
        return Reader(ClientProtocol(uri, origin=origin, extensions=extensions, max_size=None), on_frame)

    async with asyncio.timeout(timeout):
        _, opening = await loop.create_connection(reader, uri.host, uri.port)
        try:
            await opening.opened
        except BaseException:
            opening.abort()
            raise
    return opening


async def open_welcomed(
    base_url: str, path: str, on_frame: OnFrame | None = None, timeout: float = 30, compression: str | None = "deflate"
) -> Reader:
    """`open_reader`, then its first frame (the app's welcome) within `timeout`; a socket that
    does not get one is dropped and what failed it raised (TimeoutError, ConnectionClosed...)."""
    reader = await open_reader(base_url, path, on_frame, timeout, compression)
    try:
        await asyncio.wait_for(asyncio.shield(reader.first_frame), timeout)
    except BaseException:
        reader.abort()
        raise
    return reader

"""A WebSocket peer that sends but never reads, on a raw socket with a small receive buffer.

Client libraries read eagerly (asyncio's transports always do), so a peer that truly stops
reading needs a blocking socket of its own: frames are written by hand (masked, as RFC 6455
requires of clients) and nothing is read until `read_to_the_end`.
"""

import base64
import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field

OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA


@dataclass
class Ending:
    """How the connection ended, as seen by a peer that reads only at the very end."""

    close_code: int | None = None  # the close frame's code, if one arrived
    reset: bool = False  # the connection was reset or dropped without a close frame
    bytes_read: int = 0


@dataclass
class SlowPeer:
    host: str
    port: int
    path: str
    receive_buffer: int = 4096
    sock: socket.socket = field(init=False)
    sent_frames: int = 0
    closed_at: float | None = None  # monotonic time a send first failed

    def open(self) -> None:
        """Handshake (reading exactly the response head, not one byte of any frame after it)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect(), so the window the server sees is small from the start.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect((self.host, self.port))
        key = base64.b64encode(os.urandom(16)).decode()
        origin = f"http://{self.host}:{self.port}"
        head = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n\r\n"
        )
        self.sock.sendall(head.encode())
        response = b""
        while not response.endswith(b"\r\n\r\n"):
            byte = self.sock.recv(1)
            if not byte:
                raise ConnectionError(f"handshake cut off: {response!r}")
            response += byte
        status = response.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"handshake refused: {status!r}")
        self.sock.settimeout(2)

    def send_json(self, frame: dict) -> bool:
        """Send one text frame; False (and `closed_at` noted) once the connection is gone."""
        return self.send_frame(OPCODE_TEXT, json.dumps(frame).encode())

    def send_frame(self, opcode: int, payload: bytes) -> bool:
        """Send one frame of any kind (a ping, a made-up pong); False once the connection is gone."""
        if self.closed_at is not None:
            return False
        try:
            self.sock.sendall(masked_frame(opcode, payload))
        except OSError:  # reset, broken pipe, or a send that cannot go on (timeout)
            self.closed_at = time.monotonic()
            return False
        self.sent_frames += 1
        return True

    def read_to_the_end(self, timeout: float = 10.0) -> Ending:
        """Read everything the server sent, up to its close frame or the connection's end."""
        ending = Ending()
        data = b""
        self.sock.settimeout(timeout)
        while True:
            code, used = close_code_in(data)
            data = data[used:]
            if code is not None:
                ending.close_code = code
                return ending
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                ending.reset = True
                return ending
            except TimeoutError:
                return ending
            if not chunk:
                ending.reset = True
                return ending
            ending.bytes_read += len(chunk)
            data += chunk

    def close(self) -> None:
        self.sock.close()


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_code_in(data: bytes) -> tuple[int | None, int]:
    """Walk whole server frames in `data`: (the close code if a close frame is among them,
    bytes consumed). A frame cut short stays unconsumed."""
    at = 0
    while len(data) - at >= 2:
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        start = at + 2
        if length == 126:
            if len(data) - start < 2:
                break
            (length,) = struct.unpack_from("!H", data, start)
            start += 2
        elif length == 127:
            if len(data) - start < 8:
                break
            (length,) = struct.unpack_from("!Q", data, start)
            start += 8
        if len(data) - start < length:
            break
        if opcode == OPCODE_CLOSE:
            code = struct.unpack_from("!H", data, start)[0] if length >= 2 else 1005
            return code, start + length
        at = start + length
    return None, at

"""A chat client over real sockets for stack tests and the benchmark (/ws/chat/<room>/, docs/protocol.md)."""

import asyncio
import json
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from deploy.stack import WS_WORKERS, Stack
from tests.helpers import connect, handshakes, receive, until


def unique_room(prefix: str = "room") -> str:
    """A room no other test uses, so tests that share a stack stay independent."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def enter(stack: Stack, room: str, **options: Any) -> tuple[ClientConnection, list[dict]]:
    """Open a socket to the room; returns it with the messages of its history frame."""
    socket = await connect(stack.ws_url, f"/ws/chat/{room}/", **options)
    history = await receive(socket, timeout=10)
    assert history["type"] == "history", history
    return socket, history["messages"]


async def say(socket: ClientConnection, text: str) -> None:
    await socket.send(json.dumps({"type": "message", "text": text}))


async def next_message(socket: ClientConnection, timeout: float = 10) -> dict:
    frame = await receive(socket, timeout)
    assert frame["type"] == "message", frame
    return frame["message"]


def workers_serving(stack: Stack, room: str) -> set[int]:
    """The Daphne workers that accepted a socket to this room (each logs its own handshakes)."""
    return {n for n, count in handshakes(stack, f"/ws/chat/{room}/").items() if count}


async def enter_on_both_workers(stack: Stack, room: str, count: int = 6) -> list[ClientConnection]:
    """`count` sockets in the room, open at once so that nginx (least_conn) spreads them."""
    entered = await asyncio.gather(*(enter(stack, room) for _ in range(count)))
    assert workers_serving(stack, room) == set(WS_WORKERS), "the sockets all landed on one worker"
    return [socket for socket, _ in entered]


class Listener:
    """A room's socket read in the background: every message it receives and when, and the
    Daphne worker that serves it (when the test knows)."""

    def __init__(self, socket: ClientConnection, worker: int | None = None):
        self.socket = socket
        self.worker = worker
        self.received: list[tuple[dict, float]] = []  # (message, monotonic time it came)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.socket:
                frame = json.loads(text)
                if frame["type"] == "message":
                    self.received.append((frame["message"], time.monotonic()))
        except ConnectionClosed:
            pass

    def texts(self) -> list[str]:
        return [message["text"] for message, _ in self.received]

    @property
    def seqs(self) -> list[int]:
        """Each message's place in the room, in the order the messages came."""
        return [message["seq"] for message, _ in self.received]

    def heard_at(self, text: str) -> float | None:
        return next((at for message, at in self.received if message["text"] == text), None)

    async def until_heard(self, texts: list[str], timeout: float = 10) -> None:
        who = "" if self.worker is None else f"worker {self.worker} "
        await until(
            lambda: set(texts) <= set(self.texts()),
            timeout,
            failure=lambda: f"{who}heard {self.texts()}, waiting for {texts}",
        )

    async def close(self) -> None:
        await self.socket.close()
        await self._task

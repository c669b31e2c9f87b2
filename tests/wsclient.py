"""Real WebSocket clients for stack tests and the benchmark (origin set, as browsers do)."""

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from shared.protocol import decode_row


def connect(base_url: str, path: str, origin: str | None = None, **options: Any):
    """Open ws://host:port/path with the Origin a page of that host would send."""
    http_origin = origin or base_url.replace("ws://", "http://")
    return websockets.connect(f"{base_url}{path}", origin=http_origin, **options)


async def request(socket: ClientConnection, frame: dict[str, Any], timeout: float = 5) -> dict[str, Any]:
    """Send one frame and return the next frame received."""
    await socket.send(json.dumps(frame))
    return await receive(socket, timeout)


async def receive(socket: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next frame, decoded as a page decodes it (`rows_decoded`)."""
    return rows_decoded(json.loads(await asyncio.wait_for(socket.recv(), timeout)))


def rows_decoded(frame: dict[str, Any]) -> dict[str, Any]:
    """A board frame (`welcome`, `delays`) with its rows as objects, by its "columns"; any other
    frame as it is."""
    if "columns" in frame:
        frame["clients"] = [decode_row(values, frame["columns"]) for values in frame["clients"]]
    return frame

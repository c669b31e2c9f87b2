"""The helpers every test layer shares, in one place so that each exists once:

- sockets: `connect` (a real socket through nginx, with the Origin a page sends) and `on_worker`
  (straight to one Daphne worker); then, for a real socket and for the ASGI app in process
  (channels' WebsocketCommunicator) alike, `send`, `receive` (board rows decoded as a page
  decodes them: `rows_decoded`), `request`, `next_of` (the next frame of a type), `no_frame_of`
  and `ping` (its pong);
- the local stack: `handshakes` and `noting_worker` (which Daphne worker took a socket),
  `watch_presence`;
- waiting: `until` (poll a condition);
- HTTP: `fetch`;
- the pages' JavaScript: `run_node` runs a script under node, `static_js` names a module of
  web/static/js.

Every wait takes a timeout in seconds. What one layer alone uses stays beside it
(tests/consumers/conftest.py, tests/stack/visitor.py, tests/browser/site.py); the chat client
over real sockets is tests/chatclient.py.
"""

import asyncio
import itertools
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import websockets
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import ClientConnection, unix_connect

from deploy.stack import REPO, WS_WORKERS, Stack
from shared.protocol import decode_row

# A real socket (websockets) or the whole ASGI app in process (channels).
Socket = ClientConnection | WebsocketCommunicator
T = TypeVar("T")
_SEQS = itertools.count(1)

# ---------------------------------------------------------------- sockets


def connect(base_url: str, path: str, origin: str | None = None, **options: Any):
    """Open ws://host:port/path with the Origin a page of that host would send."""
    http_origin = origin or base_url.replace("ws://", "http://")
    return websockets.connect(f"{base_url}{path}", origin=http_origin, **options)


def on_worker(stack: Stack, worker: int, path: str, visitor: Any):
    """A socket straight to one Daphne worker (bypassing nginx's balancing), with the cookie of
    `visitor` (a tests.stack.visitor.Visitor)."""
    return unix_connect(
        str(stack.ws_socket(worker)),
        # The Host nginx passes on, so the origin check sees the same origin as through nginx.
        uri=f"ws://127.0.0.1:{stack.port}{path}",
        origin=stack.url,
        additional_headers=visitor.socket_headers,
    )


async def send(socket: Socket, frame: dict[str, Any]) -> None:
    if isinstance(socket, WebsocketCommunicator):
        await socket.send_json_to(frame)
    else:
        await socket.send(json.dumps(frame))


async def receive(socket: Socket, timeout: float = 5) -> dict[str, Any]:
    """The next frame, parsed and decoded as a page decodes it (`rows_decoded`); TimeoutError
    after `timeout` seconds."""
    if isinstance(socket, WebsocketCommunicator):
        return rows_decoded(await socket.receive_json_from(timeout=timeout))
    return rows_decoded(json.loads(await asyncio.wait_for(socket.recv(), timeout)))


def rows_decoded(frame: dict[str, Any]) -> dict[str, Any]:
    """A board frame (`welcome`, `delays`) with its rows as objects, by its "columns"; any other
    frame as it is."""
    if "columns" in frame:
        frame["clients"] = [decode_row(values, frame["columns"]) for values in frame["clients"]]
    return frame


async def request(socket: Socket, frame: dict[str, Any], timeout: float = 5) -> dict[str, Any]:
    """Send one frame and return the next frame received."""
    await send(socket, frame)
    return await receive(socket, timeout)


async def next_of(socket: Socket, kind: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
    """The next frame of this type (and with these field values: username="bob"), skipping the
    others (broadcasts interleave with answers); TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await receive(socket, timeout)
            if frame["type"] == kind and all(frame.get(name) == value for name, value in fields.items()):
                return frame


async def ping(socket: Socket, timeout: float = 5.0) -> dict[str, Any]:
    """Send a ping and return its pong (on /ws/public/ it carries the token a delay report
    needs), skipping other frames; TimeoutError after `timeout` seconds."""
    seq = next(_SEQS)
    await send(socket, {"type": "ping", "seq": seq})
    async with asyncio.timeout(timeout):
        while (pong := await next_of(socket, "pong", timeout))["seq"] != seq:
            pass
    return pong


async def no_frame_of(socket: Socket, kind: str, seconds: float, **fields: Any) -> None:
    """Fail if a frame that `next_of` would return arrives within `seconds`."""
    try:
        frame = await next_of(socket, kind, seconds, **fields)
    except TimeoutError:
        return
    pytest.fail(f"unexpected {frame}")


# ---------------------------------------------------------------- the local stack


async def watch_presence(stack: Stack, worker: int, visitor: Any):
    """A /ws/presence/ socket of `visitor` on one worker, past its arrival list."""
    socket = await on_worker(stack, worker, "/ws/presence/", visitor)
    await next_of(socket, "presence")
    return socket


def handshakes(stack: Stack, path: str) -> dict[int, int]:
    """How many handshakes for `path` each Daphne worker has logged: compare before and after
    opening a socket to tell which worker took it."""
    return {n: stack.log(f"ws-{n}").read_text().count(f"WSCONNECT {path}") for n in WS_WORKERS}


async def noting_worker(stack: Stack, path: str, opening: Awaitable[T]) -> tuple[T, int]:
    """Await `opening` (what opens one socket to `path`, and reads its greeting) and tell which
    Daphne worker took that socket: the one whose log gained a handshake for `path`."""
    before = handshakes(stack, path)
    opened = await opening

    # The line reaches the log through supervisor's pipe, a moment after the socket opened.
    def gained() -> list[int]:
        after = handshakes(stack, path)
        return [n for n in WS_WORKERS if after[n] > before[n]]

    await until(gained, failure=f"no worker logged a handshake for {path}")
    (worker,) = gained()
    return opened, worker


# ---------------------------------------------------------------- waiting


async def until(
    condition: Callable[[], object],
    timeout: float = 5.0,
    step: float = 0.02,
    failure: str | Callable[[], str] = "condition not met in time",
) -> None:
    """Poll `condition` (a plain function) every `step` seconds until it is true; after
    `timeout` seconds an AssertionError saying `failure` (called, if it is a function, for a
    message about the state at the time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure() if callable(failure) else failure
        await asyncio.sleep(step)


async def until_awaited(condition: Callable[[], Awaitable[object]], timeout: float = 5.0, step: float = 0.02) -> None:
    """`until` for a condition that must be awaited (a Redis read): polled every `step` seconds
    until true; an AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(step)


# ---------------------------------------------------------------- HTTP


def fetch(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """GET `url`: status, headers and body, error statuses included (no exception for a 404)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# ---------------------------------------------------------------- the pages' JavaScript


def static_js(name: str) -> str:
    """The file: URL of web/static/js/<name>, for an `import` in a script run by `run_node`."""
    return (REPO / "web" / "static" / "js" / name).as_uri()


def run_node(script: str, timeout: float = 30, env: dict[str, str] | None = None) -> Any:
    """Run `script` as an ES module under node (v18 or later) and return what it prints, parsed
    as JSON. The test fails when node is missing or the script exits non-zero (with its stderr)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (v18 or later) is needed to run the pages' JavaScript (web/static/js)")
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)

"""A Daphne worker's graceful drain on SIGTERM, over real sockets through nginx (ws/drain.py).

Its sockets get 1012 (Service Restart), spread over WS_DRAIN_SECONDS; their disconnect() runs,
so board rows, room seats and presence leave at once; clients that reconnect like the page
(at once, with 0-1 s of jitter) land on the other worker; a rolling restart loses nothing.
"""

import asyncio
import json
import os
import random
import signal
import time
import urllib.request

import pytest
import redis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from deploy.stack import WS_WORKERS
from shared.protocol import CLOSE_SERVICE_RESTART
from tests.chatclient import unique_room
from tests.conftest import start_stack, stop_stack
from tests.helpers import connect, next_of, noting_worker, on_worker, receive, watch_presence
from tests.stack.visitor import new_user

pytestmark = pytest.mark.stack

# The test stack drains over 1 s, so that every close and every disconnect() fits in the 2 s
# the board has to show the leaves (the default window is 2 s).
DRAIN_SECONDS = 1.0


@pytest.fixture(scope="module")
def drain_stack():
    stack = start_stack(WS_DRAIN_SECONDS=str(DRAIN_SECONDS))
    yield stack
    stop_stack(stack)


def api_total(stack) -> int:
    with urllib.request.urlopen(stack.url + "/api/public/", timeout=5) as response:
        return json.loads(response.read())["total"]


async def join_board_noting_worker(stack):
    async def join():
        socket = await connect(stack.ws_url, "/ws/public/")
        assert (await receive(socket))["type"] == "welcome"
        return socket

    return await noting_worker(stack, "/ws/public/", join())


async def close_code_of(socket, timeout: float) -> tuple[int | None, float]:
    """Read until the server closes the socket: (its close code, when it arrived)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    except ConnectionClosed:
        pass
    return socket.close_code, time.monotonic()


async def until_total(stack, expected: int, timeout: float) -> float:
    """Poll /api/public/ (Gunicorn reading Redis) until the board total is `expected`; when it was."""
    deadline = time.monotonic() + timeout
    while True:
        total = await asyncio.to_thread(api_total, stack)
        if total == expected:
            return time.monotonic()
        assert time.monotonic() < deadline, f"board total {total}, expected {expected}"
        await asyncio.sleep(0.05)


async def test_sigterm_closes_every_socket_of_the_worker_with_1012_and_the_board_drops_by_exactly_those(drain_stack):
    """40 board clients on both workers; SIGTERM one: each of its sockets gets 1012, spread over
    the window, the others stay open, and the board total drops by exactly its sockets within 2 s
    (their rows leave through disconnect(), 28 s before LIVE_TTL_SECONDS would expire them)."""
    clients = [await join_board_noting_worker(drain_stack) for _ in range(40)]
    victim = 1
    doomed = [socket for socket, worker in clients if worker == victim]
    kept = [socket for socket, worker in clients if worker != victim]
    assert doomed
    assert kept
    await until_total(drain_stack, 40, timeout=5)

    os.kill(drain_stack.pid_of(f"ws:ws-{victim}"), signal.SIGTERM)
    stopped_at = time.monotonic()
    closes = await asyncio.gather(*(close_code_of(socket, timeout=5) for socket in doomed))
    left_at = await until_total(drain_stack, len(kept), timeout=5)

    assert [code for code, _ in closes] == [CLOSE_SERVICE_RESTART] * len(doomed)
    assert all(socket.close_reason == "server restarting" for socket in doomed)
    close_times = sorted(at - stopped_at for _, at in closes)
    assert close_times[-1] - close_times[0] >= DRAIN_SECONDS / 2, f"closed all at once: {close_times}"
    assert left_at - stopped_at < 2.0
    # Exactly those: the other worker's clients are still open, answered, and on the board.
    for socket in kept:
        await socket.send(json.dumps({"type": "ping", "seq": 1}))
    await asyncio.sleep(0.5)
    assert await asyncio.to_thread(api_total, drain_stack) == len(kept)
    assert all(socket.close_code is None for socket in kept)
    for socket in kept:
        await socket.close()
    drain_stack.wait_until_ready(30)  # supervisor starts the stopped worker again


class PageLikeClient:
    """A socket that reconnects the way web/static/js/socket.js does: after 1012 at once with
    0-1 s of jitter, after anything else with capped exponential back-off. Records every close
    code, how long each reconnect took, and (for chat) the ids of every message it saw."""

    def __init__(self, stack, path: str, sends: bool = False):
        self.stack, self.path, self.sends = stack, path, sends
        self.codes: list[int | None] = []
        self.gaps: list[float] = []
        self.seen: set[str] = set()
        self.sent: list[str] = []
        self.opened = asyncio.Event()
        self.stopping = False
        self.socket = None

    async def run(self) -> None:
        attempt, closed_at = 0, None
        while not self.stopping:
            try:
                async with connect(self.stack.ws_url, self.path, open_timeout=5) as socket:
                    self.socket = socket
                    first = await receive(socket, timeout=5)
                    self.note(first)
                    if closed_at is not None:
                        self.gaps.append(time.monotonic() - closed_at)
                    self.opened.set()
                    attempt = 0
                    sender = asyncio.create_task(self.send_forever(socket)) if self.sends else None
                    try:
                        async for text in socket:
                            self.note(json.loads(text))
                    finally:
                        if sender:
                            sender.cancel()
                code = socket.close_code
            except (OSError, TimeoutError, ConnectionClosed, InvalidStatus) as error:
                code = getattr(error, "code", None) or repr(error)[:80]
            if self.stopping:
                return
            self.codes.append(code)
            if self.opened.is_set():  # an open socket closed; a failed retry keeps the first close's time
                closed_at = time.monotonic()
                self.opened.clear()
            if code == CLOSE_SERVICE_RESTART:
                await asyncio.sleep(random.random())
            else:
                await asyncio.sleep(random.random() * min(15, 0.5 * 2**attempt))
                attempt += 1

    def note(self, frame: dict) -> None:
        if frame["type"] == "history":
            self.seen.update(m["id"] for m in frame["messages"])
        elif frame["type"] == "message":
            self.seen.add(frame["message"]["id"])

    async def send_forever(self, socket) -> None:
        while self.sends:
            text = f"{self.path}-{len(self.sent)}"
            self.sent.append(text)
            await socket.send(json.dumps({"type": "message", "text": text}))
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        self.stopping = True
        if self.socket is not None:
            await self.socket.close()


def stored_ids(stack, room: str) -> set[str]:
    import sqlite3

    with sqlite3.connect(stack.run_dir / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT m.id FROM shared_message m JOIN shared_room r ON m.room_id = r.id WHERE r.name = ?", (room,)
        )
        return {str(row[0]) for row in rows}


async def test_a_rolling_restart_under_200_clients_loses_no_chat_message_and_everyone_is_back_within_5_s(drain_stack):
    """100 board and 100 chat clients (4 rooms, one sender each, a message every 0.25 s); both
    workers restarted one after the other through supervisor. Each client is closed with 1012
    and back within 5 s every time; every stored message reached every member of its room,
    live or through the history a reconnect brings."""
    rooms = [unique_room("drain") for _ in range(4)]
    board = [PageLikeClient(drain_stack, "/ws/public/") for _ in range(100)]
    chat = [PageLikeClient(drain_stack, f"/ws/chat/{rooms[i % 4]}/", sends=i < 4) for i in range(100)]
    clients = board + chat
    tasks = [asyncio.create_task(client.run()) for client in clients]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(client.opened.wait() for client in clients))
        for worker in WS_WORKERS:
            await asyncio.to_thread(drain_stack.ctl, "restart", f"ws:ws-{worker}")
            await asyncio.to_thread(drain_stack.wait_until_ready, 30)
            try:
                async with asyncio.timeout(10):
                    await asyncio.gather(*(client.opened.wait() for client in clients))
            except TimeoutError:
                late = [(c.path, c.codes[-5:]) for c in clients if not c.opened.is_set()]
                raise AssertionError(f"after restarting ws-{worker}, not back: {late[:10]} ({len(late)})") from None
        for client in chat:
            client.sends = False
        await asyncio.sleep(1.5)  # the last messages reach everyone
    finally:
        for client in clients:
            await client.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert all(client.codes for client in clients), "a client was never moved: both workers restarted"
    assert {code for client in clients for code in client.codes} == {CLOSE_SERVICE_RESTART}
    gaps = [gap for client in clients for gap in client.gaps]
    assert max(gaps) < 5.0, f"slowest reconnect {max(gaps):.1f} s"
    for index, room in enumerate(rooms):
        stored = stored_ids(drain_stack, room)
        assert len(stored) >= 10
        for client in chat[index::4]:
            assert client.seen == stored, f"{room}: missed {sorted(stored - client.seen)}"


async def test_a_drained_workers_room_seats_and_presence_leave_at_once(drain_stack):
    """Chat seats and a signed-in user's presence on the stopped worker: the room's member count
    drops within 2 s, and the user shows offline after the usual grace (3 s) plus a sweep — not
    after LIVE_TTL_SECONDS (30 s), as when a worker dies without running disconnect()."""
    from shared.chat import member_counts

    victim, other = WS_WORKERS
    room = unique_room("seats")
    user = await asyncio.to_thread(new_user, drain_stack, "drained")
    watching_user = await asyncio.to_thread(new_user, drain_stack, "watcher")
    watcher = await watch_presence(drain_stack, other, watching_user)
    presence = await on_worker(drain_stack, victim, "/ws/presence/", user)
    assert (await next_of(watcher, "status", username=user.username))["online"] is True
    seats = [await on_worker(drain_stack, victim, f"/ws/chat/{room}/", user) for _ in range(3)]
    # The other worker's seat is someone else's: any socket of `user` would keep them online.
    kept = await on_worker(drain_stack, other, f"/ws/chat/{room}/", watching_user)
    store = redis.Redis(unix_socket_path=str(drain_stack.run_dir / "redis.sock"))

    async def members() -> int:
        return (await asyncio.to_thread(member_counts, store, [room]))[room]

    deadline = time.monotonic() + 5
    while await members() != 4:
        assert time.monotonic() < deadline, "the four seats never showed"
        await asyncio.sleep(0.1)

    os.kill(drain_stack.pid_of(f"ws:ws-{victim}"), signal.SIGTERM)
    stopped_at = time.monotonic()
    closes = await asyncio.gather(*(close_code_of(s, timeout=5) for s in [presence, *seats]))
    assert [code for code, _ in closes] == [CLOSE_SERVICE_RESTART] * 4
    while await members() != 1:
        assert time.monotonic() - stopped_at < 2.0, "the drained worker's seats stayed"
        await asyncio.sleep(0.05)
    offline = await next_of(watcher, "status", username=user.username, timeout=8)
    assert offline["online"] is False
    assert time.monotonic() - stopped_at < 3.0 + 1.0 + 2.0  # grace + sweep + slack, not the 30 s TTL
    await kept.close()
    await watcher.close()
    drain_stack.wait_until_ready(30)

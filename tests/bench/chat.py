"""Chat broadcast: from a message's send to every member of the room having it, through nginx ->
Daphne -> the database (stored before it is broadcast) -> Redis -> both workers -> every socket.

Rooms of 100 and 500 members, opened at once so nginx spreads them over both workers; five
members take turns sending, one message in flight at a time. All members are clients of this one
process, so the last member's arrival also includes the client's own time to read 500 frames:
the figures are an upper bound on what the members would see.

The baseline, in the same workers and the same run: the Channels tutorial's chat consumer
(tests/bench/echo.py), a `group_send` to a group of every member's own channel, at the same size.

Targets: at 500 members the app's p99 (all members received) at most half the tutorial's, and
each member's p99 at most 50 ms; every member within a second of the send at p99.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection

from deploy.stack import Stack
from tests.bench.measure import percentiles_ms
from tests.chatclient import enter, say, unique_room, workers_serving
from tests.helpers import connect

ROOM_SIZES = (100, 500)
# A room of one (the sender alone) shows the fixed cost of a message: store, publish, deliver.
BASELINE_SIZE = 1
SENDERS = 5
WARMUP_MESSAGES = 10
MEASURED_MESSAGES = 100
# Members connect this many at a time: a storm of 500 handshakes is the connect bench's job.
CONNECT_BATCH = 50
# One message at a time, with this pause between, so each is measured on a quiet room.
PAUSE_S = 0.02
ROUND_TIMEOUT_S = 30
TARGET_P99_MS = 1000
# Against the tutorial's consumer at this size: the app's p99 at most this share of its p99.
TUTORIAL_SIZE = 500
TARGET_RATIO_TO_TUTORIAL = 0.5
TARGET_EACH_MEMBER_P99_MS = 50


@dataclass(eq=False)
class Round:
    """One message on its way: when it was sent and when each member got it."""

    token: bytes
    members: int
    sent_ns: int = 0
    arrivals_ns: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def say_tutorial(socket: ClientConnection, text: str) -> None:
    await socket.send(json.dumps({"message": text}))


async def enter_tutorial(stack: Stack, room: str) -> tuple[ClientConnection, list]:
    return await connect(stack.ws_url, f"/ws/tutorial-chat/{room}/"), []


class Room:
    def __init__(self, sockets: list[ClientConnection], tutorial: bool = False):
        self.sockets = sockets
        self.say = say_tutorial if tutorial else say
        self.round: Round | None = None
        self._readers = [asyncio.create_task(self._read(socket)) for socket in sockets]

    async def _read(self, socket: ClientConnection) -> None:
        try:
            while True:
                data = await socket.recv(decode=False)
                now = time.perf_counter_ns()
                current = self.round
                # A byte search, not a JSON parse: the client's own work stays small.
                if current is not None and current.token in data:
                    current.arrivals_ns.append(now)
                    if len(current.arrivals_ns) == current.members:
                        current.done.set()
        except websockets.ConnectionClosed:
            pass

    async def send_round(self, sender: ClientConnection, n: int) -> Round:
        current = self.round = Round(token=f"bench-{n}-{time.time_ns()}".encode(), members=len(self.sockets))
        current.sent_ns = time.perf_counter_ns()
        await self.say(sender, current.token.decode())
        await asyncio.wait_for(current.done.wait(), ROUND_TIMEOUT_S)
        return current

    async def close(self) -> None:
        await asyncio.gather(*(socket.close() for socket in self.sockets))
        await asyncio.gather(*self._readers)


async def open_room(stack: Stack, name: str, size: int, tutorial: bool = False) -> Room:
    sockets: list[ClientConnection] = []
    opener = enter_tutorial if tutorial else enter
    while len(sockets) < size:
        batch = min(CONNECT_BATCH, size - len(sockets))
        sockets += [socket for socket, _ in await asyncio.gather(*(opener(stack, name) for _ in range(batch)))]
    return Room(sockets, tutorial)


async def measure(stack: Stack, size: int, tutorial: bool = False) -> dict:
    name = unique_room(f"bench{size}")
    room = await open_room(stack, name, size, tutorial)
    try:
        last_ns, every_ns = [], []
        for n in range(WARMUP_MESSAGES + MEASURED_MESSAGES):
            current = await room.send_round(room.sockets[n % min(SENDERS, size)], n)
            if n >= WARMUP_MESSAGES:
                last_ns.append(max(current.arrivals_ns) - current.sent_ns)
                every_ns += [arrival - current.sent_ns for arrival in current.arrivals_ns]
            await asyncio.sleep(PAUSE_S)
    finally:
        await room.close()
    return {
        "members": size,
        "workers": None if tutorial else len(workers_serving(stack, name)),
        "messages": MEASURED_MESSAGES,
        "all_received_ms": percentiles_ms(last_ns),
        "each_member_ms": percentiles_ms(every_ns),
    }


async def run(stack: Stack) -> dict:
    rooms = {f"room_{size}": await measure(stack, size) for size in (BASELINE_SIZE, *ROOM_SIZES)}
    rooms[f"tutorial_{TUTORIAL_SIZE}"] = await measure(stack, TUTORIAL_SIZE, tutorial=True)
    worst_p99 = max(rooms[f"room_{size}"]["all_received_ms"]["p99"] for size in ROOM_SIZES)
    app, tutorial = rooms[f"room_{TUTORIAL_SIZE}"], rooms[f"tutorial_{TUTORIAL_SIZE}"]
    ratio = round(app["all_received_ms"]["p99"] / tutorial["all_received_ms"]["p99"], 2)
    each_p99 = app["each_member_ms"]["p99"]
    return {
        "scenario": "chat broadcast, send -> every member received",
        **rooms,
        "p99_ratio_app_to_tutorial": ratio,
        "target": (
            f"p99 (all members) <= {TARGET_P99_MS} ms at {' and '.join(map(str, ROOM_SIZES))} members; "
            f"at {TUTORIAL_SIZE}: <= {TARGET_RATIO_TO_TUTORIAL}x the tutorial consumer's p99, "
            f"each member's p99 <= {TARGET_EACH_MEMBER_P99_MS} ms"
        ),
        "met": worst_p99 <= TARGET_P99_MS
        and ratio <= TARGET_RATIO_TO_TUTORIAL
        and each_p99 <= TARGET_EACH_MEMBER_P99_MS,
    }

"""A worker's room delivery (ws/chat.py) without sockets or Redis: history first, then every
message exactly once and in `seq` order, however the frames come (late, twice, never)."""

import asyncio
import json
import random

from shared.protocol import message_frame
from ws.chat import CATCH_UP_PAGE, LocalRoom, Seat


class FakeSocket:
    """Records the frames written to it; `pause` makes its next send wait, as a slow socket's does."""

    def __init__(self):
        self.frames: list[dict] = []
        self.pause: asyncio.Event | None = None

    async def send(self, text_data=None, bytes_data=None, close=False):
        if self.pause is not None:
            await self.pause.wait()
        self.frames.append(json.loads(text_data))


class Store:
    """The database's messages of one room, read as shared.chat.messages_after reads them."""

    def __init__(self):
        self.messages: dict[int, dict] = {}
        self.reads = 0
        self.fail = False

    def add(self, n: int) -> dict:
        self.messages[n] = message(n)
        return self.messages[n]

    async def fetch(self, room, after, upto, limit):
        self.reads += 1
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("database down")
        return [self.messages[n] for n in sorted(self.messages) if after < n <= upto][:limit]


def message(n: int) -> dict:
    return {"id": str(1000 + n), "seq": n, "room": "lobby", "author": "ada", "text": f"m{n}", "sent_at": 1000 + n}


def seqs(socket: FakeSocket) -> list[int]:
    return [f["message"]["seq"] for f in socket.frames if f["type"] == "message"]


class Room:
    """A LocalRoom over a Store, whose background catch-ups the test can wait for."""

    def __init__(self):
        self.store = Store()
        self.tasks: set[asyncio.Task] = set()
        self.local = LocalRoom("lobby", self.store.fetch, self.spawn)

    def spawn(self, work):
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        return task

    async def settle(self):
        while any(not task.done() for task in self.tasks):
            await asyncio.gather(*self.tasks)

    async def seat(self, history: list[dict] | None = None) -> FakeSocket:
        socket = FakeSocket()
        seat = self.local.seats[socket] = Seat(socket)
        await seat.open_with(history or [], "lobby")
        self.local.catch_up_if_behind()
        return socket

    async def publish(self, n: int) -> None:
        """Message n as a worker relays it: stored first, then its frame."""
        stored = self.store.messages.get(n) or self.store.add(n)
        await self.local.deliver(message_frame(stored))


async def test_a_seat_sends_its_history_before_any_live_message():
    """A message published while the history was read is not sent before it, nor lost."""
    room = Room()
    socket = FakeSocket()
    seat = room.local.seats[socket] = Seat(socket)
    history = [room.store.add(1), room.store.add(2)]
    await room.publish(3)  # while the history is read
    assert socket.frames == []
    await seat.open_with(history, "lobby")
    room.local.catch_up_if_behind()
    await room.settle()
    assert [f["type"] for f in socket.frames] == ["history", "message"]
    assert seqs(socket) == [3]


async def test_a_message_the_history_already_has_is_not_sent_again():
    room = Room()
    socket = await room.seat([room.store.add(1), room.store.add(2)])
    await room.publish(2)
    await room.publish(1)
    await room.settle()
    assert seqs(socket) == []


async def test_a_message_offered_twice_reaches_each_seat_once():
    """Live delivery, a frame Redis brings late, and the heartbeat's catch-up: one copy goes out."""
    room = Room()
    sockets = [await room.seat(), await room.seat()]
    await room.publish(1)
    await room.publish(1)
    room.local.saw(1)
    await room.settle()
    assert [seqs(s) for s in sockets] == [[1], [1]]


async def test_a_gap_is_filled_from_the_database_in_order():
    """Message 2's frame was lost (a hung Redis): seeing 3 shows the gap; 2 is read back."""
    room = Room()
    socket = await room.seat()
    await room.publish(1)
    room.store.add(2)  # stored, its frame never came
    await room.publish(3)
    await room.settle()
    assert seqs(socket) == [1, 2, 3]
    await room.publish(2)  # and if it comes after all, it is not sent again
    assert seqs(socket) == [1, 2, 3]


async def test_the_heartbeat_sends_what_no_frame_announced():
    """The last messages' frames were all lost: the room's newest seq from the database."""
    room = Room()
    socket = await room.seat()
    for n in range(1, 6):
        room.store.add(n)
    room.local.saw(5)
    await room.settle()
    assert seqs(socket) == [1, 2, 3, 4, 5]


async def test_every_seat_gets_every_message_once_in_order_however_frames_come():
    """The issue's volume and worse: frames lost, repeated and reordered, seats joining midway,
    the heartbeat now and then; each seat gets each message after its history exactly once, in
    order, holding one number (its cursor) whatever the volume."""
    rng = random.Random(9)
    room = Room()
    sockets = [await room.seat() for _ in range(3)]
    total = 3 * CATCH_UP_PAGE + 17  # more than a page behind, too
    for n in range(1, total + 1):
        room.store.add(n)
        for _ in range(rng.choice([0, 0, 1, 1, 1, 2])):  # lost, once, or twice
            await room.local.deliver(message_frame(message(n)))
        if rng.random() < 0.1:  # a frame from long ago, brought back late
            await room.local.deliver(message_frame(message(rng.randint(1, n))))
        if rng.random() < 0.02:
            room.local.saw(n)
        if n == total // 2:
            sockets.append(await room.seat([message(k) for k in range(n - 49, n + 1)]))
        if rng.random() < 0.05:
            await room.settle()
    room.local.saw(total)
    await room.settle()
    for socket in sockets[:3]:
        assert seqs(socket) == list(range(1, total + 1))
    assert seqs(sockets[3]) == list(range(total // 2 + 1, total + 1))
    assert all(vars(seat).keys() == {"socket", "member_id", "cursor"} for seat in room.local.seats.values())


async def test_messages_deleted_from_the_database_do_not_stall_a_seat():
    room = Room()
    socket = await room.seat()
    room.store.add(1)
    await room.publish(3)  # 2 was deleted before anyone read it back
    await room.publish(4)
    await room.settle()
    assert seqs(socket) == [1, 3, 4]


async def test_a_failed_catch_up_is_tried_again_at_the_next_heartbeat():
    room = Room()
    socket = await room.seat()
    room.store.add(1)
    room.store.fail = True
    await room.publish(2)
    await room.settle()
    assert seqs(socket) == []
    room.store.fail = False
    room.local.saw(2)
    await room.settle()
    assert seqs(socket) == [1, 2]


async def test_seats_that_are_up_to_date_get_live_messages_while_another_catches_up():
    room = Room()
    ahead = await room.seat()
    await room.publish(1)
    behind = await room.seat()  # joined with an empty history read before 1 was stored
    room.store.fail = True  # its catch-up waits for the database
    await room.publish(2)
    assert seqs(ahead) == [1, 2]
    room.store.fail = False
    room.local.saw(2)
    await room.settle()
    assert seqs(behind) == [1, 2]


async def test_a_socket_that_fails_does_not_stop_the_others():
    """A socket closing mid-send is skipped; the room's other sockets still get the message."""

    class ClosedSocket(FakeSocket):
        async def send(self, text_data=None, bytes_data=None, close=False):
            raise RuntimeError("socket closed")

    room = Room()
    broken, fine = ClosedSocket(), FakeSocket()
    for socket in (broken, fine):
        room.local.seats[socket] = Seat(socket)
        await room.local.seats[socket].open_with([], "lobby")
    await room.publish(1)
    assert seqs(fine) == [1]

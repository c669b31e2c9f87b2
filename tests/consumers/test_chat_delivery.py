"""A worker's room delivery (ws/chat.py) without sockets: history first, each message once."""

import asyncio
import json

from shared.protocol import message_frame
from ws.chat import REMEMBERED_IDS, LocalRoom, RecentIds, Seat


class FakeSocket:
    """Records the frames written to it; `pause` makes its next send wait, as a slow socket's does."""

    def __init__(self):
        self.frames: list[dict] = []
        self.pause: asyncio.Event | None = None

    async def send(self, text_data=None, bytes_data=None, close=False):
        if self.pause is not None:
            await self.pause.wait()
        self.frames.append(json.loads(text_data))


def message(n: int) -> dict:
    return {"id": str(n), "room": "lobby", "author": "ada", "text": f"m{n}", "sent_at": 1000 + n}


def texts(socket: FakeSocket) -> list[str]:
    return [f["message"]["text"] for f in socket.frames if f["type"] == "message"]


async def test_a_seat_sends_its_history_before_any_live_message():
    """Messages offered while the history is loading wait, and follow it."""
    socket = FakeSocket()
    seat = Seat(socket)
    await seat.offer("3", message_frame(message(3)))
    assert socket.frames == []
    await seat.open_with([message(1), message(2)], "lobby")
    assert [f["type"] for f in socket.frames] == ["history", "message"]
    assert texts(socket) == ["m3"]


async def test_a_held_message_the_history_already_has_is_not_sent_again():
    """A message both in the history and held while it loaded reaches the socket once."""
    socket = FakeSocket()
    seat = Seat(socket)
    await seat.offer("2", message_frame(message(2)))
    await seat.open_with([message(1), message(2)], "lobby")
    assert len(socket.frames) == 1
    assert [m["id"] for m in socket.frames[0]["messages"]] == ["1", "2"]


async def test_messages_offered_while_held_ones_are_sent_keep_their_order():
    """A live message that comes while the held ones go out is sent after them, not before."""
    socket = FakeSocket()
    seat = Seat(socket)
    await seat.offer("2", message_frame(message(2)))
    socket.pause = asyncio.Event()
    opening = asyncio.create_task(seat.open_with([message(1)], "lobby"))
    await asyncio.sleep(0.01)  # the history send is waiting on the slow socket
    late = asyncio.create_task(seat.offer("3", message_frame(message(3))))
    socket.pause.set()
    await asyncio.gather(opening, late)
    assert texts(socket) == ["m2", "m3"]
    assert seat.is_open


async def test_a_message_offered_twice_reaches_each_seat_once():
    """Live delivery and the heartbeat's catch-up may both offer a message: one copy goes out."""
    room = LocalRoom("lobby")
    sockets = [FakeSocket(), FakeSocket()]
    for socket in sockets:
        room.seats[socket] = Seat(socket)
        await room.seats[socket].open_with([], "lobby")
    frame = message_frame(message(7))
    await room.send(text_data=frame)
    await room.offer("7", frame)
    assert [texts(s) for s in sockets] == [["m7"], ["m7"]]


async def test_a_room_knows_which_ids_some_open_seat_lacks():
    """Only open seats count: one waiting for its history gets everything in it."""
    room = LocalRoom("lobby")
    has_all, lacks_two, waiting = FakeSocket(), FakeSocket(), FakeSocket()
    for socket in (has_all, lacks_two, waiting):
        room.seats[socket] = Seat(socket)
    await room.seats[has_all].open_with([message(1), message(2)], "lobby")
    await room.seats[lacks_two].open_with([message(1)], "lobby")
    assert room.missing(["1", "2"]) == ["2"]


async def test_a_socket_that_fails_does_not_stop_the_others():
    """A socket closing mid-send is skipped; the room's other sockets still get the message."""

    class ClosedSocket(FakeSocket):
        async def send(self, text_data=None, bytes_data=None, close=False):
            raise RuntimeError("socket closed")

    room = LocalRoom("lobby")
    broken, fine = ClosedSocket(), FakeSocket()
    for socket in (broken, fine):
        room.seats[socket] = Seat(socket)
    await room.seats[fine].open_with([], "lobby")
    await room.seats[broken].open_with([], "lobby")
    await room.offer("1", message_frame(message(1)))
    assert texts(fine) == ["m1"]


def test_recent_ids_forget_the_oldest_beyond_their_size():
    """Bounded memory per socket: the oldest id goes when a new one comes past the size."""
    ids = RecentIds(REMEMBERED_IDS)
    for n in range(REMEMBERED_IDS + 1):
        ids.add(str(n))
    assert "0" not in ids
    assert "1" in ids
    assert str(REMEMBERED_IDS) in ids

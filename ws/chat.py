"""This worker process's chat rooms (shared/chat.py holds the rules).

Each room with sockets on this worker has one LocalRoom, the room topic's only subscriber on
the worker's hub: a message crosses Redis once per worker, and the LocalRoom writes the same
bytes to each of its sockets. Delivery is exactly once and in order, by each message's place in
its room (`seq`: 1, 2, 3, ... in commit order, shared/chat.py):
- each seat keeps its cursor, the `seq` of the last message it was sent (its history's last,
  to begin with). A message with `seq` <= cursor is not sent again; `seq` = cursor + 1 is sent
  at once; a larger one means the seat missed some (a broadcast lost in a hung Redis, or one
  still on its way): the LocalRoom reads the messages after the cursor back from the database
  and sends them in order. Memory per seat: one number, whatever the volume.
- every heartbeat the worker reads each room's newest `seq` from the database and does the
  same for a seat behind it. A broadcast lost to a Redis outage or restart thus reaches
  everybody within LIVE_HEARTBEAT_SECONDS, even while Redis is still down (the database, not
  Redis, is the record), or at once when the room's next message shows the gap.
Member counts: each socket is one member of the room's LiveSet in Redis, refreshed by the
heartbeat, so a killed worker's sockets drop out within LIVE_TTL_SECONDS.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings

from shared.chat import last_seqs, members_key, message_seq, messages_after, recent_messages
from shared.liveset import LiveSet
from shared.protocol import ChatMessageShape, history_frame, message_frame
from shared.redis import async_redis, attempt
from ws.hub import Hub, Socket, send_or_drop
from ws.jobs import Jobs
from ws.worker import Worker

log = logging.getLogger(__name__)

# A member's join or leave waits this long at most for Redis (it fails at once when Redis is
# down; this bounds a Redis that hangs).
MEMBERS_WAIT_SECONDS = 0.5
# Messages read back from the database at a time when seats are behind.
CATCH_UP_PAGE = 200

# (room, after, upto, limit) -> the room's messages with after < seq <= upto, in seq order.
Fetch = Callable[[str, int, int, int], Awaitable[list[ChatMessageShape]]]


def topic(room: str) -> str:
    """The hub topic of a room (valid rooms are safe in group names: shared.protocol)."""
    return f"chat.{room}"


class Seat:
    """One socket in one room, and its cursor: the `seq` of the last message it was sent
    (None until its history is out; it gets nothing live before)."""

    def __init__(self, socket: Socket):
        self.socket = socket
        self.member_id = uuid.uuid4().hex
        self.cursor: int | None = None

    @property
    def is_open(self) -> bool:
        return self.cursor is not None

    def behind(self, seq: int) -> bool:
        """An open seat that has not been sent `seq` yet."""
        return self.cursor is not None and self.cursor < seq

    async def open_with(self, history: list[ChatMessageShape], room: str) -> None:
        """Send the history; from here on the seat takes the messages after its last."""
        self.cursor = max((message["seq"] for message in history), default=0)
        await send_or_drop(self.socket, history_frame(room, history))

    async def take(self, seq: int, frame: str) -> None:
        """Send message `seq` if it is the seat's next one (the cursor moves before the write,
        so no other delivery can send it too)."""
        if self.cursor is not None and seq == self.cursor + 1:
            self.cursor = seq
            await send_or_drop(self.socket, frame)


class LocalRoom:
    """A room's seats on this worker: the hub's subscriber of the room's topic.

    `fetch` reads messages back from the database (shared.chat.messages_after); `spawn` runs
    the catch-up in the background, so a delivery never waits on the database.
    """

    def __init__(self, name: str, fetch: Fetch, spawn: Callable[[Awaitable], object]):
        self.name = name
        self.seats: dict[Socket, Seat] = {}
        # The newest `seq` this worker has seen in the room (a frame, or the database).
        self.newest = 0
        self._fetch = fetch
        self._spawn = spawn
        self._catching_up = False

    async def deliver(self, frame: str) -> None:
        """A `message` frame published to the room by any worker."""
        seq = message_seq(frame)
        if seq is not None:
            await self.deliver_message(seq, frame)

    async def deliver_message(self, seq: int, frame: str) -> None:
        """Message `seq`: to each seat whose next it is; seats that missed some catch up."""
        self.newest = max(self.newest, seq)
        for seat in tuple(self.seats.values()):
            await seat.take(seq, frame)
        self.catch_up_if_behind()

    def saw(self, seq: int) -> None:
        """The room's newest `seq` is at least this (the database says so)."""
        self.newest = max(self.newest, seq)
        self.catch_up_if_behind()

    def catch_up_if_behind(self) -> None:
        if not self._catching_up and any(seat.behind(self.newest) for seat in self.seats.values()):
            self._catching_up = True
            self._spawn(self._catch_up())

    async def _catch_up(self) -> None:
        """Until every open seat has everything up to `newest`: read the messages after the
        furthest-behind cursor back from the database, and send each seat what it lacks, in
        order. Live deliveries meanwhile go to the seats that are up to date."""
        try:
            while True:
                upto = self.newest
                seats = [seat for seat in self.seats.values() if seat.behind(upto)]
                if not seats:
                    return
                after = min(seat.cursor for seat in seats)
                page = await self._fetch(self.name, after, upto, CATCH_UP_PAGE)
                for message in page:
                    frame = message_frame(message)
                    for seat in seats:
                        if seat.behind(message["seq"]):
                            # Everything before it is out (or deleted): it is this seat's next.
                            seat.cursor = message["seq"] - 1
                            await seat.take(message["seq"], frame)
                if len(page) < CATCH_UP_PAGE:
                    # The whole range is out: what it lacks was deleted; the seats are at `upto`.
                    for seat in seats:
                        if seat.behind(upto):
                            seat.cursor = upto
        except Exception:  # the database is down: the next heartbeat tries again
            log.warning("chat %s: catching up from the database failed", self.name, exc_info=True)
        finally:
            self._catching_up = False


class ChatRooms:
    def __init__(self, hub: Hub, jobs: Jobs, client: redis.asyncio.Redis):
        self.hub = hub
        self.jobs = jobs
        self.redis = client
        self.rooms: dict[str, LocalRoom] = {}
        jobs.every(settings.LIVE_HEARTBEAT_SECONDS, "chat catch-up", self.catch_up)
        jobs.every(settings.LIVE_HEARTBEAT_SECONDS, "chat members", self.refresh_members)

    @classmethod
    def current(cls) -> "ChatRooms":
        """This worker process's chat rooms."""
        return Worker.current().service(cls, lambda worker: cls(worker.hub, worker.jobs, async_redis()))

    # ------------------------------------------------------------ what a consumer calls

    async def join(self, socket: Socket, name: str) -> None:
        """Seat a socket in a room and send it the room's history, then its live messages."""
        room = self.rooms.get(name)
        is_new = room is None
        if is_new:
            room = self.rooms[name] = LocalRoom(name, database_sync_to_async(messages_after), self.jobs.spawn)
        seat = room.seats[socket] = Seat(socket)  # gets nothing live until its history is out
        try:
            if is_new:
                await self.hub.subscribe(topic(name), room)
            history = await database_sync_to_async(recent_messages)(name)
            await seat.open_with(history, name)
            room.catch_up_if_behind()  # what was published while the history was read
            await attempt(self._members(name).refresh([seat.member_id]), MEMBERS_WAIT_SECONDS)
        except BaseException:
            # The database is down, or the consumer was cancelled (the worker is stopping, or
            # Daphne gave up on it) at any await of the join: the consumer never learns it was
            # seated, so no disconnect() would leave, and the heartbeat would keep its member.
            await self.leave(socket, name)
            raise

    async def leave(self, socket: Socket, name: str) -> None:
        room = self.rooms.get(name)
        seat = room.seats.pop(socket, None) if room else None
        if seat is None:
            return
        if not room.seats:
            del self.rooms[name]
            self.hub.unsubscribe(topic(name), room)
        # If Redis is down, the member expires by itself.
        await attempt(self._members(name).remove(seat.member_id), MEMBERS_WAIT_SECONDS)

    async def broadcast(self, message: ChatMessageShape) -> None:
        """Send a stored message to every socket in its room, on every worker.

        Never waits on Redis: this worker's sockets (the sender's among them) get it now, the
        other workers' as soon as Redis takes it, or at their next catch-up if it never does
        (stored already, so nothing is lost).
        """
        await self.hub.publish(topic(message["room"]), message_frame(message))

    # ------------------------------------------------------------ periodic jobs

    async def catch_up(self) -> None:
        """Send each seat the stored messages it has not been sent (see the module doc)."""
        if not self.rooms:
            return
        for name, seq in (await database_sync_to_async(last_seqs)(list(self.rooms))).items():
            room = self.rooms.get(name)
            if room is not None:
                room.saw(seq)

    async def refresh_members(self) -> None:
        for name, room in tuple(self.rooms.items()):
            members = self._members(name)
            await members.refresh(seat.member_id for seat in tuple(room.seats.values()))
            await members.take_expired()

    # ------------------------------------------------------------ helpers

    def _members(self, room: str) -> LiveSet:
        return LiveSet(self.redis, members_key(room), settings.LIVE_TTL_SECONDS)

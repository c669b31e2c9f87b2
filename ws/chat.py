"""This worker process's chat rooms (shared/chat.py holds the rules).

Each room with sockets on this worker has one LocalRoom, the room topic's only follower on the
process Runtime: a message crosses Redis once per worker, and the LocalRoom writes the same
bytes to each of its sockets. It also makes delivery exact:
- a socket gets its history first; live messages that arrive meanwhile wait for it and are
  sent after, unless the history already had them;
- each socket remembers the ids it was sent, so nothing reaches it twice;
- every heartbeat the worker compares each room's newest stored ids with what its sockets
  were sent and sends what is missing. A broadcast lost to a Redis outage or restart thus
  reaches everybody within LIVE_HEARTBEAT_SECONDS, even while Redis is still down (the
  database, not Redis, is the record).
Member counts: each socket is one member of the room's LiveSet in Redis, refreshed by the
heartbeat, so a killed worker's sockets drop out within LIVE_TTL_SECONDS.
"""

import logging
import uuid
from collections import deque
from collections.abc import Iterable

import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings

from shared.chat import HISTORY_LENGTH, members_key, message_id, messages_with_ids, newest_ids, recent_messages
from shared.liveset import LiveSet
from shared.protocol import ChatMessageShape, history_frame, message_frame
from shared.redis import async_redis, attempt
from ws.runtime import Runtime, Socket

log = logging.getLogger(__name__)

# Ids a socket remembers having been sent: twice the catch-up window (the room's newest
# HISTORY_LENGTH), so a message inside that window is never sent to it twice.
REMEMBERED_IDS = 2 * HISTORY_LENGTH
# A member's join or leave waits this long at most for Redis (it fails at once when Redis is
# down; this bounds a Redis that hangs).
MEMBERS_WAIT_SECONDS = 0.5


def topic(room: str) -> str:
    """The Runtime topic of a room (valid rooms are safe in group names: shared.protocol)."""
    return f"chat.{room}"


class RecentIds:
    """The last `size` ids added, with constant-time membership."""

    def __init__(self, size: int):
        self._size = size
        self._order: deque[str] = deque()
        self._ids: set[str] = set()

    def __contains__(self, message: str) -> bool:
        return message in self._ids

    def add(self, message: str) -> None:
        if message in self._ids:
            return
        self._order.append(message)
        self._ids.add(message)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


class Seat:
    """One socket in one room: the ids it was sent, and what waits until its history is out."""

    def __init__(self, socket: Socket):
        self.socket = socket
        self.member_id = uuid.uuid4().hex
        self._sent = RecentIds(REMEMBERED_IDS)
        # Frames that arrive before the history is sent; None once it is.
        self._held: list[tuple[str, str]] | None = []

    @property
    def is_open(self) -> bool:
        """Its history is out: from now on it gets live messages as they come."""
        return self._held is None

    def lacks(self, message: str) -> bool:
        return message not in self._sent

    async def offer(self, message: str, frame: str) -> None:
        """Send a message frame unless this socket already has it (or hold it for later)."""
        if self._held is not None:
            self._held.append((message, frame))
        elif message not in self._sent:
            self._sent.add(message)
            await self._send(frame)

    async def open_with(self, history: list[ChatMessageShape], room: str) -> None:
        """Send the history first, then what arrived meanwhile and the history lacks."""
        for message in history:
            self._sent.add(message["id"])
        await self._send(history_frame(room, history))
        held = self._held
        while held:  # offers made while we send land here too, and are sent in turn
            message, frame = held.pop(0)
            if message not in self._sent:
                self._sent.add(message)
                await self._send(frame)
        self._held = None

    async def _send(self, frame: str) -> None:
        try:
            await self.socket.send(text_data=frame)
        except Exception:  # a socket closing mid-send must not stop the room's other sockets
            log.debug("dropped a chat frame for a closing socket", exc_info=True)


class LocalRoom:
    """A room's seats on this worker; the Runtime delivers the room's broadcasts here."""

    def __init__(self, name: str):
        self.name = name
        self.seats: dict[Socket, Seat] = {}

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """A `message` frame published to the room by any worker (the Runtime's Socket protocol)."""
        if text_data is not None:
            await self.offer(message_id(text_data), text_data)

    async def offer(self, message: str, frame: str) -> None:
        for seat in tuple(self.seats.values()):
            await seat.offer(message, frame)

    def missing(self, ids: Iterable[str]) -> list[str]:
        """Of these ids, the ones some open seat has not been sent (a seat still waiting for
        its history gets them in it)."""
        seats = [seat for seat in self.seats.values() if seat.is_open]
        return [i for i in ids if any(seat.lacks(i) for seat in seats)]


class ChatRooms:
    def __init__(self, runtime: Runtime, client: redis.asyncio.Redis):
        self.runtime = runtime
        self.redis = client
        self.rooms: dict[str, LocalRoom] = {}
        runtime.every(settings.LIVE_HEARTBEAT_SECONDS, "chat catch-up", self.catch_up)
        runtime.every(settings.LIVE_HEARTBEAT_SECONDS, "chat members", self.refresh_members)

    @classmethod
    def current(cls) -> "ChatRooms":
        """This worker process's chat rooms."""
        return Runtime.current().service(cls, lambda runtime: cls(runtime, async_redis()))

    # ------------------------------------------------------------ what a consumer calls

    async def join(self, socket: Socket, name: str) -> None:
        """Seat a socket in a room and send it the room's history, then its live messages."""
        room = self.rooms.get(name)
        is_new = room is None
        if is_new:
            room = self.rooms[name] = LocalRoom(name)
        seat = room.seats[socket] = Seat(socket)  # held for from here on: nothing slips past
        try:
            if is_new:
                await self.runtime.follow(topic(name), room)
            history = await database_sync_to_async(recent_messages)(name)
        except BaseException:  # the database is down, or the worker is stopping: no stale seat
            await self.leave(socket, name)
            raise
        await seat.open_with(history, name)
        await attempt(self._members(name).refresh([seat.member_id]), MEMBERS_WAIT_SECONDS)

    async def leave(self, socket: Socket, name: str) -> None:
        room = self.rooms.get(name)
        seat = room.seats.pop(socket, None) if room else None
        if seat is None:
            return
        if not room.seats:
            del self.rooms[name]
            self.runtime.unfollow(topic(name), room)
        # If Redis is down, the member expires by itself.
        await attempt(self._members(name).remove(seat.member_id), MEMBERS_WAIT_SECONDS)

    async def broadcast(self, message: ChatMessageShape) -> None:
        """Send a stored message to every socket in its room, on every worker.

        Never waits on Redis: this worker's sockets (the sender's among them) get it now, the
        other workers' as soon as Redis takes it, or at their next catch-up if it never does
        (stored already, so nothing is lost).
        """
        await self.runtime.publish(topic(message["room"]), message_frame(message))

    # ------------------------------------------------------------ periodic jobs

    async def catch_up(self) -> None:
        """Send each seat the newest stored messages it has not been sent (see the module doc)."""
        if not self.rooms:
            return
        stored = await database_sync_to_async(newest_ids)(list(self.rooms))
        for name, ids in stored.items():
            room = self.rooms.get(name)
            missing = room.missing(ids) if room else []
            if missing:
                for message in await database_sync_to_async(messages_with_ids)(name, missing):
                    await room.offer(message["id"], message_frame(message))

    async def refresh_members(self) -> None:
        for name, room in tuple(self.rooms.items()):
            members = self._members(name)
            await members.refresh(seat.member_id for seat in tuple(room.seats.values()))
            await members.take_expired()

    # ------------------------------------------------------------ helpers

    def _members(self, room: str) -> LiveSet:
        return LiveSet(self.redis, members_key(room), settings.LIVE_TTL_SECONDS)

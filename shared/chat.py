"""Chat rules: rooms, messages stored before anybody sees them, history, and who is in a room.

No sockets here. The ORM functions are synchronous: views call them directly, consumers
through database_sync_to_async. Room members live in Redis, one LiveSet per room, each
worker refreshing its own sockets (ws/chat.py), so a killed worker leaves no phantom members.

Message ids on the wire are the database ids as strings: they come from the database at the
commit that makes a message real. Clients treat them as opaque.

Each message also has its place in its room, `seq`: 1, 2, 3, ... with no gaps, in commit
order. It is taken from the room's row (`last_seq`) in the transaction that stores the message,
and that row's lock is held to the commit, so a message is committed only after every message
before it in its room (SQLite writes one transaction at a time anyway). A database id gives no
such promise (ids are taken before commit, and shared by all rooms). So a worker that has sent
a socket everything up to `seq` n knows exactly what it lacks when it sees n + 2, or the room's
`last_seq` past n: the messages after n, read back from here (ws/chat.py).
"""

import json
import time
from collections.abc import Iterable
from typing import Any

import redis
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shared.identity import current_guest_name, is_signed_in
from shared.models import AUTHOR_MAX_CHARS, Message, Room
from shared.protocol import ChatMessageShape
from shared.redis import REDIS_DOWN, key

# A socket opens with the room's last 50 messages (docs/protocol.md, `history`).
HISTORY_LENGTH = 50
# /chat/ shows the rooms with the most recent activity; older ones are still reachable by name.
ROOM_LIST_LENGTH = 100


# ---------------------------------------------------------------- messages


def post_message(room: str, author: str, text: str, *, guest: bool = True) -> ChatMessageShape:
    """Store a message (creating its room on first use) and return it as the wire shows it.

    Committed when this returns: only then may anybody be sent it, so nothing a client saw
    can be lost. `room` and `text` are already valid (shared.protocol); `guest`
    is False only for a signed-in author writing under their username.
    """
    with transaction.atomic():
        room_row = open_room(room)
        now = timezone.now()
        # Takes the room row's lock until the commit: the room's next message waits here (module doc).
        Room.objects.filter(pk=room_row.pk).update(last_seq=F("last_seq") + 1, last_activity_at=now)
        seq = Room.objects.filter(pk=room_row.pk).values_list("last_seq", flat=True).get()
        message = Message.objects.create(
            room=room_row, author=author[:AUTHOR_MAX_CHARS], guest=guest, text=text, sent_at=now, seq=seq
        )
    return message_shape(message, room)


def recent_messages(room: str, limit: int = HISTORY_LENGTH) -> list[ChatMessageShape]:
    """The room's last `limit` messages, oldest first (an unknown room has none)."""
    newest_first = list(Message.objects.filter(room__name=room).order_by("-id")[:limit])
    return [message_shape(message, room) for message in reversed(newest_first)]


def last_seqs(rooms: Iterable[str]) -> dict[str, int]:
    """Each room's newest `seq` (0 for a room with no messages, or none of that name), in one
    query. A worker compares them every heartbeat with what its sockets were sent (ws/chat.py)."""
    rooms = list(rooms)
    found = dict(Room.objects.filter(name__in=rooms).values_list("name", "last_seq"))
    return {room: found.get(room, 0) for room in rooms}


def messages_after(room: str, after: int, upto: int, limit: int) -> list[ChatMessageShape]:
    """The room's messages with `after` < seq <= `upto`, in seq order, at most `limit` of them
    (the first ones). Fewer than the range holds only if some were deleted."""
    messages = Message.objects.filter(room__name=room, seq__gt=after, seq__lte=upto).order_by("seq")[:limit]
    return [message_shape(message, room) for message in messages]


def message_shape(message: Message, room: str) -> ChatMessageShape:
    return {
        "id": str(message.pk),
        "seq": message.seq,
        "room": room,
        "author": message.author,
        "guest": message.guest,
        "text": message.text,
        "sent_at": round(message.sent_at.timestamp() * 1000),
    }


def message_seq(frame: str) -> int | None:
    """The `seq` inside a serialized `message` frame (shared.protocol.message_frame); None for
    a frame without one."""
    seq = json.loads(frame).get("message", {}).get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def author_for(user: Any, session: Any, fallback: str) -> str:
    """Who a message is from: the username when signed in, else the session's display name.

    The session is read afresh because the visitor may have renamed themselves on the public
    board since their chat socket opened; `fallback` names a visitor without one. A guest name
    is checked as it is used (shared.identity): one that an account now holds is replaced in
    the session by a new guest name.
    """
    if is_signed_in(user):
        return user.get_username()
    return current_guest_name(session, fallback)


# ---------------------------------------------------------------- rooms


def open_room(name: str) -> Room:
    """The room called `name` (already valid), created if it is new."""
    room, _ = Room.objects.get_or_create(name=name)
    return room


def active_rooms(limit: int = ROOM_LIST_LENGTH) -> list[Room]:
    """The rooms with the most recent activity first."""
    return list(Room.objects.order_by("-last_activity_at")[:limit])


# ---------------------------------------------------------------- members (Redis)


def members_key(room: str) -> str:
    """The LiveSet of a room's open sockets: one member per socket, scored by expiry."""
    return key("chat", "members", room)


def member_counts(client: redis.Redis, rooms: list[str]) -> dict[str, int] | None:
    """How many sockets each room has open right now, in one round trip; None if Redis is down.

    Counts the members that have not expired, as LiveSet.count does (for Gunicorn's
    blocking client).
    """
    now = time.time()
    try:
        with client.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.zcount(members_key(room), now, "+inf")
            counts = pipe.execute()
    except REDIS_DOWN:
        return None
    return dict(zip(rooms, counts, strict=True))

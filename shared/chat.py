"""Chat rules: rooms, messages stored before anybody sees them, history, and who is in a room.

No sockets here. The ORM functions are synchronous: views call them directly, consumers
through database_sync_to_async. Room members live in Redis, one LiveSet per room, each
worker refreshing its own sockets (ws/chat.py), so a killed worker leaves no phantom members.

Message ids on the wire are the database ids as strings: they come from the database at the
commit that makes a message real, need no second unique column, and let the server select
"the room's newest" with the same index that serves history. Clients treat them as opaque.
"""

import json
import time
from collections.abc import Iterable
from typing import Any

import redis
from django.db import transaction

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
        message = Message.objects.create(room=room_row, author=author[:AUTHOR_MAX_CHARS], guest=guest, text=text)
        Room.objects.filter(pk=room_row.pk).update(last_activity_at=message.sent_at)
    return message_shape(message, room)


def recent_messages(room: str, limit: int = HISTORY_LENGTH) -> list[ChatMessageShape]:
    """The room's last `limit` messages, oldest first (an unknown room has none)."""
    newest_first = list(Message.objects.filter(room__name=room).order_by("-id")[:limit])
    return [message_shape(message, room) for message in reversed(newest_first)]


def newest_ids(rooms: Iterable[str], limit: int = HISTORY_LENGTH) -> dict[str, list[str]]:
    """The ids of each room's last `limit` messages, read from the index alone.

    A worker compares them every heartbeat with what its sockets were sent: normally
    nothing is missing; after a lost broadcast (Redis down or restarted when the message
    was sent) it fetches and sends the rest. One call covers all of a worker's rooms.
    """
    return {room: _newest_ids(room, limit) for room in rooms}


def _newest_ids(room: str, limit: int) -> list[str]:
    ids = Message.objects.filter(room__name=room).order_by("-id").values_list("id", flat=True)[:limit]
    return [str(pk) for pk in ids]


def messages_with_ids(room: str, ids: Iterable[str]) -> list[ChatMessageShape]:
    """These messages of the room, oldest first."""
    messages = Message.objects.filter(room__name=room, pk__in=[int(i) for i in ids]).order_by("id")
    return [message_shape(message, room) for message in messages]


def message_shape(message: Message, room: str) -> ChatMessageShape:
    return {
        "id": str(message.pk),
        "room": room,
        "author": message.author,
        "guest": message.guest,
        "text": message.text,
        "sent_at": round(message.sent_at.timestamp() * 1000),
    }


def message_id(frame: str) -> str:
    """The id inside a serialized `message` frame (shared.protocol.message_frame)."""
    return json.loads(frame)["message"]["id"]


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

"""`/ws/chat/<room>/`: a room's history on accept, then its messages live; what a client sends
is stored, then broadcast (ws/chat.py delivers, shared/chat.py stores)."""

import logging

from channels.db import database_sync_to_async
from django.db import DatabaseError

from shared.chat import author_for, post_message
from shared.identity import display_name, is_signed_in
from shared.protocol import (
    CHAT_ENDPOINT,
    CLOSE_UNAVAILABLE,
    CLOSE_UNKNOWN_ROOM,
    ChatMessage,
    ChatMessageShape,
    is_valid_room,
)
from shared.sessions import ended_sessions
from ws.chat import ChatRooms
from ws.consumers.base import ProtocolConsumer

log = logging.getLogger(__name__)


class ChatConsumer(ProtocolConsumer):
    accepts = CHAT_ENDPOINT
    endpoint = "chat"
    room: str | None = None  # set once the socket is seated in a valid room

    async def connect(self) -> None:
        await self.accept()
        room = self.scope["url_route"]["kwargs"]["room"]
        if not is_valid_room(room):
            # Accepted first so that the client learns why: a refused handshake has no code.
            await self.close(code=CLOSE_UNKNOWN_ROOM)
            return
        self.rooms = ChatRooms.current()
        try:
            # Named once, for a visitor whose session has no name (a client that never loaded a page).
            self.guest_name = await database_sync_to_async(display_name)(
                self.scope.get("user"), self.scope.get("session")
            )
            await self.rooms.join(self, room)
        except DatabaseError:
            await self.close_for_database()
            return
        self.room = room

    async def disconnect(self, code: int) -> None:
        if self.room is not None:
            await self.rooms.leave(self, self.room)

    async def on_message(self, message: ChatMessage) -> None:
        # A frame that was on its way when we refused the room, or when the session that
        # signed this socket in ended (its author would be a user who signed out).
        if self.room is None or self.session_ended:
            return
        try:
            stored = await database_sync_to_async(self.store)(message.text)
        except DatabaseError:
            await self.close_for_database()
            return
        if stored is not None:
            await self.rooms.broadcast(stored)
        elif self.session_ended:
            await self.end_session()

    def store(self, text: str) -> ChatMessageShape | None:
        """The stored message, or None when the session that signed this socket in has ended.

        A signed-in author's session is checked here, in the same database thread as the write:
        the announcement of a sign-out travels through Redis, and while Redis hangs it could come
        after messages posted under the name of a user who has signed out (two indexed queries
        per message; chat's rate is a few a second at most)."""
        if self.session_ended:  # ended while this frame waited for a database thread
            return None
        user = self.scope.get("user")
        if is_signed_in(user) and ended_sessions({self.scope["session"].session_key: str(user.pk)}):
            self.session_ended = True
            return None
        author = author_for(user, self.scope.get("session"), self.guest_name)
        return post_message(self.room, author, text, guest=not is_signed_in(user))

    async def close_for_database(self) -> None:
        log.exception("chat: the database is unavailable; closing the socket so the client retries")
        await self.close(code=CLOSE_UNAVAILABLE)

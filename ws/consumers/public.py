"""`/ws/public/`: the public board. Pings as on /ws/ping/; delay reports answered with the board."""

import logging
import time

from channels.db import database_sync_to_async
from django.db import DatabaseError

from shared import metrics
from shared.identity import (
    SESSION_NAME_KEY,
    current_guest_name,
    display_name,
    display_name_reads_database,
    guest_name,
    is_account_name,
    is_reserved_for_guests,
    is_signed_in,
)
from shared.protocol import PUBLIC_ENDPOINT, Delay, Ping, ProtocolError, Rename, pong_frame
from shared.roundtrip import PongLedger
from ws.board import Board, BoardClient
from ws.consumers.base import ProtocolConsumer

log = logging.getLogger(__name__)


class PublicConsumer(ProtocolConsumer):
    accepts = PUBLIC_ENDPOINT
    endpoint = "public"
    client: BoardClient | None = None

    async def connect(self) -> None:
        self.pongs = PongLedger()
        await self.accept()
        self.board = Board.current()
        user, session = self.scope.get("user"), self.scope.get("session")
        try:
            if display_name_reads_database(user, session):
                # Checks a guest's name against the accounts (one indexed query).
                name = await database_sync_to_async(display_name)(user, session)
            else:
                name = display_name(user, session)
        except DatabaseError:
            # Cannot check: a fresh guest name is safe (no account starts with "guest-").
            log.warning("board: the database is unavailable; joining under a new guest name", exc_info=True)
            name = user.get_username() if is_signed_in(user) else guest_name()
        self.client = await self.board.join(self, name, guest=not is_signed_in(user))
        metrics.BOARD_CLIENTS.inc()

    async def disconnect(self, code: int) -> None:
        if self.client is not None:
            metrics.BOARD_CLIENTS.dec()
            await self.board.leave(self.client)

    def answer_ping(self, ping: Ping) -> str:
        """As on /ws/ping/, with a token and the time the pong left, to time the report on it."""
        token = self.pongs.sent(ping.seq, time.perf_counter())
        return pong_frame(ping, server_time=time.time() * 1000, token=token)

    def answer_delay(self, report: Delay) -> str:
        """The board, the report counted in it: the delay the server observed (the client's
        figure is its claim). Raises ProtocolError for a report on no pending pong."""
        trip = self.pongs.acknowledge(report.seq, report.token, time.perf_counter())
        return self.board.record_delay(self.client, trip.observed_ms, report.delay_ms, trip.warmup)

    async def on_rename(self, rename: Rename) -> None:
        if is_signed_in(self.scope.get("user")):
            raise ProtocolError("bad_message", "signed-in users appear under their username")
        if is_reserved_for_guests(rename.name):
            # Generated names are the server's: taking one would pass for another visitor.
            raise ProtocolError("bad_message", "names starting with guest- are given by the server; pick another")
        try:
            taken = await database_sync_to_async(is_account_name)(rename.name)
        except DatabaseError:
            log.warning("board: cannot check a new name against the accounts", exc_info=True)
            raise ProtocolError("bad_message", "names cannot be checked right now; try again later") from None
        if taken:
            raise ProtocolError("bad_message", "that name belongs to an account; pick another")
        self.board.rename(self.client, rename.name)
        await self.remember_name(rename.name)

    async def replacement_name(self) -> str:
        """This visitor's next name once an account took theirs, kept in their session: the one
        their chat sockets may have given them already, else a fresh guest name."""
        try:
            return await database_sync_to_async(current_guest_name)(self.scope.get("session"), guest_name())
        except DatabaseError:
            log.warning("board: cannot read a guest's session for a new name", exc_info=True)
            return guest_name()

    async def remember_name(self, name: str) -> None:
        """Keep the name in the visitor's session, so chat and their next visit use it too."""
        session = self.scope.get("session")
        if session is None or not session.session_key:
            return  # a script without the page's cookie: the name lasts as long as the socket
        session[SESSION_NAME_KEY] = name
        try:
            await database_sync_to_async(session.save)()
        except Exception:  # the board has the new name already; only the next visit misses it
            log.warning("could not keep a display name in the session", exc_info=True)

"""This worker process's signed-in sockets, closed with 4401 once their session ends (the rule
and the events: shared/sessions.py).

- Events on the `sessions` topic, from any process: `sessions` (tags) close those sessions'
  sockets at once; `users` (ids) have those users' sockets checked against the database now.
- Every LIVE_HEARTBEAT_SECONDS, all of this worker's signed-in sockets are checked in one batch:
  that finds what no event announced (expiry, a change made directly in the database, an event
  lost to a Redis outage).
- A socket is also checked right after its handshake, which closes the gap between the
  handshake reading its session and this worker hearing of that session's end.
"""

import json
import logging
from collections import defaultdict
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from shared.sessions import TOPIC, ended_sessions, session_tag
from ws.hub import Hub
from ws.jobs import Jobs
from ws.worker import Worker

log = logging.getLogger(__name__)


class SignedInSocket(Protocol):
    async def end_session(self) -> None: ...


class SignedIn:
    def __init__(self, hub: Hub, jobs: Jobs):
        self.hub = hub
        self.jobs = jobs
        self.sockets: dict[SignedInSocket, tuple[str, str]] = {}  # socket -> (session key, user id)
        self._by_tag: dict[str, set[SignedInSocket]] = defaultdict(set)
        # New sockets not checked yet, and the task checking them (one batch for a storm of
        # reconnects, not one query per socket).
        self._unchecked: set[SignedInSocket] = set()
        self._checking_new = False
        jobs.every(settings.LIVE_HEARTBEAT_SECONDS, "session check", self.check_all)

    @classmethod
    def current(cls) -> "SignedIn":
        """This worker process's signed-in sockets."""
        return Worker.current().service(cls, lambda worker: cls(worker.hub, worker.jobs))

    def add(self, socket: SignedInSocket, session_key: str, user_id: str) -> None:
        """Watch `socket`'s session from now on; never waits (the check runs in the background)."""
        self.sockets[socket] = (session_key, user_id)
        self._by_tag[session_tag(session_key)].add(socket)
        self._unchecked.add(socket)
        if not self._checking_new:
            self._checking_new = True
            self.jobs.spawn(self._check_new())

    def remove(self, socket: SignedInSocket) -> None:
        found = self.sockets.pop(socket, None)
        self._unchecked.discard(socket)
        if found is None:
            return
        tag = session_tag(found[0])
        self._by_tag[tag].discard(socket)
        if not self._by_tag[tag]:
            del self._by_tag[tag]
        if not self.sockets:
            self.hub.unsubscribe(TOPIC, self)

    async def _check_new(self) -> None:
        """Subscribe to the topic first, then check the new sockets, all that arrived meanwhile at once."""
        try:
            while self._unchecked:
                await self._subscribed()
                batch, self._unchecked = list(self._unchecked), set()
                await self.check(batch)
        finally:
            self._checking_new = False

    async def _subscribed(self) -> None:
        """Subscribed to the topic while any socket is watched. Asked before every batch: the
        last socket may have gone (and unsubscribed) while a batch was checked or the topic
        joined, and a socket added since must not go without sign-outs until the heartbeat."""
        while self.sockets and self not in self.hub.subscribers(TOPIC):
            await self.hub.subscribe(TOPIC, self)

    async def deliver(self, frame: str) -> None:
        """An event published by any process (this is the hub's subscriber of the topic)."""
        try:
            event = json.loads(frame)
            tags, user_ids = list(event.get("sessions", ())), {str(u) for u in event.get("users", ())}
        except (ValueError, AttributeError, TypeError):
            log.warning("ignored a malformed sessions event: %.200r", frame)
            return
        for tag in tags:
            for socket in tuple(self._by_tag.get(tag, ())):
                await self.end(socket)
        if user_ids:
            theirs = [socket for socket, (_, user_id) in self.sockets.items() if user_id in user_ids]
            if theirs:
                # Not awaited: the hub's delivery of other events must not wait on the database.
                self.jobs.spawn(self.check(theirs))

    async def check_all(self) -> None:
        await self.check(list(self.sockets))

    async def check(self, sockets: list[SignedInSocket]) -> None:
        """Close those of `sockets` whose session no longer signs their user in."""
        signed_in = {self.sockets[s][0]: self.sockets[s][1] for s in sockets if s in self.sockets}
        if not signed_in:
            return
        try:
            ended = await database_sync_to_async(ended_sessions)(signed_in)
        except DatabaseError:
            # Nothing is closed on a guess: the next heartbeat tries again.
            log.warning("session check: the database is unavailable; retrying next heartbeat", exc_info=True)
            return
        for socket in sockets:
            found = self.sockets.get(socket)
            if found is not None and found[0] in ended:
                await self.end(socket)

    async def end(self, socket: SignedInSocket) -> None:
        self.remove(socket)
        try:
            await socket.end_session()
        except Exception:  # one socket failing to close must not keep the others open
            log.exception("could not close a socket whose session ended")


def watch(socket: SignedInSocket, scope: dict) -> bool:
    """Watch the session that signed in the socket of `scope`, if any; whether it is signed in."""
    user, session = scope.get("user"), scope.get("session")
    session_key = getattr(session, "session_key", None) if session is not None else None
    if user is None or not user.is_authenticated or not session_key:
        return False
    SignedIn.current().add(socket, session_key, str(user.pk))
    return True


def unwatch(socket: SignedInSocket) -> None:
    SignedIn.current().remove(socket)

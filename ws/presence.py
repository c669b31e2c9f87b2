"""This worker process's part of presence (shared/presence.py holds the rules).

- Connections: every signed-in socket, on any endpoint, counts. `open()` and `close()` only
  note the change in memory; one writer task writes them to Redis in the order they happened
  (so a heartbeat can never re-add a connection that closed before it), and a socket never
  waits for Redis, which may be down.
- Watchers: this process's /ws/presence/ sockets. They share one subscriber of the `presence`
  topic; each gets the whole list on arrival, then every `status` event.
- Periodic jobs (ws/jobs.py): the sweep (every PRESENCE_SWEEP_SECONDS) announces who went
  offline; the heartbeat (LIVE_HEARTBEAT_SECONDS) keeps this worker's connections alive in
  Redis, rebuilds them after a Redis restart, and resends the list to the watchers if it
  shows a change they missed (an event lost to a Redis outage).
"""

import asyncio
import json
import logging
import uuid

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError

from shared.presence import PresenceStore, registered_usernames
from shared.protocol import UserStatus, presence_frame, status_frame
from shared.redis import REDIS_DOWN, async_redis
from ws.hub import Hub, Socket, send_or_drop
from ws.jobs import FLUSH_POLL_SECONDS, Jobs, Outage
from ws.worker import Worker

log = logging.getLogger(__name__)

TOPIC = "presence"
# After a failed write or read (Redis or the database down), wait this long before trying again.
RETRY_SECONDS = 1.0
# Closed connections waiting for Redis to come back, at most; any beyond expire by themselves.
MAX_PENDING_CLOSES = 10_000


class Presence:
    def __init__(self, hub: Hub, jobs: Jobs, store: PresenceStore):
        self.hub = hub
        self.store = store
        outage = jobs.outage("presence writes", f"retrying every {RETRY_SECONDS} s")
        self.connections = Connections(store, self.announce, outage)
        self.watchers = Watchers(hub, jobs, store)
        jobs.spawn(self.connections.write_forever())
        jobs.every(settings.PRESENCE_SWEEP_SECONDS, "presence sweep", self.sweep)
        jobs.every(settings.LIVE_HEARTBEAT_SECONDS, "presence heartbeat", self.heartbeat)

    @classmethod
    def current(cls) -> "Presence":
        """This worker process's presence."""
        return Worker.current().service(cls, cls._make)

    @classmethod
    def _make(cls, worker: Worker) -> "Presence":
        store = PresenceStore(async_redis(), ttl=settings.LIVE_TTL_SECONDS, grace=settings.PRESENCE_GRACE_SECONDS)
        return cls(worker.hub, worker.jobs, store)

    async def announce(self, changes: list[UserStatus]) -> None:
        for status in changes:
            await self.hub.publish(TOPIC, status_frame(status))

    async def sweep(self) -> None:
        await self.announce(await self.store.sweep())

    async def flush(self) -> None:
        """Every open and close noted so far written (Worker.flush): a stopping worker's closed
        sockets go offline after the grace, not when their TTL runs out."""
        await self.connections.flush()

    async def heartbeat(self) -> None:
        self.connections.refresh()
        await self.watchers.catch_up()


def track(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """Count an open socket of `user` (a scope's user) as presence; returns its connection id."""
    if user is None or not user.is_authenticated:
        return None
    return Presence.current().connections.open(user.get_username())


def untrack(connection: str | None) -> None:
    """The socket `track` counted has closed (never waits: the writer task does the rest)."""
    if connection is not None:
        Presence.current().connections.close(connection)


class Connections:
    """This process's signed-in sockets, written to the store by one task, in order."""

    def __init__(self, store: PresenceStore, announce, outage: Outage):
        self.store = store
        self.announce = announce
        self.outage = outage
        self.open_ones: dict[str, str] = {}  # connection id -> username
        self._unwritten: set[str] = set()  # opened, and no write has been tried yet
        self._closed: dict[str, str] = {}  # closed, and maybe written: to remove
        self._refresh_all = False
        self._wake = asyncio.Event()
        self._writing = False

    def open(self, username: str) -> str:
        connection = uuid.uuid4().hex
        self.open_ones[connection] = username
        self._unwritten.add(connection)
        self._wake.set()
        return connection

    def close(self, connection: str) -> None:
        username = self.open_ones.pop(connection, None)
        if username is None:
            return
        if connection in self._unwritten:
            self._unwritten.discard(connection)  # Redis never heard of it: nothing to undo
        elif len(self._closed) < MAX_PENDING_CLOSES:
            self._closed[connection] = username
            self._wake.set()

    def refresh(self) -> None:
        """Keep every open connection alive for another TTL (or write it again after a restart)."""
        self._refresh_all = True
        self._wake.set()

    async def write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._writing = True
                await self._write()
            except REDIS_DOWN as error:
                self.outage.failed(error)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
            except Exception:
                log.exception("presence writes failed")
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
            finally:
                self._writing = False

    async def flush(self) -> None:
        """Return once nothing noted is left to write and no write is under way."""
        while self._closed or self._unwritten or self._refresh_all or self._writing:  # noqa: ASYNC110 - the writer clears them
            await asyncio.sleep(FLUSH_POLL_SECONDS)

    async def _write(self) -> None:
        closed, self._closed = self._closed, {}
        opened = dict(self.open_ones) if self._refresh_all else {c: self.open_ones[c] for c in self._unwritten}
        self._unwritten, self._refresh_all = set(), False
        try:
            if closed:
                await self.store.leave((username, c) for c, username in closed.items())
            changes = await self.store.join((username, c) for c, username in opened.items()) if opened else []
        except BaseException:
            self._closed.update(closed)
            self._refresh_all = True  # whatever was unwritten is rewritten with everything else
            raise
        self.outage.recovered()
        await self.announce(changes)


class Watchers:
    """This process's /ws/presence/ sockets: the hub's subscriber of the `presence` topic."""

    def __init__(self, hub: Hub, jobs: Jobs, store: PresenceStore):
        self.hub = hub
        self.jobs = jobs
        self.store = store
        self.sockets: set[Socket] = set()
        self._greetings: dict[Socket, asyncio.Task] = {}
        # The newest version every watcher here has been sent, per user: the heartbeat
        # compares it with the store to find events they missed.
        self._sent: dict[str, int] = {}

    async def watch(self, socket: Socket) -> None:
        """Send `socket` every status event from now on, and the whole list once it is read."""
        self.sockets.add(socket)
        # Subscribed before the list is read, so no change can fall between the two; an event
        # that overtakes the list is harmless, clients keep the newest version of each user.
        await self.hub.subscribe(TOPIC, self)
        self._greetings[socket] = self.jobs.spawn(self._greet(socket))

    def unwatch(self, socket: Socket) -> None:
        self.sockets.discard(socket)
        greeting = self._greetings.pop(socket, None)
        if greeting is not None:
            greeting.cancel()
        if not self.sockets:
            self.hub.unsubscribe(TOPIC, self)
            self._sent.clear()

    async def deliver(self, frame: str) -> None:
        """A `status` frame published by any worker."""
        self._remember([json.loads(frame)])
        await self._send_all(frame)

    async def catch_up(self) -> None:
        """Resend the whole list if it has a change the watchers here were not sent."""
        if not self.sockets:
            return
        users = await self.everyone()
        if any(user["version"] > self._sent.get(user["username"], 0) for user in users):
            self._remember(users)
            await self._send_all(presence_frame(users))

    def _remember(self, users: list[UserStatus]) -> None:
        for user in users:
            self._sent[user["username"]] = max(user["version"], self._sent.get(user["username"], 0))

    async def everyone(self) -> list[UserStatus]:
        """Every registered user's status, by username."""
        usernames = await database_sync_to_async(registered_usernames)()
        return await self.store.statuses(usernames)

    async def _greet(self, socket: Socket) -> None:
        while True:
            try:
                users = await self.everyone()
            except (*REDIS_DOWN, DatabaseError):
                await asyncio.sleep(RETRY_SECONDS)  # the page shows what it was rendered with
                continue
            if self.sockets == {socket}:
                # The only watcher here: once it has the list, so has every watcher here, and
                # the next catch-up need not resend it.
                self._remember(users)
            await send_or_drop(socket, presence_frame(users))
            self._greetings.pop(socket, None)
            return

    async def _send_all(self, frame: str) -> None:
        for socket in tuple(self.sockets):
            await send_or_drop(socket, frame)

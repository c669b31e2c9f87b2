"""This worker process's part of the public board (shared/board.py holds the rules).

Joins, renames and leaves are broadcast to every worker's board sockets at most once per
ANNOUNCE_SECONDS: a lone one at once, those of a storm coalesced (shared/ratelimit.py Throttle).

Periodic jobs (ws/jobs.py):
- tick (every 0.25 s): write the rows changed by delay reports and renames;
- snapshot (every 0.5 s): read the board's first 200 rows and its summary once, for every
  answer this worker sends until the next one;
- heartbeat (LIVE_HEARTBEAT_SECONDS): keep this worker's clients alive in Redis (rebuilding
  them after a Redis restart) and sweep clients whose worker died;
- name check (LIVE_HEARTBEAT_SECONDS): a guest whose name an account took since it was chosen
  (somebody signed up under it) is renamed to a fresh guest name.
A failed job (Redis down) keeps its pending work and tries again next time.
"""

import asyncio
import logging
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from shared.board import EMPTY_SNAPSHOT, BoardEvents, BoardStore, ClientDelays, new_client_id, now_ms
from shared.identity import account_names_among, guest_name
from shared.metrics import observe_round_trip
from shared.ratelimit import Throttle
from shared.redis import REDIS_DOWN, async_redis, attempt
from ws.hub import Hub, Socket
from ws.jobs import Jobs
from ws.worker import Worker

log = logging.getLogger(__name__)

TOPIC = "board"
# Joins and leaves must show within 1 s: at most this wait plus one fan-out. A storm of joins
# then costs each viewer at most 4 frames a second, whatever its size.
ANNOUNCE_SECONDS = 0.25
TICK_SECONDS = 0.25
# A join waits at most this long for each of its two Redis steps (1 s in all): a client joins
# even while Redis is down or hung (pings still work, and the heartbeat puts it on the board
# once Redis is back).
JOIN_WAIT_SECONDS = 0.5
# Answers carry a board at most this old; reports arrive once a second, so nobody sees a lag.
SNAPSHOT_SECONDS = 0.5
# Clients saved per Redis transaction: the Python work of one transaction holds the event loop
# (~0.5 ms for 50 clients, mostly redis-py packing the commands), so a tick or a heartbeat of
# thousands of clients is written in slices, and a pong waits for one slice at most.
SAVE_SLICE = 50


class HeldFrames:
    """A subscriber that keeps what it is sent, for a socket not welcomed yet."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def deliver(self, frame: str) -> None:
        self.frames.append(frame)


@dataclass(eq=False)
class BoardClient:
    socket: Socket
    delays: ClientDelays


class Board:
    def __init__(self, hub: Hub, jobs: Jobs, store: BoardStore):
        self.hub = hub
        self.store = store
        self.clients: dict[str, BoardClient] = {}
        self.events = BoardEvents()
        self._announcing = Throttle(ANNOUNCE_SECONDS)
        self._announcement_due = False
        self.jobs = jobs
        self.changed: set[str] = set()
        self.snapshot = EMPTY_SNAPSHOT
        self._read_lock = asyncio.Lock()
        self._reads_started = 0
        # Writes of this worker's rows go one at a time: a heartbeat saving a row while its
        # client leaves could otherwise put the row back after its removal.
        self._write_lock = asyncio.Lock()
        # Rows being taken off in the background (joins cut short): Board.flush waits for them.
        self._taking_off: set[asyncio.Task] = set()
        jobs.every(TICK_SECONDS, "board tick", self.tick)
        jobs.every(SNAPSHOT_SECONDS, "board snapshot", self.refresh_snapshot)
        jobs.every(settings.LIVE_HEARTBEAT_SECONDS, "board heartbeat", self.heartbeat)
        jobs.every(settings.LIVE_HEARTBEAT_SECONDS, "board name check", self.check_guest_names)

    @classmethod
    def current(cls) -> "Board":
        """This worker process's board."""
        return Worker.current().service(
            cls, lambda worker: cls(worker.hub, worker.jobs, BoardStore(async_redis(), settings.LIVE_TTL_SECONDS))
        )

    # ------------------------------------------------------------ what a consumer calls

    async def join(self, socket: Socket, name: str, *, guest: bool = True) -> BoardClient:
        """Put a client on the board and send it the welcome; others hear of it once its row is
        written (or JOIN_WAIT_SECONDS have passed), as soon as the throttle allows."""
        client = BoardClient(socket, ClientDelays(id=new_client_id(), name=name, connected_at=now_ms(), guest=guest))
        self.clients[client.delays.id] = client
        announced = False
        try:
            await attempt(self._save([client]), JOIN_WAIT_SECONDS)
            # Announced once its row is written (or the wait is over): a client joining meanwhile
            # that subscribed after the announcement reads the board after it, and finds the row.
            self.events.join(client.delays.arrival())
            self._announce_soon()
            announced = True
            # Subscribed before the board is read, so no broadcast falls between the read and
            # the subscription (on a worker that had no board socket, subscribing joins the
            # topic's group: a join announced elsewhere meanwhile would reach neither). What
            # comes before the welcome is held and follows it; ids dedupe a join it shows.
            held = HeldFrames()
            await self.hub.subscribe(TOPIC, held)
            try:
                await attempt(self.refresh_snapshot(), JOIN_WAIT_SECONDS)
                await socket.send(text_data=self.snapshot.welcome_for(client.delays))
                await self.hub.subscribe(TOPIC, socket)  # not the first: returns at once
            finally:
                self.hub.unsubscribe(TOPIC, held)
            for frame in held.frames:
                await socket.deliver(frame)
        except BaseException:
            # Half-joined (the socket went away, or the consumer was cancelled): forget the
            # client, and take off a row that may have been written.
            self._forget_locally(client, announced)
            raise
        return client

    async def leave(self, client: BoardClient) -> None:
        if self._drop_locally(client):  # else already gone
            await self._take_off(client.delays.id)

    def _drop_locally(self, client: BoardClient) -> bool:
        """Off this worker's part of the board (no broadcasts, no row written); whether it was on it."""
        self.hub.unsubscribe(TOPIC, client.socket)
        self.changed.discard(client.delays.id)
        return self.clients.pop(client.delays.id, None) is not None

    def _forget_locally(self, client: BoardClient, announced: bool) -> None:
        self._drop_locally(client)
        if announced:
            self.events.leave(client.delays.id)
            self._announce_soon()
        # Its row may be written (even by a save cut short): off the board now, in the
        # background, not when it expires unrefreshed, with every answer showing it until then.
        task = self.jobs.spawn(self.jobs.guarded("board leave", self._take_off(client.delays.id, announced)))
        self._taking_off.add(task)
        task.add_done_callback(self._taking_off.discard)

    async def _take_off(self, client_id: str, announced: bool = False) -> None:
        """Remove a client's row, and announce its leave unless that was done already: when
        this call removed the row, and when it cannot tell. A Redis error may come after Redis
        applied the removal (a timeout), and then no sweep would ever find the row. A row still
        there expires, and its sweeper announces the leave again: a page drops an id it no
        longer shows (one that reports nothing, on a board past the 200 rows it shows, may count
        one too few: better than a ghost row on every page for good)."""
        try:
            async with self._write_lock:
                removed = await self.store.remove(client_id)
        except REDIS_DOWN:
            removed = True
        if removed and not announced:
            self.events.leave(client_id)
            self._announce_soon()

    def record_delay(
        self, client: BoardClient, delay_ms: float, claimed_ms: float | None = None, warmup: bool = False
    ) -> str:
        """Take a report (the server-observed delay, the client's claim, whether it is a warm-up)
        and return the `delays` answer (no Redis on this path)."""
        client.delays.record(delay_ms, claimed_ms, warmup)
        if not warmup:  # shown, counted nowhere (shared/roundtrip.py)
            observe_round_trip(delay_ms / 1000)
        self.changed.add(client.delays.id)
        return self.snapshot.answer_for(client.delays)

    def rename(self, client: BoardClient, name: str) -> None:
        client.delays.rename(name)
        self.changed.add(client.delays.id)
        self.events.rename(client.delays.id, name)
        self._announce_soon()

    # ------------------------------------------------------------ periodic jobs

    async def check_guest_names(self) -> None:
        """Rename every guest on this worker whose name now reads as an account's (checked at
        connect and rename too; this catches a sign-up while the guest is on the board)."""
        names = {c.delays.id: c.delays.name for c in self.clients.values() if c.delays.guest}
        if not names:
            return
        try:
            taken = await database_sync_to_async(account_names_among)(names.values())
        except DatabaseError as error:
            log.warning("board name check: the database is unavailable (%s); trying again later", error)
            return
        for client_id, name in names.items():
            client = self.clients.get(client_id)
            if name in taken and client is not None and client.delays.name == name:
                # The public consumer keeps a visitor's name in their session, where their chat
                # sockets may have put a replacement already: one visitor, one new name.
                replace = getattr(client.socket, "replacement_name", None)
                replacement = await replace() if replace is not None else guest_name()
                if client.delays.name == name:  # not renamed meanwhile
                    self.rename(client, replacement)

    def _announce_soon(self) -> None:
        """Broadcast the pending events as soon as the throttle allows (module doc)."""
        if self.events and not self._announcement_due:
            self._announcement_due = True
            self.jobs.spawn(self.jobs.guarded("board announcement", self._announce()))

    async def _announce(self) -> None:
        # Publishing never waits on Redis, so every worker's sockets hear of joins, renames and
        # leaves even while a hung Redis holds up the saves (each event carries what it
        # announces; the rows follow in the next snapshots).
        try:
            await asyncio.sleep(self._announcing.wait())
        finally:
            self._announcement_due = False  # events from here on are announced next time
        self._announcing.fire()
        await self.flush()

    async def flush(self) -> None:
        """Publish the pending joins, renames and leaves now (the throttle's turn, or a stopping
        worker's last word: Worker.flush, which also waits for the rows being taken off)."""
        if self._taking_off:
            await asyncio.wait(tuple(self._taking_off))
        events, self.events = self.events, BoardEvents()
        for frame in events.frames():
            await self.hub.publish(TOPIC, frame)

    async def tick(self) -> None:
        # Take the pending rows before the first await: whatever changes meanwhile waits for
        # the next tick instead of being cleared unsent. On failure the rows are put back.
        changed, self.changed = self.changed, set()
        try:
            await self._save([self.clients[i] for i in changed if i in self.clients])
        except BaseException:
            self.changed |= changed
            raise

    async def refresh_snapshot(self) -> None:
        """Make `self.snapshot` a read that began after this call did.

        Callers share reads: whoever waited on the lock while a read it did not see started
        uses that read. A burst of joins costs two reads of the board, not one each.
        """
        if not self.clients:
            return  # nobody on this worker to answer: an idle worker reads nothing
        asked_at = self._reads_started
        async with self._read_lock:
            if self._reads_started > asked_at:
                return  # a read began after we asked, and has finished: it is fresh enough
            self._reads_started += 1
            self.snapshot = await self.store.snapshot()

    async def heartbeat(self) -> None:
        await self._save(list(self.clients.values()))
        for client_id in await self.store.sweep():
            self.events.leave(client_id)
        self._announce_soon()

    async def _save(self, clients: list[BoardClient]) -> None:
        # The lock is taken per slice, so a join or leave waits for one slice, not for all.
        for start in range(0, len(clients), SAVE_SLICE):
            async with self._write_lock:
                # Only clients still here once the lock is ours: one that left meanwhile stays gone.
                here = [c.delays for c in clients[start : start + SAVE_SLICE] if c.delays.id in self.clients]
                await self.store.save(here)

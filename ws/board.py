"""This worker process's part of the public board (shared/board.py holds the rules).

Three periodic jobs, all on the process Runtime:
- tick (every 0.25 s): write the rows changed by delay reports and renames, then broadcast this
  worker's coalesced joins, renames and leaves to every worker's board sockets;
- snapshot (every 0.5 s): read the whole board once and serialize its rows once, for every
  answer this worker sends until the next one;
- heartbeat (LIVE_HEARTBEAT_SECONDS): keep this worker's clients alive in Redis (rebuilding
  them after a Redis restart) and sweep clients whose worker died.
A failed job (Redis down) keeps its pending work and tries again next time.
"""

import asyncio
from dataclasses import dataclass

from django.conf import settings

from shared.board import EMPTY_SNAPSHOT, BoardEvents, BoardStore, ClientDelays, new_client_id, now_ms
from shared.redis import REDIS_DOWN, async_redis
from ws.runtime import Runtime, Socket

TOPIC = "board"
# Joins and leaves must show within 1 s: a tick plus one fan-out leaves ample margin.
TICK_SECONDS = 0.25
# Answers carry a board at most this old; reports arrive once a second, so nobody sees a lag.
SNAPSHOT_SECONDS = 0.5


@dataclass(eq=False)
class BoardClient:
    socket: Socket
    delays: ClientDelays


class Board:
    def __init__(self, runtime: Runtime, store: BoardStore):
        self.runtime = runtime
        self.store = store
        self.clients: dict[str, BoardClient] = {}
        self.events = BoardEvents()
        self.changed: set[str] = set()
        self.snapshot = EMPTY_SNAPSHOT
        self._read_lock = asyncio.Lock()
        self._reads_started = 0
        runtime.every(TICK_SECONDS, "board tick", self.tick)
        runtime.every(SNAPSHOT_SECONDS, "board snapshot", self.refresh_snapshot)
        runtime.every(settings.LIVE_HEARTBEAT_SECONDS, "board heartbeat", self.heartbeat)

    @classmethod
    def current(cls) -> "Board":
        """This worker process's board."""
        return Runtime.current().service(
            cls, lambda runtime: cls(runtime, BoardStore(async_redis(), settings.LIVE_TTL_SECONDS))
        )

    # ------------------------------------------------------------ what a consumer calls

    async def join(self, socket: Socket, name: str) -> BoardClient:
        """Put a client on the board and send it the welcome; others hear of it next tick."""
        client = BoardClient(socket, ClientDelays(id=new_client_id(), name=name, connected_at=now_ms()))
        self.clients[client.delays.id] = client
        self.events.join(client.delays.arrival())
        await self._quietly(self.store.save([client.delays.row()]))
        await self._quietly(self.refresh_snapshot())
        await socket.send(text_data=self.snapshot.welcome_frame(client.delays.row()))
        # Followed after the welcome is sent, so no broadcast can overtake it.
        await self.runtime.follow(TOPIC, socket)
        return client

    async def leave(self, client: BoardClient) -> None:
        client_id = client.delays.id
        self.runtime.unfollow(TOPIC, client.socket)
        self.clients.pop(client_id, None)
        self.changed.discard(client_id)
        try:
            removed = await self.store.remove(client_id)
        except REDIS_DOWN:
            return  # the row expires by itself; whoever sweeps it announces the leave
        if removed:
            self.events.leave(client_id)

    def record_delay(self, client: BoardClient, delay_ms: float) -> str:
        """Take a report and return the `delays` answer (no Redis on this path)."""
        client.delays.record(delay_ms)
        self.changed.add(client.delays.id)
        return self.snapshot.delays_frame(client.delays.row())

    def rename(self, client: BoardClient, name: str) -> None:
        client.delays.name = name
        self.changed.add(client.delays.id)
        self.events.rename(client.delays.id, name)

    # ------------------------------------------------------------ periodic jobs

    async def tick(self) -> None:
        if self.changed:
            changed = [self.clients[i].delays.row() for i in self.changed if i in self.clients]
            await self.store.update(changed)
            self.changed.clear()
        if self.events:
            for frame in self.events.frames():
                await self.runtime.publish(TOPIC, frame)
            self.events = BoardEvents()

    async def refresh_snapshot(self) -> None:
        """Make `self.snapshot` a read that began after this call did.

        Callers share reads: whoever waited on the lock while a read it did not see started
        uses that read. A burst of joins costs two reads of the board, not one each.
        """
        asked_at = self._reads_started
        async with self._read_lock:
            if self._reads_started > asked_at:
                return  # a read began after we asked, and has finished: it is fresh enough
            self._reads_started += 1
            self.snapshot = await self.store.snapshot()

    async def heartbeat(self) -> None:
        await self.store.save(client.delays.row() for client in list(self.clients.values()))
        for client_id in await self.store.sweep():
            self.events.leave(client_id)

    async def _quietly(self, work) -> None:
        """Connect-time Redis work: a client joins even while Redis is down (pings still work,
        and the heartbeat puts it on the board once Redis is back)."""
        try:
            await asyncio.wait_for(work, timeout=1.0)
        except (TimeoutError, *REDIS_DOWN):
            pass

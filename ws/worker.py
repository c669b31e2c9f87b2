"""This Daphne worker process: its hub (ws/hub.py), its jobs (ws/jobs.py), and its one instance
of each service (the board, chat rooms, presence, signed-in sockets), made on first use."""

import asyncio
import weakref
from collections.abc import Callable
from typing import ClassVar, TypeVar

from channels.layers import get_channel_layer

from ws.hub import Hub
from ws.jobs import Jobs

Service = TypeVar("Service")


class Worker:
    # One per event loop: a Daphne worker runs one; tests run one per test.
    _by_loop: ClassVar["weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Worker]"] = weakref.WeakKeyDictionary()

    def __init__(self, layer=None):
        self.jobs = Jobs()
        self.hub = Hub(self.jobs, layer or get_channel_layer())
        self._services: dict[type, object] = {}

    @classmethod
    def current(cls) -> "Worker":
        """The worker of the running event loop."""
        loop = asyncio.get_running_loop()
        worker = cls._by_loop.get(loop)
        if worker is None:
            worker = cls._by_loop[loop] = cls()
        return worker

    def service(self, kind: type[Service], make: Callable[["Worker"], Service]) -> Service:
        """This process's one instance of `kind`, made by `make(worker)` on first use."""
        found = self._services.get(kind)
        if found is None:
            found = self._services[kind] = make(self)
        return found

    async def flush(self) -> None:
        """Finish what this process owes the others before it exits (a drain's last step,
        ws/drain.py): each service's pending writes and announcements (its `flush()`, where it
        has one), then every frame they published, handed to the channel layer."""
        for service in tuple(self._services.values()):
            flush = getattr(service, "flush", None)
            if flush is not None:
                await flush()
        await self.hub.flush()

    @classmethod
    async def flush_current(cls) -> None:
        """`flush()` the running loop's worker, if it has one (none served a socket otherwise)."""
        worker = cls._by_loop.get(asyncio.get_running_loop())
        if worker is not None:
            await worker.flush()

    async def stop(self) -> None:
        """Cancel every background task: the hub's and the services' (tests; Daphne simply exits)."""
        await self.jobs.stop()

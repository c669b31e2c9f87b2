"""A worker process's background work: tasks, periodic jobs, and how they live through Redis outages.

Periodic jobs (heartbeats, sweeps, board ticks) run for the life of the process and survive
Redis outages: a failing job is logged once when it starts failing and once when it recovers
(an `Outage`), never for each failure in between; `ping_redis_unavailable` is 1 while any
outage of this process's jobs, publisher or presence writer is under way.
"""

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable

from shared import metrics
from shared.logs import SOCKET_ID
from shared.redis import REDIS_DOWN

log = logging.getLogger(__name__)

# How often a flush (Worker.flush: a stopping worker finishing its background writes) looks again.
FLUSH_POLL_SECONDS = 0.01


class Outage:
    """One kind of Redis work (a job, the publisher) through a Redis outage: a warning when it
    starts failing, saying what goes on meanwhile (`meanwhile`), and one when it works again."""

    def __init__(self, name: str, meanwhile: str, on_change: Callable[[], None]):
        self.name = name
        self.meanwhile = meanwhile
        self.down = False
        self._on_change = on_change

    def failed(self, error: BaseException) -> None:
        if not self.down:
            self.down = True
            self._on_change()
            log.warning("%s: Redis unavailable (%s); %s", self.name, error, self.meanwhile)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            self._on_change()
            log.warning("%s: Redis is back", self.name)


class Jobs:
    """This process's background tasks: held until done, cancelled together by `stop()`."""

    def __init__(self):
        self._tasks: set[asyncio.Task] = set()
        # Held weakly: a job's outage lasts from its failure to its recovery.
        self._outages: weakref.WeakSet[Outage] = weakref.WeakSet()
        self._failing: dict[str, Outage] = {}  # by job name

    def spawn(self, work: Awaitable) -> asyncio.Task:
        """Run `work` in the background, held until done and cancelled by `stop()`."""
        # Not in the socket's context that started it: a periodic job logs under no socket's id.
        context = contextvars.copy_context()
        context.run(SOCKET_ID.set, None)
        task = asyncio.get_running_loop().create_task(work, context=context)
        # The loop keeps only weak references to tasks: hold them so none is collected mid-run.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def every(self, seconds: float, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` every `seconds` for the life of the process."""
        self.spawn(self._repeat(seconds, name, job))

    async def _repeat(self, seconds: float, name: str, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.guarded(name, job())

    async def guarded(self, name: str, work: Awaitable[None]) -> bool:
        """Await `work`; whether it succeeded. A Redis outage (logged once per outage) or a bug
        (logged each time) is never raised."""
        try:
            await work
        except REDIS_DOWN as error:
            if name not in self._failing:
                self._failing[name] = self.outage(name, "retrying quietly until it is back")
            self._failing[name].failed(error)
            return False
        except Exception:
            log.exception("%s failed", name)
            return False
        outage = self._failing.pop(name, None)
        if outage is not None:
            outage.recovered()
        return True

    def outage(self, name: str, meanwhile: str) -> Outage:
        """An Outage that counts in this process's `ping_redis_unavailable`."""
        outage = Outage(name, meanwhile, self._show_redis_state)
        self._outages.add(outage)
        return outage

    def _show_redis_state(self) -> None:
        """ping_redis_unavailable: 1 while a job, the publisher or the presence writer finds Redis down."""
        metrics.REDIS_UNAVAILABLE.set(1 if any(outage.down for outage in self._outages) else 0)

    async def stop(self) -> None:
        """Cancel every task (tests; Daphne simply exits)."""
        # Cancelled again until done: on Python 3.11, asyncio.wait_for (which redis-py wraps
        # around every send) drops a cancellation that races with the send finishing
        # (CPython gh-86296), and a periodic job would then run on for ever.
        while self._tasks:
            for task in tuple(self._tasks):
                task.cancel()
            await asyncio.wait(tuple(self._tasks), timeout=0.1)

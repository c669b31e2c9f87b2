"""The per-process runtime of a Daphne worker: cross-process fan-out and periodic jobs.

An event crosses Redis once per worker process, not once per socket: each process has one
channel-layer channel, joins a group per topic that any of its sockets follows, and sends
the same bytes to each local follower. A broadcast to N sockets on W workers costs W layer
deliveries and N local writes of one pre-serialized frame.

Publishing never waits on Redis: the publishing process's own followers get a frame at once,
and a background sender hands it to the channel layer for the other processes through a
bounded queue (oldest dropped first when Redis is gone for long: every topic heals by itself,
chat from the database and presence and the board every heartbeat). Each frame carries its
process's origin id, and a process skips its own frames when the layer brings them back, so
no socket gets one twice.

Periodic jobs (heartbeats, sweeps, board ticks) run here too and survive Redis outages: a
failing job is logged once when it starts failing and once when it recovers.
"""

import asyncio
import logging
import uuid
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import ClassVar, Protocol, TypeVar

import redis
from channels.layers import get_channel_layer
from django.conf import settings

from shared.redis import REDIS_DOWN

log = logging.getLogger(__name__)

# After a failed layer receive (Redis down), wait this long before trying again.
RECEIVE_RETRY_SECONDS = 0.5
# A socket's first follow of a topic waits this long at most for the group join: enough for a
# healthy Redis, short enough that an outage does not hold up the handshake (the join goes on).
JOIN_WAIT_SECONDS = 0.5
# Frames waiting for the channel layer, at most (minutes of a worker's usual broadcasts);
# past this, the oldest are dropped: each topic heals by itself (module doc).
PUBLISH_QUEUE_FRAMES = 1000
# After the layer refused a frame (Redis unreachable), try the same frame again after this.
PUBLISH_RETRY_SECONDS = 0.5


class Socket(Protocol):
    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False): ...


Service = TypeVar("Service")


def group_name(topic: str) -> str:
    """Channels group names are ASCII [a-zA-Z0-9._-] under 100 characters; topics are too."""
    return f"{settings.REDIS_KEY_PREFIX}.{topic}"


class Runtime:
    _by_loop: ClassVar["weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime]"] = weakref.WeakKeyDictionary()

    def __init__(self, layer=None):
        self.layer = layer or get_channel_layer()
        self.channel: str | None = None
        self._followers: dict[str, set[Socket]] = defaultdict(set)
        self._tasks: set[asyncio.Task] = set()
        self._failing: set[str] = set()
        self._started = False
        self._services: dict[type, object] = {}
        # Marks this process's frames, so it skips them when the layer brings them back.
        self.origin = uuid.uuid4().hex
        self._outbox: deque[tuple[str, str]] = deque()
        self._outbox_ready = asyncio.Event()
        self._publish_failing = False
        self._publish_dropping = False

    @classmethod
    def current(cls) -> "Runtime":
        """The runtime of the running event loop (one per Daphne worker process)."""
        loop = asyncio.get_running_loop()
        runtime = cls._by_loop.get(loop)
        if runtime is None:
            runtime = cls._by_loop[loop] = cls()
        return runtime

    def service(self, kind: type[Service], make: Callable[["Runtime"], Service]) -> Service:
        """This process's one instance of `kind` (the board, chat rooms, presence), made on first use."""
        found = self._services.get(kind)
        if found is None:
            found = self._services[kind] = make(self)
        return found

    # ------------------------------------------------------------ fan-out

    async def follow(self, topic: str, socket: Socket) -> None:
        """Deliver every frame published to `topic`, from any process, to this socket.

        Never waits for Redis: while the process channel is not open yet (Redis down), the
        topic is joined as soon as it opens.
        """
        self._start()
        first = not self._followers[topic]
        self._followers[topic].add(socket)
        if first and self.channel is not None:
            join = self.spawn(self._guarded(f"join {topic}", self.layer.group_add(group_name(topic), self.channel)))
            await asyncio.wait({join}, timeout=JOIN_WAIT_SECONDS)

    def unfollow(self, topic: str, socket: Socket) -> None:
        followers = self._followers.get(topic)
        if followers is None:
            return
        followers.discard(socket)
        if not followers:
            del self._followers[topic]
            if self.channel is not None:
                self.spawn(self._guarded(f"leave {topic}", self._leave_if_unfollowed(topic)))

    async def _leave_if_unfollowed(self, topic: str) -> None:
        # A socket may have followed the topic again (a reload onto this worker) before this
        # ran: leaving now would cut the new follower off until the next renewal.
        if not self._followers.get(topic):
            await self.layer.group_discard(group_name(topic), self.channel)

    def followers(self, topic: str) -> frozenset[Socket]:
        """This process's sockets that follow `topic`."""
        return frozenset(self._followers.get(topic, ()))

    async def publish(self, topic: str, text: str) -> None:
        """Send a serialized frame to every follower of `topic` in every process.

        Never waits on Redis and never raises for it: this process's followers get the frame
        now; the other processes get it as soon as Redis takes it (module doc). A frame that
        cannot cross (dropped from a full queue, or timed out in a hung Redis) is lost to the
        other processes only; each topic's own catch-up repairs that.
        """
        self._start()
        if len(self._outbox) >= PUBLISH_QUEUE_FRAMES:
            self._outbox.popleft()
            if not self._publish_dropping:
                self._publish_dropping = True
                log.warning("publish: %d frames wait for Redis; dropping the oldest", PUBLISH_QUEUE_FRAMES)
        self._outbox.append((topic, text))
        self._outbox_ready.set()
        await self.send_local(topic, text)

    async def _send_forever(self) -> None:
        """Hand queued frames to the channel layer, in order, one at a time."""
        while True:
            while not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            entry = self._outbox[0]
            topic, text = entry
            message = {"type": "runtime.frame", "topic": topic, "text": text, "origin": self.origin}
            try:
                await self.layer.group_send(group_name(topic), message)
            except (redis.TimeoutError, TimeoutError) as error:
                # Redis hangs: the frame may still reach it, so it is not sent twice.
                self._note_publish_failure(error)
            except REDIS_DOWN as error:
                # Refused: it never got there. Keep it first in line and try again.
                self._note_publish_failure(error)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)
                continue
            except Exception:
                log.exception("publish: the channel layer refused a frame for %s; dropped", topic)
            else:
                if self._publish_failing or self._publish_dropping:
                    log.warning("publish: Redis is back")
                self._publish_failing = self._publish_dropping = False
            if self._outbox and self._outbox[0] is entry:  # unless a full queue dropped it meanwhile
                self._outbox.popleft()

    def _note_publish_failure(self, error: Exception) -> None:
        if not self._publish_failing:
            self._publish_failing = True
            log.warning("publish: Redis unavailable (%s); this worker's sockets are served, others wait", error)

    async def send_local(self, topic: str, text: str) -> None:
        """Write one frame to each of this process's followers of `topic`."""
        for socket in tuple(self._followers.get(topic, ())):
            try:
                await socket.send(text_data=text)
            except Exception:  # a socket closing mid-send must not stop the others
                log.debug("dropped a frame for a closing socket", exc_info=True)

    # ------------------------------------------------------------ periodic jobs

    def every(self, seconds: float, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` every `seconds` for the life of the process."""
        self.spawn(self._repeat(seconds, name, job))

    async def _repeat(self, seconds: float, name: str, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._guarded(name, job())

    async def _guarded(self, name: str, work: Awaitable[None]) -> bool:
        """Await `work`; a Redis outage or a bug is logged (once per outage), never raised."""
        try:
            await work
        except REDIS_DOWN as error:
            if name not in self._failing:
                self._failing.add(name)
                log.warning("%s: Redis unavailable (%s); retrying quietly until it is back", name, error)
            return False
        except Exception:
            log.exception("%s failed", name)
            return False
        if name in self._failing:
            self._failing.discard(name)
            log.warning("%s: Redis is back", name)
        return True

    # ------------------------------------------------------------ the process channel

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self.spawn(self._run())
            self.spawn(self._send_forever())

    async def _run(self) -> None:
        while not await self._guarded("open the process channel", self._open_channel()):  # noqa: ASYNC110 - retry loop
            await asyncio.sleep(RECEIVE_RETRY_SECONDS)
        await self._guarded("join groups", self._rejoin_groups())
        # Group membership lives in Redis with an expiry: renewing it every heartbeat keeps
        # it, restores it after a Redis restart, and lets a dead worker's membership lapse.
        self.every(settings.LIVE_HEARTBEAT_SECONDS, "renew group membership", self._rejoin_groups)
        await self._receive_forever()

    async def _open_channel(self) -> None:
        self.channel = await self.layer.new_channel()

    async def _rejoin_groups(self) -> None:
        for topic in tuple(self._followers):
            await self.layer.group_add(group_name(topic), self.channel)

    async def _receive_forever(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except REDIS_DOWN:
                await asyncio.sleep(RECEIVE_RETRY_SECONDS)
                continue
            except Exception:  # e.g. READONLY after a failover: this loop must outlive it
                log.exception("receiving from the channel layer failed; retrying")
                await asyncio.sleep(RECEIVE_RETRY_SECONDS)
                continue
            if message.get("origin") != self.origin:  # its own frames went out at publish
                await self.send_local(message["topic"], message["text"])

    def spawn(self, work: Awaitable) -> asyncio.Task:
        """Run `work` in the background, held until done and cancelled by `stop()`."""
        task = asyncio.get_running_loop().create_task(work)
        # The loop keeps only weak references to tasks: hold them so none is collected mid-run.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        """Cancel every task (tests; Daphne simply exits)."""
        # Cancelled again until done: on Python 3.11, asyncio.wait_for (which redis-py wraps
        # around every send) drops a cancellation that races with the send finishing
        # (CPython gh-86296), and a periodic job would then run on for ever.
        while self._tasks:
            for task in tuple(self._tasks):
                task.cancel()
            await asyncio.wait(tuple(self._tasks), timeout=0.1)

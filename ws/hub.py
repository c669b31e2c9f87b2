"""The per-process hub of a Daphne worker: publish/subscribe by topic, across worker processes.

An event crosses Redis once per worker process, not once per socket: each process has one
channel-layer channel, joins a group per topic that any of its subscribers subscribes to, and
delivers the same bytes to each local subscriber. A broadcast to N sockets on W workers costs
W layer deliveries and N local writes of one pre-serialized frame.

Publishing never waits on Redis: the publishing process's own subscribers get a frame at once,
and a background sender hands it to the channel layer for the other processes through a
bounded queue (oldest dropped first when Redis is gone for long: every topic heals by itself,
chat from the database and presence and the board every heartbeat). Each frame carries its
process's origin id, and a process skips its own frames when the layer brings them back, so
no subscriber gets one twice.

Subscribers are sockets (the board's) and the services that deliver to their own sockets
(a chat room, presence watchers, signed-in sockets): one subscriber per topic for those.
"""

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from typing import Protocol

import redis
from django.conf import settings

from shared import metrics
from shared.redis import REDIS_DOWN
from ws.jobs import FLUSH_POLL_SECONDS, Jobs

log = logging.getLogger(__name__)

# After a failed layer receive (Redis down), wait this long before trying again.
RECEIVE_RETRY_SECONDS = 0.5
# A topic's first subscribe waits this long at most for the group join: enough for a healthy
# Redis, short enough that an outage does not hold up a handshake (the join goes on).
JOIN_WAIT_SECONDS = 0.5
# Frames waiting for the channel layer, at most (minutes of a worker's usual broadcasts);
# past this, the oldest are dropped: each topic heals by itself (module doc).
PUBLISH_QUEUE_FRAMES = 1000
# After the layer refused a frame (Redis unreachable), try the same frame again after this.
PUBLISH_RETRY_SECONDS = 0.5
# The one job name of every change to this process's group membership (a topic's join or leave,
# the renewal of them all): an outage that began with any of them ends when any succeeds, as the
# renewal does every heartbeat once Redis is back (per-topic names would each stay failed until
# that topic's next join or leave, and keep ping_redis_unavailable at 1).
MEMBERSHIP_JOB = "group membership"
# The channel-layer message type of a frame between processes (receivers read only its
# topic, text and origin; shared/sessions.py sends the same shape from Django).
FRAME_TYPE = "hub.frame"


class Subscriber(Protocol):
    async def deliver(self, frame: str) -> None:
        """A frame published to a topic this subscribes to, by any process (serialized JSON)."""


class Socket(Subscriber, Protocol):
    """A WebSocket consumer: a subscriber, and written to directly (a welcome, a history)."""

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False): ...


async def send_or_drop(socket: Socket, frame: str) -> None:
    """Write `frame` to a socket that may be closing: if it is, the frame is dropped, quietly."""
    try:
        await socket.send(text_data=frame)
    except Exception:  # a socket closing mid-send must not stop a delivery to the others
        log.debug("dropped a frame for a closing socket", exc_info=True)


def group_name(topic: str) -> str:
    """Channels group names are ASCII [a-zA-Z0-9._-] under 100 characters; topics are too."""
    return f"{settings.REDIS_KEY_PREFIX}.{topic}"


class Hub:
    """This process's subscribers by topic, and its one channel to the other processes.

    `jobs` runs its background work (the receiver, the sender, group joins and renewals);
    `layer` is the channel layer (Redis) between processes.
    """

    def __init__(self, jobs: Jobs, layer):
        self.jobs = jobs
        self.layer = layer
        self.channel: str | None = None
        self._subscribers: dict[str, set[Subscriber]] = defaultdict(set)
        # Set once this process's channel is in the topic's group (`joined`).
        self._joined: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._started = False
        # Marks this process's frames, so it skips them when the layer brings them back.
        self.origin = uuid.uuid4().hex
        self._outbox: deque[tuple[str, str]] = deque()
        self._outbox_ready = asyncio.Event()
        self._publish_outage = jobs.outage("publish", "this worker's sockets are served, others wait")
        self._dropping = False

    # ------------------------------------------------------------ subscribers

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        """Deliver every frame published to `topic`, from any process, to `subscriber`.

        Waits JOIN_WAIT_SECONDS at most for the process to join the topic's group, and never
        for Redis itself: while the process channel is not open yet (Redis down), the topic
        is joined as soon as it opens.
        """
        self._start()
        first = not self._subscribers[topic]
        self._subscribers[topic].add(subscriber)
        if first and self.channel is not None:
            join = self.jobs.spawn(self.jobs.guarded(MEMBERSHIP_JOB, self._join(topic)))
            await asyncio.wait({join}, timeout=JOIN_WAIT_SECONDS)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._subscribers[topic]
            if self.channel is not None:
                self.jobs.spawn(self.jobs.guarded(MEMBERSHIP_JOB, self._leave_if_unsubscribed(topic)))

    def subscribers(self, topic: str) -> frozenset[Subscriber]:
        """This process's subscribers of `topic`."""
        return frozenset(self._subscribers.get(topic, ()))

    async def joined(self, topic: str) -> None:
        """Return once this process's channel is in `topic`'s group: from then on it gets the
        frames other processes publish to `topic` (subscribe first)."""
        await self._joined[topic].wait()

    # ------------------------------------------------------------ publishing

    async def publish(self, topic: str, frame: str) -> None:
        """Send a serialized frame to every subscriber of `topic` in every process.

        Never waits on Redis and never raises for it: this process's subscribers get the frame
        now; the other processes get it as soon as Redis takes it (module doc). A frame that
        cannot cross (dropped from a full queue, or timed out in a hung Redis) is lost to the
        other processes only; each topic's own catch-up repairs that.
        """
        self._start()
        if len(self._outbox) >= PUBLISH_QUEUE_FRAMES:
            dropped, _ = self._outbox.popleft()
            metrics.PUBLISH_DROPPED.labels(metrics.topic_kind(dropped)).inc()
            if not self._dropping:
                self._dropping = True
                log.warning("publish: %d frames wait for Redis; dropping the oldest", PUBLISH_QUEUE_FRAMES)
        self._outbox.append((topic, frame))
        self._outbox_ready.set()
        await self.deliver_local(topic, frame)

    async def flush(self) -> None:
        """Return once every frame published so far has been handed to the channel layer (or
        dropped from a full queue): a stopping worker's last frames reach the others."""
        while self._outbox:  # noqa: ASYNC110 - the sender empties it; nothing to wait on
            await asyncio.sleep(FLUSH_POLL_SECONDS)

    async def deliver_local(self, topic: str, frame: str) -> None:
        """Deliver one frame to each of this process's subscribers of `topic` (no other process)."""
        with metrics.FANOUT_SECONDS.labels(metrics.topic_kind(topic)).time():
            for subscriber in tuple(self._subscribers.get(topic, ())):
                try:
                    await subscriber.deliver(frame)
                except Exception:  # one subscriber's failure must not stop the others
                    log.exception("a subscriber of %s failed to take a frame", topic)

    async def _send_forever(self) -> None:
        """Hand queued frames to the channel layer, in order, one at a time."""
        while True:
            while not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            entry = self._outbox[0]
            topic, frame = entry
            message = {"type": FRAME_TYPE, "topic": topic, "text": frame, "origin": self.origin}
            kind = metrics.topic_kind(topic)
            started = time.perf_counter()
            try:
                await self.layer.group_send(group_name(topic), message)
            except (redis.TimeoutError, TimeoutError) as error:
                # Redis hangs: the frame may still reach it, so it is not sent twice.
                metrics.PUBLISH_FAILURES.labels(kind).inc()
                self._publish_outage.failed(error)
            except REDIS_DOWN as error:
                # Refused: it never got there. Keep it first in line and try again.
                metrics.PUBLISH_FAILURES.labels(kind).inc()
                self._publish_outage.failed(error)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)
                continue
            except Exception:
                metrics.PUBLISH_FAILURES.labels(kind).inc()
                log.exception("publish: the channel layer refused a frame for %s; dropped", topic)
            else:
                metrics.PUBLISH_SECONDS.labels(kind).observe(time.perf_counter() - started)
                self._publish_outage.recovered()
                self._dropping = False
            if self._outbox and self._outbox[0] is entry:  # unless a full queue dropped it meanwhile
                self._outbox.popleft()

    # ------------------------------------------------------------ the process channel

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self.jobs.spawn(self._run())
            self.jobs.spawn(self._send_forever())

    async def _run(self) -> None:
        guarded = self.jobs.guarded
        while not await guarded("open the process channel", self._open_channel()):  # noqa: ASYNC110 - retry loop
            await asyncio.sleep(RECEIVE_RETRY_SECONDS)
        await guarded(MEMBERSHIP_JOB, self._rejoin_groups())
        # Group membership lives in Redis with an expiry: renewing it every heartbeat keeps
        # it, restores it after a Redis restart, and lets a dead worker's membership lapse.
        self.jobs.every(settings.LIVE_HEARTBEAT_SECONDS, MEMBERSHIP_JOB, self._rejoin_groups)
        await self._receive_forever()

    async def _open_channel(self) -> None:
        self.channel = await self.layer.new_channel()

    async def _join(self, topic: str) -> None:
        await self.layer.group_add(group_name(topic), self.channel)
        self._joined[topic].set()

    async def _rejoin_groups(self) -> None:
        topics = tuple(self._subscribers)
        for topic in topics:
            await self._join(topic)
        if topics and not self._outbox:
            # The layer answers again. A publish that timed out was dropped, not retried, so on
            # a quiet worker no later publish would say the publisher's outage is over.
            self._publish_outage.recovered()

    async def _leave_if_unsubscribed(self, topic: str) -> None:
        # A subscriber may have subscribed again (a reload onto this worker) before this ran:
        # leaving now would cut the new subscriber off until the next renewal.
        if not self._subscribers.get(topic):
            self._joined.pop(topic, None)
            await self.layer.group_discard(group_name(topic), self.channel)

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
                await self.deliver_local(message["topic"], message["text"])

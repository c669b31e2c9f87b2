"""The per-process hub against a real redis-server: two workers' hubs stand for two workers."""

import asyncio
import os
import signal
import time

import pytest
from django.utils.module_loading import import_string

from shared.layers import channel_layer_settings
from tests.helpers import until
from ws import hub as hub_module
from ws.jobs import Jobs
from ws.worker import Worker


class FakeSocket:
    """Stands in for a consumer: records what the hub delivers to it."""

    def __init__(self):
        self.frames: list[str] = []

    async def deliver(self, frame):
        self.frames.append(frame)


def layer_for(url: str, kind: str):
    """A channel layer configured like the app's, on the tests' own Redis."""
    config = channel_layer_settings(kind, url, "test")
    return import_string(config["BACKEND"])(**config["CONFIG"])


@pytest.fixture(params=["redis", "pubsub"])
async def two_workers(request, redis_server):
    """The hubs of two workers on one Redis."""
    workers = [Worker(layer_for(redis_server.url, request.param)) for _ in range(2)]
    yield [worker.hub for worker in workers]
    for worker in workers:
        await worker.stop()
    await workers[0].hub.layer.flush()


async def test_a_frame_published_in_one_worker_reaches_subscribers_in_both(two_workers):
    """Every subscriber of the topic gets the same text exactly once, whichever worker it is on."""
    first, second = two_workers
    here, there, elsewhere = FakeSocket(), FakeSocket(), FakeSocket()
    await first.subscribe("board", here)
    await second.subscribe("board", there)
    await second.subscribe("chat.lobby", elsewhere)
    await first.joined("board")
    await second.joined("board")
    await first.publish("board", '{"type":"connect"}')
    await until(lambda: here.frames and there.frames)
    await asyncio.sleep(0.2)  # room for a duplicate
    assert here.frames == there.frames == ['{"type":"connect"}']
    assert elsewhere.frames == []


async def test_a_socket_that_unsubscribes_gets_nothing_more(two_workers):
    """After unsubscribe, publishes skip the socket; the worker leaves the group when nobody subscribes."""
    first, second = two_workers
    gone, staying = FakeSocket(), FakeSocket()
    await first.subscribe("board", gone)
    await second.subscribe("board", staying)
    await first.joined("board")
    await second.joined("board")
    first.unsubscribe("board", gone)
    await second.publish("board", "after")
    await until(lambda: staying.frames)
    await asyncio.sleep(0.2)  # room for a late frame
    assert gone.frames == []
    assert first.subscribers("board") == frozenset()


@pytest.mark.parametrize("error", [ConnectionError("redis is down"), ValueError("a bug")], ids=["outage", "bug"])
async def test_a_failing_job_is_retried_and_does_not_stop_the_worker(redis_server, error):
    """A job that raises, from an outage or a bug, keeps being called every period."""
    worker = Worker(layer_for(redis_server.url, "redis"))
    calls = []

    async def flaky():
        calls.append(1)
        raise error

    worker.jobs.every(0.05, "flaky", flaky)
    await until(lambda: len(calls) >= 3)
    await worker.stop()


# ---------------------------------------------------------------- publishing past a hung Redis


async def test_a_hung_redis_delays_no_local_subscriber_and_no_frame_arrives_twice(two_workers, redis_server):
    """Redis stopped (SIGSTOP): publish returns at once and the local subscriber has the frame;
    the other worker gets it once Redis answers again; nobody gets it twice."""
    first, second = two_workers
    here, there = FakeSocket(), FakeSocket()
    await first.subscribe("board", here)
    await second.subscribe("board", there)
    await first.joined("board")
    await second.joined("board")
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        await first.publish("board", "one")
        await first.publish("board", "two")
        assert time.monotonic() - started < 0.1
        assert here.frames == ["one", "two"]
        await asyncio.sleep(1.0)
        assert there.frames == []
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    await until(lambda: len(there.frames) == 2)
    await asyncio.sleep(0.3)  # room for a duplicate
    assert here.frames == there.frames == ["one", "two"]


class StuckLayer:
    """A channel layer whose group_send never returns (a hung Redis), counting what it got."""

    def __init__(self):
        self.sent: list[dict] = []

    async def new_channel(self):
        return "stuck!1"

    async def group_add(self, group, channel):
        pass

    async def receive(self, channel):
        await asyncio.Event().wait()

    async def group_send(self, group, message):
        self.sent.append(message)
        await asyncio.Event().wait()


class SlowJoinLayer(StuckLayer):
    """A channel layer whose group joins wait until `admit` is set."""

    def __init__(self):
        super().__init__()
        self.admit = asyncio.Event()

    async def group_add(self, group, channel):
        await self.admit.wait()


async def test_joined_waits_for_the_group_join():
    """`joined` resolves once the process's channel is in the topic's group, not before."""
    layer = SlowJoinLayer()
    worker = Worker(layer)
    try:
        await worker.hub.subscribe("board", FakeSocket())
        joined = asyncio.ensure_future(worker.hub.joined("board"))
        await asyncio.sleep(0.05)
        assert not joined.done()
        layer.admit.set()
        await asyncio.wait_for(joined, timeout=1)
    finally:
        await worker.stop()


async def test_frames_waiting_for_redis_are_bounded_and_the_oldest_go_first(caplog, monkeypatch):
    monkeypatch.setattr(hub_module, "PUBLISH_QUEUE_FRAMES", 10)
    layer = StuckLayer()
    worker = Worker(layer)
    hub = worker.hub
    subscriber = FakeSocket()
    await hub.subscribe("board", subscriber)
    await hub.publish("board", "frame 0")
    await asyncio.sleep(0.05)  # the sender takes it, and hangs
    for n in range(1, 25):
        await hub.publish("board", f"frame {n}")
    await asyncio.sleep(0.05)
    try:
        assert subscriber.frames == [f"frame {n}" for n in range(25)]  # local delivery loses nothing
        assert [m["text"] for m in layer.sent] == ["frame 0"]  # the sender waits on the first
        assert [text for _, text in hub._outbox] == [f"frame {n}" for n in range(15, 25)]
        assert sum("dropping the oldest" in r.message for r in caplog.records) == 1
    finally:
        await worker.stop()


async def test_frames_refused_while_redis_is_down_are_sent_when_it_returns(redis_server, monkeypatch):
    """Connection refused means the frame never left: it is tried again, in order."""
    monkeypatch.setattr(hub_module, "PUBLISH_RETRY_SECONDS", 0.05)
    worker = Worker(layer_for(redis_server.url, "redis"))
    refusals = iter([ConnectionError("refused")] * 3)
    sent = []

    async def group_send(group, message):
        error = next(refusals, None)
        if error is not None:
            raise error
        sent.append(message["text"])

    monkeypatch.setattr(worker.hub.layer, "group_send", group_send)
    try:
        await worker.hub.publish("board", "a")
        await worker.hub.publish("board", "b")
        await until(lambda: len(sent) == 2)
        assert sent == ["a", "b"]
    finally:
        await worker.stop()


async def test_a_jobs_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    jobs = Jobs()

    async def failing():
        raise ConnectionError("redis is down")

    async def working():
        pass

    for work in (failing, failing, failing, working, working):
        await jobs.guarded("heartbeat", work())
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("heartbeat:")]
    assert logged == [
        "heartbeat: Redis unavailable (redis is down); retrying quietly until it is back",
        "heartbeat: Redis is back",
    ]


async def test_a_topic_first_joined_in_an_outage_is_joined_and_the_outage_ends_once_redis_is_back(
    redis_server, settings
):
    """A room's first socket comes while Redis is down: its group join fails (the outage shows in
    ping_redis_unavailable); once Redis is back the renewal joins it, and the outage is over."""
    from prometheus_client import REGISTRY

    settings.LIVE_HEARTBEAT_SECONDS = 0.1
    worker = Worker(layer_for(redis_server.url, "redis"))
    unavailable = lambda: REGISTRY.get_sample_value("ping_redis_unavailable")  # noqa: E731
    try:
        await worker.hub.subscribe("board", FakeSocket())
        await worker.hub.joined("board")
        redis_server.stop()
        await worker.hub.subscribe("chat.lobby", FakeSocket())
        await until(lambda: unavailable() == 1)
        redis_server.start()
        await asyncio.wait_for(worker.hub.joined("chat.lobby"), 10)
        await until(lambda: unavailable() == 0)
    finally:
        await worker.stop()


async def test_a_publish_that_timed_out_on_a_quiet_worker_ends_its_outage_once_redis_answers(
    redis_server, settings, monkeypatch
):
    """A frame timed out in a hung Redis is dropped, not retried; with nothing more to publish,
    the heartbeat's renewal of the groups is what shows the layer answers again."""
    from prometheus_client import REGISTRY

    settings.LIVE_HEARTBEAT_SECONDS = 0.1
    worker = Worker(layer_for(redis_server.url, "redis"))
    unavailable = lambda: REGISTRY.get_sample_value("ping_redis_unavailable")  # noqa: E731

    async def hung(group, message):
        raise TimeoutError("Timeout reading from socket")

    try:
        await worker.hub.subscribe("board", FakeSocket())
        await worker.hub.joined("board")
        monkeypatch.setattr(worker.hub.layer, "group_send", hung)
        await worker.hub.publish("board", "lost")
        await until(lambda: unavailable() == 1)
        await until(lambda: unavailable() == 0)
    finally:
        await worker.stop()

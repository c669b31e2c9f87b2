"""The per-process runtime against a real redis-server: two runtimes stand for two workers."""

import asyncio
import os
import signal
import time

import pytest
from django.utils.module_loading import import_string

from shared.layers import channel_layer_settings
from tests.helpers import until
from ws import runtime as runtime_module
from ws.runtime import Runtime


class FakeSocket:
    """Stands in for a consumer: records what the runtime writes to it."""

    def __init__(self):
        self.frames: list[str] = []

    async def send(self, text_data=None, bytes_data=None, close=False):
        self.frames.append(text_data)


def layer_for(url: str, kind: str):
    """A channel layer configured like the app's, on the tests' own Redis."""
    config = channel_layer_settings(kind, url, "test")
    return import_string(config["BACKEND"])(**config["CONFIG"])


@pytest.fixture(params=["redis", "pubsub"])
async def two_workers(request, redis_server):
    workers = [Runtime(layer_for(redis_server.url, request.param)) for _ in range(2)]
    yield workers
    for worker in workers:
        await worker.stop()
    await workers[0].layer.flush()


async def test_a_frame_published_in_one_worker_reaches_followers_in_both(two_workers):
    """Every follower of the topic gets the same text exactly once, whichever worker it is on."""
    first, second = two_workers
    here, there, elsewhere = FakeSocket(), FakeSocket(), FakeSocket()
    await first.follow("board", here)
    await second.follow("board", there)
    await second.follow("chat.lobby", elsewhere)
    await until(lambda: first.channel and second.channel)
    await asyncio.sleep(0.2)  # both group joins settled
    await first.publish("board", '{"type":"connect"}')
    await until(lambda: here.frames and there.frames)
    await asyncio.sleep(0.2)
    assert here.frames == there.frames == ['{"type":"connect"}']
    assert elsewhere.frames == []


async def test_a_socket_that_unfollows_gets_nothing_more(two_workers):
    """After unfollow, publishes skip the socket; the worker leaves the group when nobody follows."""
    first, second = two_workers
    gone, staying = FakeSocket(), FakeSocket()
    await first.follow("board", gone)
    await second.follow("board", staying)
    await until(lambda: first.channel and second.channel)
    await asyncio.sleep(0.2)
    first.unfollow("board", gone)
    await second.publish("board", "after")
    await until(lambda: staying.frames)
    await asyncio.sleep(0.2)
    assert gone.frames == []
    assert first.followers("board") == frozenset()


@pytest.mark.parametrize("error", [ConnectionError("redis is down"), ValueError("a bug")], ids=["outage", "bug"])
async def test_a_failing_job_is_retried_and_does_not_stop_the_runtime(redis_server, error):
    """A job that raises, from an outage or a bug, keeps being called every period."""
    runtime = Runtime(layer_for(redis_server.url, "redis"))
    calls = []

    async def flaky():
        calls.append(1)
        raise error

    runtime.every(0.05, "flaky", flaky)
    await until(lambda: len(calls) >= 3)
    await runtime.stop()


# ---------------------------------------------------------------- publishing past a hung Redis


async def test_a_hung_redis_delays_no_local_follower_and_no_frame_arrives_twice(two_workers, redis_server):
    """Redis stopped (SIGSTOP): publish returns at once and the local follower has the frame;
    the other worker gets it once Redis answers again; nobody gets it twice."""
    first, second = two_workers
    here, there = FakeSocket(), FakeSocket()
    await first.follow("board", here)
    await second.follow("board", there)
    await until(lambda: first.channel and second.channel)
    await asyncio.sleep(0.2)
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


async def test_frames_waiting_for_redis_are_bounded_and_the_oldest_go_first(caplog, monkeypatch):
    monkeypatch.setattr(runtime_module, "PUBLISH_QUEUE_FRAMES", 10)
    layer = StuckLayer()
    runtime = Runtime(layer)
    follower = FakeSocket()
    await runtime.follow("board", follower)
    await runtime.publish("board", "frame 0")
    await asyncio.sleep(0.05)  # the sender takes it, and hangs
    for n in range(1, 25):
        await runtime.publish("board", f"frame {n}")
    await asyncio.sleep(0.05)
    try:
        assert follower.frames == [f"frame {n}" for n in range(25)]  # local delivery loses nothing
        assert [m["text"] for m in layer.sent] == ["frame 0"]  # the sender waits on the first
        assert [text for _, text in runtime._outbox] == [f"frame {n}" for n in range(15, 25)]
        assert sum("dropping the oldest" in r.message for r in caplog.records) == 1
    finally:
        await runtime.stop()


async def test_frames_refused_while_redis_is_down_are_sent_when_it_returns(redis_server, monkeypatch):
    """Connection refused means the frame never left: it is tried again, in order."""
    monkeypatch.setattr(runtime_module, "PUBLISH_RETRY_SECONDS", 0.05)
    runtime = Runtime(layer_for(redis_server.url, "redis"))
    refusals = iter([ConnectionError("refused")] * 3)
    sent = []

    async def group_send(group, message):
        error = next(refusals, None)
        if error is not None:
            raise error
        sent.append(message["text"])

    monkeypatch.setattr(runtime.layer, "group_send", group_send)
    try:
        await runtime.publish("board", "a")
        await runtime.publish("board", "b")
        await until(lambda: len(sent) == 2)
        assert sent == ["a", "b"]
    finally:
        await runtime.stop()

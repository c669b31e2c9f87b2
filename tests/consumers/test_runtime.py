"""The per-process runtime against a real redis-server: two runtimes stand for two workers."""

import asyncio

import pytest
from django.utils.module_loading import import_string

from shared.layers import channel_layer_settings
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


async def until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


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

"""The channel layer as configured in shared/settings.py, against a real redis-server."""

import asyncio

from django.utils.module_loading import import_string

from shared.layers import channel_layer_settings


async def test_an_idle_receive_outlives_redis_py_default_socket_timeout(redis_server):
    """redis-py 8 times sockets out after 5 s; our layer config must keep a 7 s idle receive alive."""
    config = channel_layer_settings("redis", redis_server.url, "test")
    layer = import_string(config["BACKEND"])(**config["CONFIG"])
    channel = await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(7)
    assert not waiting.done(), f"receive() ended while idle: {waiting}"
    await layer.send(channel, {"type": "hello"})
    assert (await asyncio.wait_for(waiting, 5)) == {"type": "hello"}
    await layer.flush()

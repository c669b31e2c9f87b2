"""The channel layer configuration, as a function so tests can build the same layer on their own
Redis. Daphne workers pass events to each other through it, one channel per worker process
(ws/hub.py), never one per socket. Both layers work; docs/benchmarks.md compares them
under the public board's load."""

from django.core.exceptions import ImproperlyConfigured

from shared.redis import master_credentials

BACKENDS = {
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def channel_layer_settings(
    kind: str,
    redis_url: str,
    prefix: str,
    sentinels: list[tuple[str, int]] | None = None,
    sentinel_master: str | None = None,
) -> dict:
    """One CHANNEL_LAYERS entry for `kind` ("redis" or "pubsub").

    With `sentinels` ([(host, port), ...]) the layer finds the master named `sentinel_master`
    through Redis Sentinel (channels-redis: a hosts entry with "sentinels" and "master_name")
    instead of connecting to `redis_url`, whose database number and password it keeps.
    """
    if kind not in BACKENDS:
        raise ImproperlyConfigured(f"CHANNEL_LAYER must be one of {sorted(BACKENDS)}, not {kind!r}")
    # redis-py 8 made 5 s the default socket_timeout, which kills the layer's idle blocking
    # receive() every 5 s (sockets closed with 1011): its BZPOPMIN waits up to 5 s itself.
    # 10 s stays above that, yet a Redis that stops answering without closing the connection
    # (a partition, a paused VM) cannot hang a group_send for ever.
    host = {"address": redis_url, "socket_timeout": 10, "socket_connect_timeout": 2}
    if sentinels:
        host.update(master_credentials(host.pop("address")))
        host["sentinels"] = list(sentinels)
        host["master_name"] = sentinel_master
        # The sentinels answer "who is the master" at once or not at all.
        host["sentinel_kwargs"] = {"socket_timeout": 1, "socket_connect_timeout": 1}
    config = {"hosts": [host], "prefix": f"{prefix}:layer"}
    if kind == "redis":
        # A worker re-joins its groups every heartbeat; a dead worker's membership lapses
        # after this instead of the default day.
        config["group_expiry"] = 60
        # One channel per worker process carries every event for its sockets.
        config["capacity"] = 1000
    return {"BACKEND": BACKENDS[kind], "CONFIG": config}

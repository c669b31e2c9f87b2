"""Redis connections for the app's own state (the channel layer keeps its own pools)."""

import asyncio
import weakref
from collections.abc import Awaitable
from functools import cache

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from django.conf import settings
from redis.backoff import ConstantBackoff

# State reads and writes are small: a Redis that takes longer than this is treated as down,
# so a page or a consumer never hangs on it.
REDIS_TIMEOUT_SECONDS = 1.0

# Errors that mean "Redis is unreachable or too slow right now"; callers degrade, never crash.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]" = (
    weakref.WeakKeyDictionary()
)


def key(*parts: str) -> str:
    """A Redis key under the app's prefix: key("board", "rows") -> "ping:board:rows"."""
    return ":".join((settings.REDIS_KEY_PREFIX, *parts))


@cache
def redis_client() -> redis.Redis:
    """The process's blocking client (Gunicorn views)."""
    return redis.Redis.from_url(settings.REDIS_URL, **_options())


def async_redis() -> redis.asyncio.Redis:
    """The asyncio client of the running event loop (Daphne has one; tests make several)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, **_options(redis.asyncio.retry.Retry)
        )
    return client


async def attempt(work: Awaitable, within: float) -> bool:
    """Await Redis work for at most `within` seconds; False when Redis was down or too slow.

    For work a socket's handshake or next frame must not wait on (joining the board, a room's
    member count): a heartbeat writes the same state again, so a skipped write heals itself.
    """
    try:
        await asyncio.wait_for(work, within)
    except (TimeoutError, *REDIS_DOWN):
        return False
    return True


def _options(retry_class: type = redis.retry.Retry) -> dict:
    return {
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "decode_responses": True,
        # After a Redis restart the pooled sockets are dead: one quick retry on a fresh one,
        # not redis-py's default of three with backoff, which would stall a caller for seconds.
        "retry": retry_class(ConstantBackoff(0.05), retries=1),
    }

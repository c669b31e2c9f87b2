"""Redis connections for the app's own state (the channel layer keeps its own pools).

From REDIS_URL, or, when REDIS_SENTINELS is set, through Redis Sentinel: redis-py's
`Sentinel(...).master_for(REDIS_SENTINEL_MASTER)` asks the sentinels for the current master on
every new connection (with REDIS_URL's database number and password), so after a failover the
next command (one quick retry) reaches the new master. A connection still open to a demoted
master answers writes with READONLY, which redis-py's sentinel connections turn into a
ConnectionError, and which counts as "Redis down" here too (REDIS_DOWN) either way.
"""

import asyncio
import weakref
from collections.abc import Awaitable
from functools import cache

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from django.conf import settings
from redis.backoff import ConstantBackoff

# State reads and writes are small: a Redis that takes longer than this is treated as down,
# so a page or a consumer never hangs on it.
REDIS_TIMEOUT_SECONDS = 1.0
# Connections a Daphne worker's asyncio client opens at most (redis-py's default). Past them a
# command waits for a free one, up to REDIS_TIMEOUT_SECONDS: a storm of a thousand sockets
# joining chat at once queues for a moment instead of failing as if Redis were down (redis-py's
# plain pool raises MaxConnectionsError, a ConnectionError, on the 101st).
ASYNC_MAX_CONNECTIONS = 100

# Errors that mean "Redis is unreachable or too slow right now"; callers degrade, never crash.
# ReadOnlyError: a write reached a master that a failover has just demoted to a replica.
# MasterNotFoundError (a ConnectionError): no sentinel knows a master right now.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError, OSError)

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]" = (
    weakref.WeakKeyDictionary()
)


def key(*parts: str) -> str:
    """A Redis key under the app's prefix: key("board", "rows") -> "ping:board:rows"."""
    return ":".join((settings.REDIS_KEY_PREFIX, *parts))


@cache
def redis_client() -> redis.Redis:
    """The process's blocking client (Gunicorn views)."""
    if settings.REDIS_SENTINELS:
        sentinel = redis.sentinel.Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=_sentinel_options())
        return sentinel.master_for(
            settings.REDIS_SENTINEL_MASTER, **_options(), **master_credentials(settings.REDIS_URL)
        )
    return redis.Redis.from_url(settings.REDIS_URL, **_options())


def async_redis() -> redis.asyncio.Redis:
    """The asyncio client of the running event loop (Daphne has one; tests make several)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        options = _options(redis.asyncio.retry.Retry) | _waiting_pool_options()
        if settings.REDIS_SENTINELS:
            sentinel = redis.asyncio.sentinel.Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=_sentinel_options())
            client = sentinel.master_for(
                settings.REDIS_SENTINEL_MASTER,
                connection_pool_class=WaitingSentinelPool,
                **options,
                **master_credentials(settings.REDIS_URL),
            )
        else:
            pool = redis.asyncio.BlockingConnectionPool.from_url(settings.REDIS_URL, **options)
            client = redis.asyncio.Redis.from_pool(pool)
        _async_clients[loop] = client
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


def master_credentials(url: str) -> dict:
    """The database number, username and password of a redis:// URL, for a master found through
    Sentinel (whose host and port come from the sentinels): {"db": 0} at least."""
    parsed = redis.connection.parse_url(url)
    return {name: parsed[name] for name in ("db", "username", "password") if parsed.get(name) is not None} | {
        "db": parsed.get("db", 0)
    }


class WaitingSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool):
    """redis-py's Sentinel pool (the master found through the sentinels) with its blocking pool's
    wait for a free connection: redis-py has the two, not one that is both."""


def _waiting_pool_options() -> dict:
    """A blocking pool's size and wait (ASYNC_MAX_CONNECTIONS)."""
    return {"max_connections": ASYNC_MAX_CONNECTIONS, "timeout": REDIS_TIMEOUT_SECONDS}


def _sentinel_options() -> dict:
    """For the connections to the sentinels themselves: a dead sentinel must not stall a caller."""
    return {"socket_timeout": REDIS_TIMEOUT_SECONDS, "socket_connect_timeout": REDIS_TIMEOUT_SECONDS}


def _options(retry_class: type = redis.retry.Retry) -> dict:
    return {
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "decode_responses": True,
        # RESP2, not redis-py 8's default RESP3: the same replies, but RESP3's ZRANGE WITHSCORES
        # goes through a conversion back to RESP2's shape, score by score, that doubled the CPU
        # of a board snapshot (1.9 -> 0.9 ms for 1,000 scores, twice a second per worker).
        "protocol": 2,
        # After a Redis restart the pooled sockets are dead: one quick retry on a fresh one,
        # not redis-py's default of three with backoff, which would stall a caller for seconds.
        "retry": retry_class(ConstantBackoff(0.05), retries=1),
    }

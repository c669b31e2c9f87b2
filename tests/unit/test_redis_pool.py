"""The asyncio client's pool (shared/redis.py): past ASYNC_MAX_CONNECTIONS a command waits for a
free connection instead of failing as if Redis were down; on a real redis-server."""

import asyncio

import redis.asyncio

from shared import redis as shared_redis


async def test_a_burst_past_the_pool_waits_for_a_connection_instead_of_failing(redis_server, settings):
    settings.REDIS_URL = redis_server.url
    settings.REDIS_SENTINELS = []
    client = shared_redis.async_redis()
    burst = shared_redis.ASYNC_MAX_CONNECTIONS + 50
    try:
        assert isinstance(client.connection_pool, redis.asyncio.BlockingConnectionPool)
        # Each holds a connection for 0.2 s: the last 50 wait for the first ones, well within
        # REDIS_TIMEOUT_SECONDS (redis-py's plain pool refused them: MaxConnectionsError).
        answers = await asyncio.gather(*(client.blpop([f"empty-{n}"], timeout=0.2) for n in range(burst)))
        assert answers == [None] * burst
        assert len(client.connection_pool._in_use_connections) == 0
    finally:
        await client.aclose()


async def test_both_clients_speak_resp2(redis_server, settings):
    """RESP2, not redis-py 8's RESP3, whose conversion of ZRANGE WITHSCORES replies doubled a
    board snapshot's CPU: the server itself says which protocol each connection speaks."""
    settings.REDIS_URL = redis_server.url
    settings.REDIS_SENTINELS = []
    blocking, asyncio_client = shared_redis.redis_client(), shared_redis.async_redis()
    try:
        assert "resp=2" in blocking.execute_command("CLIENT", "INFO").split()
        assert "resp=2" in (await asyncio_client.execute_command("CLIENT", "INFO")).split()
        # The replies keep the shape the board reads: (member, float score) pairs.
        await asyncio_client.zadd("delays", {"a": 1.5})
        assert await asyncio_client.zrange("delays", 0, -1, withscores=True) == [("a", 1.5)]
    finally:
        blocking.close()
        await asyncio_client.aclose()

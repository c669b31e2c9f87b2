"""Members that exist only while somebody keeps refreshing them.

A Redis sorted set scored by expiry time (epoch seconds). Whoever holds a member refreshes it
every heartbeat; a member whose holder died (a worker killed without running disconnect())
expires by itself. A refresh re-adds its members, so after a Redis restart the next
heartbeat rebuilds the set.
"""

import math
import time
from collections.abc import Iterable

import redis.asyncio


class LiveSet:
    def __init__(self, client: redis.asyncio.Redis, key: str, ttl_seconds: float):
        self._redis = client
        self.key = key
        self.ttl = ttl_seconds

    async def refresh(self, members: Iterable[str], now: float | None = None) -> None:
        """Add or keep alive these members for another `ttl` seconds."""
        expires = (now or time.time()) + self.ttl
        scores = dict.fromkeys(members, expires)
        if scores:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self.key, scores)
                # The key itself goes too once nobody refreshes it (a room whose only worker died).
                pipe.expire(self.key, math.ceil(2 * self.ttl))
                await pipe.execute()

    async def remove(self, member: str) -> bool:
        """Drop a member; True when it was there (so exactly one remover announces a leave)."""
        return bool(await self._redis.zrem(self.key, member))

    async def members(self, now: float | None = None) -> list[str]:
        """Members that have not expired."""
        return await self._redis.zrangebyscore(self.key, now or time.time(), "+inf")

    async def count(self, now: float | None = None) -> int:
        return await self._redis.zcount(self.key, now or time.time(), "+inf")

    async def take_expired(self, now: float | None = None) -> list[str]:
        """Remove the expired members and return the ones this call removed.

        Several workers sweep at once; ZREM's answer tells each which removals were its own,
        so every expiry is reported exactly once.
        """
        stale = await self._redis.zrangebyscore(self.key, "-inf", f"({now or time.time()}")
        if not stale:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in stale:
                pipe.zrem(self.key, member)
            removed = await pipe.execute()
        return [member for member, gone in zip(stale, removed, strict=True) if gone]

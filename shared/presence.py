"""Who is online: connection counts in Redis, with heartbeat-refreshed expiries.

A user is online while any of their sockets is open, on any worker; the seed app's single
boolean per user went wrong both ways (one closed tab of two showed them offline; a crash
left them online forever). Redis keys, under `<prefix>:presence:`:

- `conns:<username>`  sorted set: connection id -> expiry (epoch s). Each worker refreshes its
                      own connections every heartbeat, so a killed worker's ones lapse.
- `expiry`            sorted set: username -> latest expiry of their connections. The index
                      the sweep reads to find users whose worker died, without visiting all.
- `leaving`           sorted set: username -> when their last connection closed (epoch s).
                      They go offline once that is PRESENCE_GRACE_SECONDS old, so a reload,
                      which closes a socket and opens another, never shows them offline.
- `online`            set: users announced online.
- `versions`, `last_seen`  hashes: username -> status version / last seen (epoch ms).
- `epoch`             when this store first wrote (epoch ms); see `version` below.

Every transition is decided by one Lua script, so exactly one worker announces it however
many race. A status's `version` is the time of the change in ms, raised to the previous
version + 1 if need be: it grows with every change and, because the store's `epoch` is also
a time, it keeps growing even after Redis loses its data (clients drop events whose version
is not newer than the one they have).

Reads predict: a user whose grace or expiry has passed reads as offline (with the version the
sweep will announce) even before any worker has swept, so a page rendered by Gunicorn is
right whether or not a Daphne worker is running.
"""

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis
import redis.asyncio
from django.contrib.auth import get_user_model

from shared.protocol import UserStatus
from shared.redis import key

# Users settled per sweep query; more wait for the next sweep (a second later).
SWEEP_BATCH = 200
# Connections written per script call: keeps each call well under a millisecond of Redis time.
WRITE_BATCH = 500

Connection = tuple[str, str]  # (username, connection id)

# The store-wide keys every script gets first, in this order; per-user `conns:` keys follow.
_SHARED = ("online", "versions", "last_seen", "expiry", "leaving", "epoch")

_LUA_COMMON = """
local ONLINE, VERSIONS, LAST_SEEN, EXPIRY, LEAVING, EPOCH = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- Record a change of `user`'s status at time `at` (s) and return it as a UserStatus reply.
local function announce(user, online, last_seen, at)
  local previous = tonumber(redis.call('HGET', VERSIONS, user) or redis.call('GET', EPOCH) or 0)
  local version = math.max(previous + 1, math.floor(at * 1000))
  redis.call('HSET', VERSIONS, user, version)
  if last_seen then
    redis.call('HSET', LAST_SEEN, user, last_seen)
  else
    last_seen = redis.call('HGET', LAST_SEEN, user)
  end
  return {user, online, version, last_seen}
end

-- Take `user` offline if their grace (after a close) or expiry (after a crash) has passed and
-- no live connection is left; returns the status to announce, or false.
local function settle(conns, user, now, now_arg, grace, ttl)
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', now_arg)
  if redis.call('ZCARD', conns) > 0 then return false end
  local ended, due = redis.call('ZSCORE', LEAVING, user), nil
  if ended then
    ended = tonumber(ended)
    due = ended + grace
  else
    local expires = redis.call('ZSCORE', EXPIRY, user)
    if not expires then return false end
    due = tonumber(expires)
    ended = due - ttl  -- the last heartbeat: the best we know of when a crashed socket ended
  end
  if now < due then return false end
  redis.call('ZREM', EXPIRY, user)
  redis.call('ZREM', LEAVING, user)
  if redis.call('SREM', ONLINE, user) == 0 then return false end
  return announce(user, 0, math.floor(ended * 1000), due)
end
"""

# ARGV: now, ttl, grace, then username, connection id pairs (one per `conns:` key).
_JOIN = (
    _LUA_COMMON
    + """
local now, ttl, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SET', EPOCH, math.floor(now * 1000), 'NX')
local changes = {}
for i = 7, #KEYS do
  local user, conn = ARGV[2 * i - 10], ARGV[2 * i - 9]
  -- A user whose offline was due but not yet swept goes offline first, then online again.
  local gone = settle(KEYS[i], user, now, ARGV[1], grace, ttl)
  if gone then table.insert(changes, gone) end
  redis.call('ZADD', KEYS[i], now + ttl, conn)
  redis.call('ZADD', EXPIRY, 'GT', now + ttl, user)
  redis.call('ZREM', LEAVING, user)
  if redis.call('SADD', ONLINE, user) == 1 then
    table.insert(changes, announce(user, 1, false, now))
  end
end
return changes
"""
)

# ARGV: now, then username, connection id pairs (one per `conns:` key).
_LEAVE = (
    _LUA_COMMON
    + """
for i = 7, #KEYS do
  local user, conn = ARGV[2 * i - 12], ARGV[2 * i - 11]
  redis.call('ZREM', KEYS[i], conn)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  -- The last live connection closed: start the grace period (only once, from the index).
  if redis.call('ZCARD', KEYS[i]) == 0 and redis.call('ZREM', EXPIRY, user) == 1 then
    redis.call('ZADD', LEAVING, ARGV[1], user)
  end
end
return 0
"""
)

# ARGV: now, ttl, grace, username (whose `conns:` key is KEYS[7]).
_SETTLE = (
    _LUA_COMMON
    + """
return settle(KEYS[7], ARGV[4], tonumber(ARGV[1]), ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[2]))
"""
)


@dataclass(frozen=True)
class PresenceKeys:
    namespace: str

    @property
    def shared(self) -> list[str]:
        return [f"{self.namespace}:{name}" for name in _SHARED]

    def conns(self, username: str) -> str:
        return f"{self.namespace}:conns:{username}"


def presence_keys(namespace: str | None = None) -> PresenceKeys:
    return PresenceKeys(namespace or key("presence"))


class PresenceStore:
    """Presence rules over an asyncio Redis client (the Daphne workers' side)."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        ttl: float,
        grace: float,
        namespace: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._redis = client
        self.keys = presence_keys(namespace)
        self.ttl = ttl
        self.grace = grace
        self._clock = clock
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._settle = client.register_script(_SETTLE)

    async def join(self, connections: Iterable[Connection]) -> list[UserStatus]:
        """Add connections, or keep them alive for another TTL (the heartbeat calls this too).

        Returns the changes to announce: users this turned online, and (first) any whose
        offline was due but not yet swept.
        """
        now = self._clock()
        changes: list[UserStatus] = []
        for batch in _batches(list(connections), WRITE_BATCH):
            args = [repr(now), repr(self.ttl), repr(self.grace), *_flatten(batch)]
            replies = await self._join(keys=self._keys_for(batch), args=args)
            changes.extend(_status_from_reply(reply) for reply in replies)
        return changes

    async def leave(self, connections: Iterable[Connection]) -> None:
        """Remove closed connections; a user left with none starts their grace period."""
        now = self._clock()
        for batch in _batches(list(connections), WRITE_BATCH):
            await self._leave(keys=self._keys_for(batch), args=[repr(now), *_flatten(batch)])

    async def sweep(self) -> list[UserStatus]:
        """Take offline every user whose grace or expiry has passed; returns the changes.

        Every worker sweeps; the script's SREM decides which one announces each change.
        """
        now = self._clock()
        _, _, _, expiry, leaving, _ = self.keys.shared
        due = await self._redis.zrangebyscore(leaving, "-inf", now - self.grace, start=0, num=SWEEP_BATCH)
        crashed = await self._redis.zrangebyscore(expiry, "-inf", now, start=0, num=SWEEP_BATCH)
        changes = []
        for username in dict.fromkeys(due + crashed):
            args = [repr(now), repr(self.ttl), repr(self.grace), username]
            reply = await self._settle(keys=[*self.keys.shared, self.keys.conns(username)], args=args)
            if reply:
                changes.append(_status_from_reply(reply))
        return changes

    async def statuses(self, usernames: Sequence[str]) -> list[UserStatus]:
        """The current status of each user, in the order given."""
        if not usernames:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            _queue_reads(pipe, self.keys, usernames)
            replies = await pipe.execute()
        return _statuses_from(replies, usernames, self._clock(), self.ttl, self.grace)

    async def connection_count(self, username: str) -> int:
        """Live connections of one user (tests and diagnostics)."""
        return await self._redis.zcount(self.keys.conns(username), f"({self._clock()}", "+inf")

    def _keys_for(self, batch: Sequence[Connection]) -> list[str]:
        return [*self.keys.shared, *(self.keys.conns(username) for username, _ in batch)]


def registered_usernames() -> list[str]:
    """Who the presence list shows: every user who can sign in, by username."""
    users = get_user_model().objects.filter(is_active=True).order_by("username")
    return list(users.values_list("username", flat=True))


def read_statuses(
    client: redis.Redis,
    usernames: Sequence[str],
    *,
    ttl: float,
    grace: float,
    namespace: str | None = None,
    now: float | None = None,
) -> list[UserStatus]:
    """PresenceStore.statuses over a blocking client (Gunicorn's side)."""
    if not usernames:
        return []
    with client.pipeline(transaction=True) as pipe:
        _queue_reads(pipe, presence_keys(namespace), usernames)
        replies = pipe.execute()
    return _statuses_from(replies, usernames, time.time() if now is None else now, ttl, grace)


# ---------------------------------------------------------------- reading


def _queue_reads(pipe, keys: PresenceKeys, usernames: Sequence[str]) -> None:
    online, versions, last_seen, expiry, leaving, epoch = keys.shared
    names = list(usernames)
    pipe.smismember(online, names)
    pipe.hmget(versions, names)
    pipe.hmget(last_seen, names)
    pipe.zmscore(expiry, names)
    pipe.zmscore(leaving, names)
    pipe.get(epoch)


def _statuses_from(replies: list, usernames: Sequence[str], now: float, ttl: float, grace: float) -> list[UserStatus]:
    online, versions, seen, expiries, leaving, epoch = replies
    return [
        _predict(
            {
                "username": username,
                "online": bool(online[i]),
                "last_seen": int(seen[i]) if seen[i] is not None else None,
                # A user the store has no record of is offline as of the store's epoch.
                "version": int(versions[i] or epoch or 0),
            },
            expiries[i],
            leaving[i],
            now,
            ttl,
            grace,
        )
        for i, username in enumerate(usernames)
    ]


def _predict(
    status: UserStatus, expires: float | None, left: float | None, now: float, ttl: float, grace: float
) -> UserStatus:
    """The status the next sweep will announce, if an offline is due (the Lua `settle`)."""
    if not status["online"]:
        return status
    if left is not None:
        ended, due = left, left + grace
    elif expires is not None:
        ended, due = expires - ttl, expires
    else:
        return status
    if now < due:
        return status
    version = max(status["version"] + 1, math.floor(due * 1000))
    return {"username": status["username"], "online": False, "last_seen": math.floor(ended * 1000), "version": version}


def _status_from_reply(reply: list) -> UserStatus:
    username, online, version, last_seen = (*reply, None)[:4]
    return {
        "username": username,
        "online": bool(online),
        "last_seen": int(last_seen) if last_seen is not None else None,
        "version": int(version),
    }


# ---------------------------------------------------------------- helpers


def _batches(items: list, size: int) -> Iterable[list]:
    return (items[start : start + size] for start in range(0, len(items), size))


def _flatten(connections: Iterable[Connection]) -> list[str]:
    return [part for connection in connections for part in connection]

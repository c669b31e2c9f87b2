"""Rate limits: per-connection frame limits (a token bucket, and what to do with a client that
floods), and a throttle for a worker's broadcasts."""

import time
from collections.abc import Callable
from enum import Enum

# Control frames (pings and pongs) a peer may send, on average per second and at once. Each
# ping makes the server write a pong, outside any application frame: a peer that pings faster
# is closed (4008, ws/serve.py). Browsers never send pings; client libraries ping every few
# seconds, and a pong answers each of the server's probes (one every 2.5 s by default at most).
CONTROL_RATE_PER_SECOND = 10.0
CONTROL_BURST = 20


class TokenBucket:
    """Allows `rate` events a second on average and `burst` at once."""

    # One per socket (two: frames and control frames), so no __dict__ each.
    __slots__ = ("_burst", "_clock", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = self._refilled(now)
        self._updated = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def has_token(self) -> bool:
        """Whether `take()` would allow an event now (nothing is taken)."""
        return self._refilled(self._clock()) >= 1.0

    def _refilled(self, now: float) -> float:
        return min(self._burst, self._tokens + (now - self._updated) * self._rate)


class Throttle:
    """At most one firing per `interval` seconds: the first at once (leading edge), and what is
    asked for meanwhile together at the end of the interval (trailing edge), as lodash's
    `throttle` does. A lone event waits for nothing; a storm is coalesced."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._fired_at = -interval

    def wait(self) -> float:
        """Seconds until the next firing may be (0.0: now)."""
        return max(0.0, self._fired_at + self.interval - self._clock())

    def fire(self) -> None:
        self._fired_at = self._clock()


class Verdict(Enum):
    ACCEPT = "accept"  # handle the frame
    WARN = "warn"  # drop it and answer `rate_limited` (first refusal of a streak)
    DROP = "drop"  # drop it silently: the client was already warned
    CLOSE = "close"  # the client kept sending after the warning: close with 4008


class FloodGuard:
    """Judges each incoming frame of one connection against its token bucket.

    Refusals count within a flood episode, which ends only after `forgive_after` seconds
    without a refusal: a client that stays just over the rate is closed too, not warned
    forever because a token trickles in now and then.
    """

    __slots__ = ("_bucket", "_clock", "_close_after", "_forgive_after", "_last_refusal", "_refused")

    def __init__(
        self,
        bucket: TokenBucket,
        close_after: int,
        forgive_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._bucket = bucket
        self._close_after = close_after
        self._forgive_after = forgive_after
        self._clock = clock
        self._refused = 0
        self._last_refusal = -float("inf")

    def would_accept(self) -> bool:
        """Whether `judge()` would accept a frame now (nothing is counted)."""
        return self._bucket.has_token()

    def judge(self) -> Verdict:
        now = self._clock()
        if now - self._last_refusal >= self._forgive_after:
            self._refused = 0
        if self._bucket.take():
            return Verdict.ACCEPT
        self._refused += 1
        self._last_refusal = now
        if self._refused == 1:
            return Verdict.WARN
        if self._refused > self._close_after:
            return Verdict.CLOSE
        return Verdict.DROP


def allow_in_window(client, key: str, limit: int, window_seconds: int) -> bool:
    """A fixed-window counter in Redis shared by every process: True for the first `limit`
    calls with `key` in each `window_seconds`. Raises the client's errors (Redis down)."""
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, window_seconds, nx=True)
    count, _ = pipe.execute()
    return count <= limit

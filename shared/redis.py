"""Redis connections for the app's own state (the channel layer keeps its own pools)."""

from functools import cache

import redis
from django.conf import settings

# State reads and writes are small: a Redis that takes longer than this is treated as down,
# so a page or a consumer never hangs on it.
REDIS_TIMEOUT_SECONDS = 1.0


@cache
def redis_client() -> redis.Redis:
    """The process's blocking client (Gunicorn views)."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )

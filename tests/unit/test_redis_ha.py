"""Redis through Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): parsing, the channel layer's
hosts entry, the stores' clients, and READONLY counted as Redis down. The failover itself runs
on real processes in tests/stack/test_sentinel.py."""

import pytest
import redis
import redis.asyncio.sentinel
import redis.sentinel
from django.core.exceptions import ImproperlyConfigured

from shared import redis as shared_redis
from shared.env import env_addresses
from shared.layers import channel_layer_settings


def test_sentinel_addresses_parse_hosts_ports_and_ipv6(monkeypatch):
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, sentinel-2:26380,[::1]:26381")
    assert env_addresses("REDIS_SENTINELS") == [("10.0.0.1", 26379), ("sentinel-2", 26380), ("::1", 26381)]
    monkeypatch.setenv("REDIS_SENTINELS", "")
    assert env_addresses("REDIS_SENTINELS") == []
    monkeypatch.delenv("REDIS_SENTINELS")
    assert env_addresses("REDIS_SENTINELS") == []


@pytest.mark.parametrize("bad", ["sentinel-1", "sentinel-1:", ":26379", "host:port", "host:70000", "host:0"])
def test_a_bad_sentinel_address_is_refused_naming_the_variable(monkeypatch, bad):
    monkeypatch.setenv("REDIS_SENTINELS", f"ok:26379,{bad}")
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS"):
        env_addresses("REDIS_SENTINELS")


@pytest.mark.parametrize("kind", ["redis", "pubsub"])
def test_the_channel_layer_finds_its_master_through_the_sentinels(kind):
    """channels-redis: a hosts entry with "sentinels" and "master_name" (and no "address")."""
    config = channel_layer_settings(kind, "redis://unused/0", "ping", [("s1", 26379), ("s2", 26379)], "ping")
    (host,) = config["CONFIG"]["hosts"]
    assert host["sentinels"] == [("s1", 26379), ("s2", 26379)]
    assert host["master_name"] == "ping"
    assert "address" not in host
    assert host["socket_timeout"] == 10  # the same timeouts as without Sentinel
    assert host["sentinel_kwargs"]["socket_timeout"] <= 1


def test_without_sentinels_the_channel_layer_uses_redis_url():
    (host,) = channel_layer_settings("redis", "redis://r:6379/0", "ping")["CONFIG"]["hosts"]
    assert host["address"] == "redis://r:6379/0"


def test_readonly_from_a_demoted_master_counts_as_redis_down():
    assert issubclass(redis.exceptions.ReadOnlyError, shared_redis.REDIS_DOWN)
    assert isinstance(redis.exceptions.ReadOnlyError("READONLY"), shared_redis.REDIS_DOWN)
    assert isinstance(redis.sentinel.MasterNotFoundError("none"), shared_redis.REDIS_DOWN)


def test_the_blocking_client_asks_the_sentinels_for_the_master(settings):
    settings.REDIS_SENTINELS = [("127.0.0.1", 1)]
    settings.REDIS_SENTINEL_MASTER = "ping"
    shared_redis.redis_client.cache_clear()
    try:
        client = shared_redis.redis_client()
        pool = client.connection_pool
        assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
        assert pool.service_name == "ping"
        assert pool.connection_kwargs["socket_timeout"] == shared_redis.REDIS_TIMEOUT_SECONDS
        # No sentinel answers on port 1: that is "Redis down", not a crash.
        with pytest.raises(shared_redis.REDIS_DOWN):
            client.ping()
    finally:
        shared_redis.redis_client.cache_clear()


async def test_the_asyncio_client_asks_the_sentinels_for_the_master(settings):
    settings.REDIS_SENTINELS = [("127.0.0.1", 1)]
    settings.REDIS_SENTINEL_MASTER = "ping"
    client = shared_redis.async_redis()
    pool = client.connection_pool
    assert isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)
    assert pool.service_name == "ping"
    # And it waits for a free connection past its size, as the plain client's pool does.
    assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
    assert pool.max_connections == shared_redis.ASYNC_MAX_CONNECTIONS
    assert pool.timeout == shared_redis.REDIS_TIMEOUT_SECONDS
    with pytest.raises(shared_redis.REDIS_DOWN):
        await client.ping()
    await client.aclose()


def test_the_master_keeps_redis_urls_database_and_password():
    """Sentinel gives the master's address; the database number and password still come from REDIS_URL."""
    assert shared_redis.master_credentials("redis://:s3cret@ignored:6379/2") == {"db": 2, "password": "s3cret"}
    assert shared_redis.master_credentials("redis://127.0.0.1:6379") == {"db": 0}
    config = channel_layer_settings("redis", "redis://:s3cret@ignored/4", "ping", [("s1", 26379)], "ping")
    (host,) = config["CONFIG"]["hosts"]
    assert (host["db"], host["password"]) == (4, "s3cret")

"""The presence rules (shared/presence.py) against a real redis-server, on a clock the tests move."""

import asyncio
import uuid

import pytest
import redis
import redis.asyncio

from shared.presence import WRITE_BATCH, PresenceStore, read_statuses

TTL = 30.0
GRACE = 3.0
START = 1_700_000_000.0


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def namespace() -> str:
    return f"test-presence-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(redis_server, namespace):
    connection = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    yield connection
    stale = [key async for key in connection.scan_iter(f"{namespace}:*")]
    if stale:
        await connection.delete(*stale)
    await connection.aclose()


@pytest.fixture
def new_store(client, clock, namespace):
    """Stores sharing one Redis and one clock: each stands for one Daphne worker."""
    return lambda: PresenceStore(client, ttl=TTL, grace=GRACE, namespace=namespace, clock=clock)


@pytest.fixture
def store(new_store) -> PresenceStore:
    return new_store()


def changes(statuses) -> list[tuple[str, bool]]:
    return [(status["username"], status["online"]) for status in statuses]


async def status_of(store: PresenceStore, username: str) -> dict:
    (status,) = await store.statuses([username])
    return status


# ---------------------------------------------------------------- counting connections


async def test_a_first_connection_announces_the_user_online_at_once(store):
    """The join itself returns the change: no sweep, no grace on the way in."""
    announced = await store.join([("alice", "tab-1")])
    assert changes(announced) == [("alice", True)]
    assert (await status_of(store, "alice"))["online"] is True


async def test_a_second_connection_of_an_online_user_announces_nothing(store):
    """Online is per user, not per tab."""
    await store.join([("alice", "tab-1")])
    assert await store.join([("alice", "tab-2")]) == []
    assert await store.connection_count("alice") == 2


async def test_closing_one_of_two_tabs_keeps_the_user_online(store, clock):
    """The seed app's bug: one closed tab showed the user offline."""
    await store.join([("alice", "tab-1"), ("alice", "tab-2")])
    await store.leave([("alice", "tab-1")])
    clock.advance(GRACE + 1)
    assert await store.sweep() == []
    assert (await status_of(store, "alice"))["online"] is True


async def test_closing_the_last_tab_announces_offline_only_after_the_grace_period(store, clock):
    """Offline comes from the sweep once the grace has passed, with last_seen = the close."""
    await store.join([("alice", "tab-1")])
    clock.advance(5)
    closed_at = clock.now
    await store.leave([("alice", "tab-1")])
    clock.advance(GRACE - 0.1)
    assert await store.sweep() == []
    clock.advance(0.1)
    (offline,) = await store.sweep()
    assert (offline["username"], offline["online"]) == ("alice", False)
    assert offline["last_seen"] == int(closed_at * 1000)


async def test_a_reload_within_the_grace_period_announces_nothing(store, clock):
    """Close and reopen a second later: no offline, no second online."""
    await store.join([("alice", "tab-1")])
    await store.leave([("alice", "tab-1")])
    clock.advance(1)
    assert await store.join([("alice", "tab-1-reloaded")]) == []
    clock.advance(GRACE * 2)
    assert await store.sweep() == []
    assert (await status_of(store, "alice"))["online"] is True


async def test_users_are_counted_apart(store, clock):
    """Bob leaving does not touch Alice."""
    await store.join([("alice", "a"), ("bob", "b")])
    await store.leave([("bob", "b")])
    clock.advance(GRACE)
    assert changes(await store.sweep()) == [("bob", False)]
    assert [s["online"] for s in await store.statuses(["alice", "bob"])] == [True, False]


# ---------------------------------------------------------------- expiry (a worker killed with -9)


async def test_connections_nobody_refreshes_expire_after_the_ttl(store, clock):
    """A killed worker runs no disconnect(): its users go offline at the expiry, last seen at
    their last heartbeat."""
    await store.join([("alice", "tab-1")])
    joined_at = clock.now
    clock.advance(TTL - 0.1)
    assert await store.sweep() == []
    clock.advance(0.1)
    (offline,) = await store.sweep()
    assert (offline["online"], offline["last_seen"]) == (False, int(joined_at * 1000))
    assert await store.connection_count("alice") == 0


async def test_heartbeat_refreshes_keep_a_connection_alive_past_the_ttl(store, clock):
    """A worker re-joins its open connections every heartbeat; each join renews the expiry."""
    await store.join([("alice", "tab-1")])
    for _ in range(5):
        clock.advance(TTL / 2)
        assert await store.join([("alice", "tab-1")]) == []
        assert await store.sweep() == []
    assert (await status_of(store, "alice"))["online"] is True


async def test_a_tab_on_a_live_worker_keeps_the_user_online_when_another_worker_dies(new_store, clock):
    """Tab 1's worker dies (no more refreshes); tab 2's worker keeps refreshing."""
    dead, alive = new_store(), new_store()
    await dead.join([("alice", "tab-1")])
    await alive.join([("alice", "tab-2")])
    for _ in range(4):
        clock.advance(TTL / 2)
        await alive.join([("alice", "tab-2")])
        assert await alive.sweep() == []
    assert await alive.connection_count("alice") == 1
    assert (await status_of(alive, "alice"))["online"] is True


async def test_the_last_tab_closing_after_a_sibling_crashed_still_goes_offline(new_store, clock):
    """A crashed sibling connection cannot hold the user online beyond its own expiry."""
    dead, alive = new_store(), new_store()
    await dead.join([("alice", "tab-1")])
    await alive.join([("alice", "tab-2")])
    clock.advance(1)
    await alive.leave([("alice", "tab-2")])
    clock.advance(TTL)
    assert changes(await alive.sweep()) == [("alice", False)]


# ---------------------------------------------------------------- exactly once, in order


async def test_many_workers_sweeping_at_once_announce_each_offline_exactly_once(new_store, clock):
    """Five workers sweep the same due users concurrently; each user goes offline once."""
    workers = [new_store() for _ in range(5)]
    users = [f"user-{n}" for n in range(20)]
    await workers[0].join([(user, f"{user}-tab") for user in users])
    clock.advance(TTL + 1)
    results = await asyncio.gather(*(worker.sweep() for worker in workers))
    announced = sorted(status["username"] for result in results for status in result)
    assert announced == sorted(users)


async def test_tabs_opening_at_once_on_two_workers_announce_online_exactly_once(new_store):
    """Two workers race to add Alice's first two tabs; one of them announces her."""
    first, second = new_store(), new_store()
    results = await asyncio.gather(first.join([("alice", "tab-1")]), second.join([("alice", "tab-2")]))
    assert sum(len(result) for result in results) == 1


async def test_versions_grow_with_every_change(store, clock):
    """online -> offline -> online: each announced version is newer than the one before."""
    versions = [(await store.join([("alice", "tab-1")]))[0]["version"]]
    await store.leave([("alice", "tab-1")])
    clock.advance(GRACE)
    versions.append((await store.sweep())[0]["version"])
    versions.append((await store.join([("alice", "tab-2")]))[0]["version"])
    assert versions == sorted(set(versions))


async def test_versions_keep_growing_after_redis_loses_its_data(store, client, clock, namespace):
    """A Redis restart without persistence empties the store; versions must not start over,
    or clients would drop every new event as old."""
    before = (await store.join([("alice", "tab-1")]))[0]["version"]
    await client.delete(*[key async for key in client.scan_iter(f"{namespace}:*")])
    clock.advance(1)
    (again,) = await store.join([("alice", "tab-1")])  # the next heartbeat rewrites the tab
    assert (again["online"], again["version"] > before) == (True, True)
    (bob,) = await store.statuses(["bob"])
    assert bob["version"] > before  # a user with no record is offline as of the new epoch


async def test_coming_back_after_an_unswept_offline_announces_offline_then_online(store, clock):
    """If no worker swept in time, the join announces the missed offline first: watchers
    that read the offline (see the next test) then see a newer online."""
    await store.join([("alice", "tab-1")])
    await store.leave([("alice", "tab-1")])
    clock.advance(GRACE + 5)
    announced = await store.join([("alice", "tab-2")])
    assert changes(announced) == [("alice", False), ("alice", True)]
    assert announced[0]["version"] < announced[1]["version"]


# ---------------------------------------------------------------- reading


async def test_a_read_shows_a_due_offline_before_any_sweep_exactly_as_the_sweep_will(store, clock):
    """Pages render right even if no worker has swept yet: same status, same version."""
    await store.join([("alice", "tab-1"), ("bob", "tab-2")])
    await store.leave([("alice", "tab-1")])
    clock.advance(TTL + 1)
    predicted = await store.statuses(["alice", "bob"])
    assert [s["online"] for s in predicted] == [False, False]
    announced = sorted(await store.sweep(), key=lambda status: status["username"])
    assert announced == predicted
    assert await store.statuses(["alice", "bob"]) == predicted


async def test_a_user_never_seen_reads_as_offline_with_no_last_seen(store):
    """Registered users who never connected are in the list too."""
    (carol,) = await store.statuses(["carol"])
    assert (carol["online"], carol["last_seen"]) == (False, None)


async def test_the_blocking_read_for_pages_agrees_with_the_async_one(store, clock, redis_server, namespace):
    """Gunicorn reads with redis-py's blocking client and gets the same statuses."""
    await store.join([("alice", "tab-1"), ("bob", "tab-2")])
    await store.leave([("bob", "tab-2")])
    clock.advance(GRACE + 1)
    blocking = redis.Redis.from_url(redis_server.url, decode_responses=True)
    users = ["alice", "bob", "carol"]
    read = read_statuses(blocking, users, ttl=TTL, grace=GRACE, namespace=namespace, now=clock.now)
    assert read == await store.statuses(users)
    assert [s["online"] for s in read] == [True, False, False]


async def test_a_heartbeat_larger_than_one_script_call_writes_every_connection(store):
    """Thousands of sockets on one worker are written in batches, all of them."""
    connections = [(f"user-{n}", f"tab-{n}") for n in range(WRITE_BATCH * 2 + 7)]
    announced = await store.join(connections)
    assert len(announced) == len(connections)
    statuses = await store.statuses([user for user, _ in connections])
    assert all(status["online"] for status in statuses)

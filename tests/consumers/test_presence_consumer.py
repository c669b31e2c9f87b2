"""`/ws/presence/` and presence tracking on every endpoint, through the whole ASGI app on a real
redis-server (heartbeat 0.2 s, TTL 1 s, grace 0.5 s, sweep every 0.1 s)."""

import asyncio
import json
import time

import pytest
from django.test import override_settings

from shared.layers import channel_layer_settings
from shared.protocol import CLOSE_SIGN_IN_REQUIRED
from tests.consumers.conftest import sign_up, signed_in_cookie, websocket
from tests.helpers import next_of, no_frame_of

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = 0.5
SWEEP = 0.1


@pytest.fixture
async def presence(live_redis):
    """live_redis with a short grace and a fast sweep."""
    with override_settings(PRESENCE_GRACE_SECONDS=GRACE, PRESENCE_SWEEP_SECONDS=SWEEP):
        yield live_redis


async def signed_up(username: str) -> list[tuple[bytes, bytes]]:
    """A new user's session cookie, as a header for a socket."""
    await sign_up(username)
    return [(b"cookie", (await signed_in_cookie(username)).encode())]


async def open_socket(path: str, cookie: list | None = None):
    client = websocket(path, headers=cookie)
    connected, _ = await client.connect()
    assert connected
    return client


async def watch(cookie: list) -> tuple:
    """A /ws/presence/ socket and the list it got on arrival."""
    client = await open_socket("/ws/presence/", cookie)
    return client, await next_of(client, "presence")


async def test_an_anonymous_socket_is_accepted_then_closed_with_4401(presence):
    """No session, no presence: the close code tells the page to sign in (no retry loop)."""
    client = websocket("/ws/presence/")
    connected, _ = await client.connect()
    assert connected
    closed = await client.receive_output(timeout=2)
    assert (closed["type"], closed["code"]) == ("websocket.close", CLOSE_SIGN_IN_REQUIRED)


async def test_a_watcher_first_gets_every_registered_user_by_username(presence):
    """The list covers users who never connected, offline and never seen."""
    await signed_up("zed")
    alice = await signed_up("alice")
    client, listing = await watch(alice)
    users = {user["username"]: user for user in listing["users"]}
    assert list(users) == ["alice", "zed"]
    assert (users["zed"]["online"], users["zed"]["last_seen"]) == (False, None)
    assert all(isinstance(user["version"], int) for user in listing["users"])
    await client.disconnect()


async def test_a_user_opening_any_endpoint_is_announced_online_within_a_second(presence):
    """Bob opens only the private page's socket; Alice's list shows him online at once."""
    watcher, _ = await watch(await signed_up("alice"))
    bob = await signed_up("bob")
    opened_at = time.monotonic()
    socket = await open_socket("/ws/ping/", bob)
    status = await next_of(watcher, "status", username="bob", timeout=1.0)
    assert status["online"] is True
    assert time.monotonic() - opened_at < 1.0
    await socket.disconnect()
    await watcher.disconnect()


async def test_closing_the_last_socket_shows_offline_only_after_the_grace_period(presence):
    """No offline during the grace, then one within grace + a sweep or two."""
    watcher, _ = await watch(await signed_up("alice"))
    socket = await open_socket("/ws/ping/", await signed_up("bob"))
    online = await next_of(watcher, "status", username="bob")
    closed_at = time.monotonic()
    await socket.disconnect()
    await no_frame_of(watcher, "status", GRACE - 0.15, username="bob")
    offline = await next_of(watcher, "status", username="bob", timeout=2.0)
    assert offline["online"] is False
    assert offline["version"] > online["version"]
    assert offline["last_seen"] == pytest.approx(time.time() * 1000, abs=3000)
    assert time.monotonic() - closed_at >= GRACE - 0.1
    await watcher.disconnect()


async def test_two_tabs_close_one_and_the_user_stays_online(presence):
    """The seed app's bug: closing one of two tabs must not show the user offline."""
    watcher, _ = await watch(await signed_up("alice"))
    bob = await signed_up("bob")
    first, second = await open_socket("/ws/ping/", bob), await open_socket("/ws/presence/", bob)
    await next_of(watcher, "status", username="bob")
    await first.disconnect()
    await no_frame_of(watcher, "status", GRACE * 3, username="bob")
    await second.disconnect()
    assert (await next_of(watcher, "status", username="bob"))["online"] is False
    await watcher.disconnect()


async def test_a_reload_does_not_flicker_offline_and_online(presence):
    """Close and reopen within the grace period: watchers hear nothing at all."""
    watcher, _ = await watch(await signed_up("alice"))
    bob = await signed_up("bob")
    socket = await open_socket("/ws/ping/", bob)
    await next_of(watcher, "status", username="bob")
    await socket.disconnect()
    socket = await open_socket("/ws/ping/", bob)
    await no_frame_of(watcher, "status", GRACE * 3, username="bob")
    await socket.disconnect()
    await watcher.disconnect()


async def test_an_anonymous_socket_elsewhere_counts_for_nobody(presence):
    """Guests have no presence; their sockets announce nothing."""
    watcher, _ = await watch(await signed_up("alice"))
    guest = await open_socket("/ws/ping/")
    await asyncio.sleep(0.5)
    frames = []
    while not await watcher.receive_nothing(timeout=0.2):
        frames.append(await watcher.receive_json_from())
    assert all(frame.get("username") == "alice" for frame in frames), frames
    await guest.disconnect()
    await watcher.disconnect()


async def test_a_frame_sent_to_the_presence_endpoint_gets_unknown_type_and_the_socket_stays(presence):
    """The endpoint only sends; a frame is refused politely, and events still arrive."""
    watcher, _ = await watch(await signed_up("alice"))
    await watcher.send_to(text_data=json.dumps({"type": "ping", "seq": 1}))
    error = await next_of(watcher, "error")
    assert error["code"] == "unknown_type"
    socket = await open_socket("/ws/ping/", await signed_up("bob"))
    assert (await next_of(watcher, "status", username="bob"))["online"] is True
    await socket.disconnect()
    await watcher.disconnect()


async def test_a_signed_in_user_is_on_the_public_board_under_their_username(presence):
    """shared.identity names signed-in users by username wherever others see them."""
    board = await open_socket("/ws/public/", await signed_up("bob"))
    welcome = await next_of(board, "welcome")
    assert welcome["you"]["name"] == "bob"
    await board.disconnect()


UNREACHABLE = "redis://127.0.0.1:1/0"


@override_settings(
    REDIS_URL=UNREACHABLE,
    CHANNEL_LAYERS={"default": channel_layer_settings("redis", UNREACHABLE, "test")},
    PRESENCE_SWEEP_SECONDS=SWEEP,
)
async def test_a_signed_in_socket_opens_and_gets_pongs_at_once_while_redis_is_unreachable():
    """Presence writes happen in the background: a dead Redis delays neither the handshake
    nor a single pong."""
    from channels.layers import channel_layers

    from shared import redis as app_redis
    from ws.worker import Worker

    channel_layers.backends.clear()
    app_redis._async_clients.clear()
    cookie = await signed_up("bob")
    started = time.monotonic()
    client = await open_socket("/ws/ping/", cookie)
    for seq in range(3):
        await client.send_json_to({"type": "ping", "seq": seq})
        assert (await client.receive_json_from(timeout=2))["seq"] == seq
    assert time.monotonic() - started < 1.0
    await client.disconnect()
    await Worker.current().stop()
    channel_layers.backends.clear()
    app_redis._async_clients.clear()


async def test_a_watcher_that_opens_while_redis_is_down_gets_the_list_once_it_is_back(presence):
    """The socket opens at once; the list follows when Redis answers again."""
    alice = await signed_up("alice")
    presence.stop()
    try:
        client = await open_socket("/ws/presence/", alice)
        assert await client.receive_nothing(timeout=0.5)
    finally:
        presence.start()
    listing = await next_of(client, "presence", timeout=5)
    assert [user["username"] for user in listing["users"]] == ["alice"]
    await client.disconnect()

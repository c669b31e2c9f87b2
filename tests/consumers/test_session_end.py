"""Sockets whose session ends are closed with 4401 (ws/sessions.py), through the whole ASGI app
on a real redis-server (heartbeat 0.2 s). Sign-outs go through Django's own view and signals."""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from shared.models import Message
from shared.protocol import CLOSE_SIGN_IN_REQUIRED
from shared.sessions import TOPIC
from tests.consumers.conftest import websocket
from ws.consumers.chat import ChatConsumer
from ws.sessions import SignedIn
from ws.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple"
FAST_HASHING = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


@sync_to_async
def signed_in(username: str, create: bool = True) -> Client:
    """A browser signed in through the login view (a real session with its auth hash)."""
    if create:
        get_user_model().objects.create_user(username, password=PASSWORD)
    browser = Client()
    assert browser.login(username=username, password=PASSWORD)
    return browser


def cookie(browser: Client) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())]


async def open_socket(path: str, browser: Client):
    client = websocket(path, headers=cookie(browser))
    connected, _ = await client.connect()
    assert connected
    if path != "/ws/ping/":  # the others greet: history or presence
        await client.receive_output(timeout=5)
    return client


async def settled() -> None:
    """Past each new socket's own first check (after its worker joins the topic's group), so
    that only what a test does next can close it."""
    await Worker.current().hub.joined(TOPIC)
    async with asyncio.timeout(5):
        while SignedIn.current()._checking_new:  # noqa: ASYNC110 - polling a plain flag
            await asyncio.sleep(0.01)


async def closed_with(client, timeout: float) -> int:
    """Read until the server closes the socket; its close code."""
    async with asyncio.timeout(timeout):
        while True:
            output = await client.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return output["code"]


async def still_open(client, seconds: float) -> bool:
    try:
        await closed_with(client, seconds)
    except TimeoutError:
        return True
    return False


@pytest.fixture
def fast_hashing():
    with FAST_HASHING:
        yield


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)  # only the announcement can do it
async def test_a_sign_out_closes_every_socket_of_that_session_with_4401(live_redis, fast_hashing):
    alice = await signed_in("alice")
    other_browser = await signed_in("alice", create=False)
    sockets = [await open_socket(path, alice) for path in ("/ws/chat/lobby/", "/ws/presence/", "/ws/ping/")]
    elsewhere = await open_socket("/ws/ping/", other_browser)
    await settled()
    started = time.monotonic()
    await sync_to_async(alice.post)("/accounts/logout/")
    codes = await asyncio.gather(*(closed_with(socket, 2.0) for socket in sockets))
    assert codes == [CLOSE_SIGN_IN_REQUIRED] * 3
    assert time.monotonic() - started < 2.0
    # Her other browser's session did not end.
    assert await still_open(elsewhere, 0.5)
    await elsewhere.disconnect()


async def test_a_session_expired_behind_the_apps_back_closes_within_a_heartbeat(live_redis, fast_hashing):
    bob = await signed_in("bob")
    socket = await open_socket("/ws/chat/lobby/", bob)
    expired = timezone.now() - timedelta(seconds=1)
    await sync_to_async(Session.objects.update)(expire_date=expired)  # no signal: only the heartbeat sees it
    assert await closed_with(socket, 0.2 + 1.0) == CLOSE_SIGN_IN_REQUIRED


async def test_a_user_deactivated_directly_in_the_database_is_closed_within_a_heartbeat(live_redis, fast_hashing):
    carol = await signed_in("carol")
    socket = await open_socket("/ws/presence/", carol)
    await sync_to_async(get_user_model().objects.filter(username="carol").update)(is_active=False)
    assert await closed_with(socket, 0.2 + 1.0) == CLOSE_SIGN_IN_REQUIRED


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)
async def test_a_message_after_an_unannounced_end_is_refused_by_the_store_itself(live_redis, fast_hashing):
    """No announcement (Redis hung, or a change made behind the app's back) and no heartbeat yet:
    the store checks the author's session with the write, stores nothing and closes with 4401."""
    erin = await signed_in("erin")
    socket = await open_socket("/ws/chat/lobby/", erin)
    await settled()
    await sync_to_async(Session.objects.update)(expire_date=timezone.now() - timedelta(seconds=1))
    await socket.send_json_to({"type": "message", "text": "posted after the session ended"})
    assert await closed_with(socket, 2.0) == CLOSE_SIGN_IN_REQUIRED
    assert not await sync_to_async(Message.objects.exists)()


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)
async def test_a_password_saved_through_the_orm_closes_at_once_without_the_heartbeat(live_redis, fast_hashing):
    """post_save announces the user; the workers check their sessions at once."""
    dave = await signed_in("dave")
    socket = await open_socket("/ws/chat/lobby/", dave)
    await settled()

    @sync_to_async
    def change_password() -> None:
        user = get_user_model().objects.get(username="dave")
        user.set_password("an-entirely-new-password")
        user.save()

    await change_password()
    assert await closed_with(socket, 2.0) == CLOSE_SIGN_IN_REQUIRED


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)
async def test_a_storm_of_signed_in_handshakes_is_checked_in_a_few_batches(live_redis, fast_hashing, monkeypatch):
    """Each new socket is checked once after its handshake, but not with a query of its own."""
    from ws import sessions as worker_sessions

    batches = []
    original = worker_sessions.ended_sessions

    def counting(signed_in):
        batches.append(len(signed_in))
        return original(signed_in)

    monkeypatch.setattr(worker_sessions, "ended_sessions", counting)
    browsers = [await signed_in(f"storm{n}") for n in range(20)]
    sockets = await asyncio.gather(*(open_socket("/ws/ping/", browser) for browser in browsers))
    await settled()
    assert sum(batches) == 20
    assert len(batches) <= 5, batches
    for socket in sockets:
        await socket.disconnect()


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)  # only the announcement can do it
async def test_a_socket_that_comes_while_the_last_one_leaves_mid_check_still_hears_sign_outs(
    live_redis, fast_hashing, monkeypatch
):
    """The worker's only signed-in socket leaves while its first check waits on the database,
    which unsubscribes the worker from the sessions topic; a socket that comes then is checked
    in the same run of checks, and must be subscribed again."""
    gate, original = asyncio.Event(), SignedIn.check

    async def held(self, sockets):
        await gate.wait()
        await original(self, sockets)

    monkeypatch.setattr(SignedIn, "check", held)
    frank = await signed_in("frank")
    first = await open_socket("/ws/ping/", frank)
    await first.disconnect()  # while its check is held
    second_browser = await signed_in("frank", create=False)
    second = await open_socket("/ws/ping/", second_browser)
    gate.set()
    async with asyncio.timeout(5):
        while SignedIn.current()._checking_new:  # noqa: ASYNC110 - polling a plain flag
            await asyncio.sleep(0.01)
    assert SignedIn.current() in Worker.current().hub.subscribers(TOPIC)
    await settled()
    await sync_to_async(second_browser.post)("/accounts/logout/")
    assert await closed_with(second, 2.0) == CLOSE_SIGN_IN_REQUIRED


async def test_a_guests_sockets_are_never_watched(live_redis):
    """Only signed-in sockets have a session to end; a guest's ping socket stays open."""
    client = websocket("/ws/ping/")
    connected, _ = await client.connect()
    assert connected
    assert await still_open(client, 0.5)
    await client.disconnect()


@pytest.mark.django_db
def test_a_message_in_flight_when_the_session_ends_is_not_stored():
    """The close and a frame already on its way race: the store itself refuses."""
    consumer = ChatConsumer()
    consumer.scope = {"user": None, "session": None}
    consumer.room, consumer.guest_name = "lobby", "guest-1"
    consumer.session_ended = True
    assert consumer.store("hello") is None
    assert not Message.objects.exists()

"""`/ws/chat/<room>/` through the whole ASGI application, on a real redis-server."""

import json

import pytest
import redis
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings

from shared.chat import HISTORY_LENGTH, member_counts, post_message
from shared.identity import SESSION_NAME_KEY
from shared.models import Message
from shared.protocol import CLOSE_RATE_LIMITED, CLOSE_UNKNOWN_ROOM
from tests.consumers.conftest import guest_session, sign_up, signed_in_cookie, websocket
from tests.helpers import until
from ws.hub import Hub
from ws.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


async def enter(room: str = "lobby", cookie: str | None = None):
    """A socket in `room` that has had its history frame; returns (socket, history)."""
    headers = [(b"cookie", cookie.encode())] if cookie else []
    client = websocket(f"/ws/chat/{room}/", headers=headers)
    connected, _ = await client.connect()
    assert connected
    history = await client.receive_json_from(timeout=5)
    assert history["type"] == "history"
    return client, history


async def say(client, text: str) -> None:
    await client.send_json_to({"type": "message", "text": text})


async def next_message(client, timeout: float = 5) -> dict:
    frame = await client.receive_json_from(timeout=timeout)
    assert frame["type"] == "message", frame
    return frame["message"]


@sync_to_async
def stored_texts(room: str = "lobby") -> list[str]:
    return list(Message.objects.filter(room__name=room).order_by("id").values_list("text", flat=True))


@sync_to_async
def rename(session: SessionStore, name: str) -> None:
    session[SESSION_NAME_KEY] = name
    session.save()


async def signed_up_cookie(username: str) -> str:
    """A new user's session, as a Cookie header's value."""
    await sign_up(username)
    return await signed_in_cookie(username)


def counts(url: str, room: str = "lobby") -> int | None:
    return member_counts(redis.Redis.from_url(url, decode_responses=True), [room])[room]


# ---------------------------------------------------------------- history and live messages


async def test_a_socket_opens_with_the_rooms_last_50_messages_oldest_first(live_redis):
    """History holds the newest HISTORY_LENGTH messages of this room only, in the wire shape."""
    for n in range(HISTORY_LENGTH + 5):
        await sync_to_async(post_message)("lobby", "ada", f"m{n}")
    await sync_to_async(post_message)("elsewhere", "bob", "not here")
    client, history = await enter()
    assert history["room"] == "lobby"
    assert [m["text"] for m in history["messages"]] == [f"m{n}" for n in range(5, HISTORY_LENGTH + 5)]
    first = history["messages"][0]
    assert set(first) == {"id", "seq", "room", "author", "guest", "text", "sent_at"}
    assert (first["room"], first["author"], type(first["id"]), type(first["sent_at"])) == ("lobby", "ada", str, int)
    await client.disconnect()


async def test_a_message_reaches_everyone_in_the_room_once_and_nobody_elsewhere(live_redis):
    """Sender and neighbour get the same frame, with the stored id; another room hears nothing."""
    alice, _ = await enter()
    bob, _ = await enter()
    stranger, _ = await enter("other")
    await say(alice, "  hello <b>all</b>  ")
    sent, heard = await next_message(alice), await next_message(bob)
    assert sent == heard
    assert sent["text"] == "hello <b>all</b>"
    assert await stored_texts() == ["hello <b>all</b>"]
    assert sent["id"] == str(await sync_to_async(lambda: Message.objects.get().pk)())
    assert await stranger.receive_nothing(timeout=0.5)
    assert await bob.receive_nothing(timeout=0.5)  # once: no copy from the heartbeat's catch-up
    for client in (alice, bob, stranger):
        await client.disconnect()


async def test_a_message_is_committed_before_it_is_broadcast(live_redis, monkeypatch):
    """At the moment of publishing, another database connection can already read the message."""
    seen_at_publish = []
    publish = Hub.publish

    async def checking_publish(hub, topic, text):
        message_id = json.loads(text)["message"]["id"]
        exists = sync_to_async(lambda: Message.objects.filter(pk=int(message_id)).exists(), thread_sensitive=False)
        seen_at_publish.append(await exists())
        await publish(hub, topic, text)

    monkeypatch.setattr(Hub, "publish", checking_publish)
    client, _ = await enter()
    await say(client, "durable")
    await next_message(client)
    assert seen_at_publish == [True]
    await client.disconnect()


async def test_a_message_that_missed_its_broadcast_still_reaches_every_socket_once(live_redis):
    """Stored without a broadcast (as when Redis drops one), the heartbeat's catch-up delivers it."""
    alice, _ = await enter()
    bob, _ = await enter()
    await sync_to_async(post_message)("lobby", "ghost", "arrived late")
    assert (await next_message(alice))["text"] == "arrived late"
    assert (await next_message(bob))["text"] == "arrived late"
    assert await alice.receive_nothing(timeout=1)  # several heartbeats later: still only once
    await alice.disconnect()
    await bob.disconnect()


async def test_a_client_that_reconnects_catches_up_from_history_without_duplicates(live_redis):
    """What was said while it was away is in the new history, every id exactly once."""
    alice, _ = await enter()
    bob, _ = await enter()
    await say(alice, "before")
    before = await next_message(bob)
    await next_message(alice)
    await bob.disconnect()
    for text in ("while away 1", "while away 2"):
        await say(alice, text)
        assert (await next_message(alice))["text"] == text  # stored by now
    bob, history = await enter()
    ids = [m["id"] for m in history["messages"]]
    assert [m["text"] for m in history["messages"]] == ["before", "while away 1", "while away 2"]
    assert len(set(ids)) == len(ids)
    assert before["id"] in ids
    await alice.disconnect()
    await bob.disconnect()


# ---------------------------------------------------------------- authors


async def test_a_signed_in_user_writes_under_their_username(live_redis):
    """The author is the username, whatever the session says."""
    client, _ = await enter(cookie=await signed_up_cookie("grace"))
    await say(client, "hi")
    assert (await next_message(client))["author"] == "grace"
    await client.disconnect()


async def test_a_guest_writes_under_their_session_name_and_a_rename_applies_at_once(live_redis):
    """The session's display name, re-read per message (the public board may rename meanwhile)."""
    session = await guest_session("Ada")
    client, _ = await enter(cookie=f"sessionid={session.session_key}")
    await say(client, "one")
    assert (await next_message(client))["author"] == "Ada"
    await rename(session, "Ada L.")
    await say(client, "two")
    assert (await next_message(client))["author"] == "Ada L."
    await client.disconnect()


async def test_a_client_without_a_session_keeps_one_guest_name(live_redis):
    """No cookie at all: a guest name chosen at connect, the same for each message."""
    client, _ = await enter()
    await say(client, "one")
    await say(client, "two")
    first, second = await next_message(client), await next_message(client)
    assert first["author"].startswith("guest-")
    assert first["author"] == second["author"]
    await client.disconnect()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "room",
    ["Lobby", "z" * 65, "café", "a b", "\uff4cobby", "%F0%9F%92%A5", "..", "<script>"],
    ids=["upper", "too-long", "accent", "space", "fullwidth", "emoji", "dots", "markup"],
)
async def test_a_bad_room_name_is_accepted_then_closed_with_4404(room):
    """Refused cleanly with a code the client can act on, before touching Redis or the database."""
    client = websocket(f"/ws/chat/{room}/")
    connected, _ = await client.connect()
    assert connected
    assert await client.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_UNKNOWN_ROOM}


async def test_an_empty_room_name_is_refused_at_the_handshake():
    """/ws/chat// matches no route: the catch-all refuses it."""
    client = websocket("/ws/chat//")
    connected, _ = await client.connect()
    assert not connected


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "text": ""},
        {"type": "message", "text": " \n\t "},
        {"type": "message", "text": "x" * 2001},
        {"type": "message"},
        {"type": "message", "text": 42},
        {"type": "message", "text": "bell\x07"},
    ],
    ids=["empty", "whitespace", "too-long", "missing", "number", "control"],
)
async def test_a_bad_message_gets_bad_message_and_nothing_is_stored(live_redis, frame):
    """The socket stays open and the next good message goes through."""
    client, _ = await enter()
    await client.send_json_to(frame)
    error = await client.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "bad_message")
    await say(client, "fine")
    assert (await next_message(client))["text"] == "fine"
    assert await stored_texts() == ["fine"]
    await client.disconnect()


async def test_the_longest_allowed_message_is_stored_whole(live_redis):
    """2000 characters (after trimming) is within the limit."""
    client, _ = await enter()
    await say(client, "é" * 2000)
    assert len((await next_message(client))["text"]) == 2000
    await client.disconnect()


@override_settings(WS_RATE_PER_SECOND=1.0, WS_RATE_BURST=5, WS_FLOOD_CLOSE_AFTER=3)
async def test_a_flood_is_rate_limited_then_closed_and_the_room_only_sees_what_passed(live_redis):
    """Five messages pass, then rate_limited, then 4008; a neighbour gets exactly the five."""
    flooder, _ = await enter()
    neighbour, _ = await enter()
    for n in range(10):
        await say(flooder, f"spam {n}")
    # The flooder's own echoes come through the room after each message is stored, so they
    # may arrive before or after the (immediate) error: read up to the close, in any order.
    outputs = [await flooder.receive_output(timeout=5)]
    while outputs[-1]["type"] != "websocket.close":
        outputs.append(await flooder.receive_output(timeout=5))
    frames = [json.loads(o["text"]) for o in outputs if o["type"] == "websocket.send"]
    assert [f["code"] for f in frames if f["type"] == "error"] == ["rate_limited"]
    assert outputs[-1] == {"type": "websocket.close", "code": CLOSE_RATE_LIMITED}
    heard = [(await next_message(neighbour))["text"] for _ in range(5)]
    assert heard == [f"spam {n}" for n in range(5)]
    assert await neighbour.receive_nothing(timeout=0.5)
    await neighbour.disconnect()


# ---------------------------------------------------------------- Redis faults and members


async def test_while_redis_is_down_messages_are_stored_and_echoed_and_nothing_crashes(live_redis):
    """Publishing fails, yet this worker's sockets get the message and it is in the database."""
    alice, _ = await enter()
    bob, _ = await enter()
    live_redis.stop()
    try:
        await say(alice, "during the outage")
        assert (await next_message(alice, timeout=10))["text"] == "during the outage"
        assert (await next_message(bob, timeout=10))["text"] == "during the outage"
        assert await stored_texts() == ["during the outage"]
    finally:
        live_redis.start()
    await say(bob, "after the outage")
    assert (await next_message(alice, timeout=10))["text"] == "after the outage"
    await alice.disconnect()
    await bob.disconnect()


async def test_each_open_socket_counts_as_one_member_until_it_leaves(live_redis):
    """The room's LiveSet holds one entry per socket; a closed socket is removed at once."""
    alice, _ = await enter()
    bob, _ = await enter()
    await until(lambda: counts(live_redis.url) == 2)
    await bob.disconnect()
    await until(lambda: counts(live_redis.url) == 1)
    await alice.disconnect()
    await until(lambda: counts(live_redis.url) == 0)


async def test_members_of_a_worker_that_stops_heartbeating_expire(live_redis):
    """A worker that dies without disconnect() leaves no phantom member after the TTL (1 s here)."""
    client, _ = await enter()
    await until(lambda: counts(live_redis.url) == 1)
    await Worker.current().stop()  # no more heartbeats, and no disconnect() either
    await until(lambda: counts(live_redis.url) == 0, timeout=5)
    await client.disconnect()


# ---------------------------------------------------------------- text rule and guest authors


async def test_text_with_a_c1_control_is_refused_and_not_stored(live_redis):
    """Issue 9: chat stored text containing U+0085 (NEL). Now bad_message, nothing stored."""
    client, _ = await enter()
    await say(client, "line\u0085break")
    error = await client.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "bad_message")
    assert "U+0085" in error["detail"]
    await say(client, "line\nbreak\tand tab")
    assert (await next_message(client))["text"] == "line\nbreak\tand tab"
    assert await stored_texts() == ["line\nbreak\tand tab"]
    await client.disconnect()


async def test_every_message_says_whether_its_author_is_an_account(live_redis):
    """guest: false for a signed-in user, true for a guest: live and in the history."""
    member, _ = await enter(cookie=await signed_up_cookie("grace"))
    visitor, _ = await enter(cookie=f"sessionid={(await guest_session('Ada')).session_key}")
    await say(member, "from grace")
    assert (await next_message(visitor))["guest"] is False
    await say(visitor, "from ada")
    assert [(m["author"], m["guest"]) for m in [await next_message(member), await next_message(member)]] == [
        ("grace", False),
        ("Ada", True),
    ]
    _, history = await enter()
    assert [(m["author"], m["guest"]) for m in history["messages"]] == [("grace", False), ("Ada", True)]
    for client in (member, visitor):
        await client.disconnect()


async def test_a_guest_whose_name_an_account_took_writes_under_a_new_guest_name(live_redis):
    """Issue 9: a guest named "ALICE" before alice signed up. Their next message (the socket was
    open all along) is not authored as alice in any case; the session keeps the new name."""
    session = await guest_session("ALICE")
    client, _ = await enter(cookie=f"sessionid={session.session_key}")
    await say(client, "before")
    assert (await next_message(client))["author"] == "ALICE"
    await sign_up("alice")
    await say(client, "after")
    after = await next_message(client)
    assert after["author"].startswith("guest-")
    assert after["guest"] is True
    await say(client, "again")
    assert (await next_message(client))["author"] == after["author"]
    await client.disconnect()


async def test_a_consumer_cancelled_late_in_its_join_leaves_no_seat_and_no_member(live_redis, monkeypatch):
    """Cancelled (Daphne gave up on it, or the worker stops) after its history went out, while its
    join still waits on Redis for the member count: the consumer never learned it was seated, so
    the join itself gives the seat up. Before, the seat stayed, and the heartbeat kept its member
    counted for as long as the worker lived."""
    import asyncio

    from shared.liveset import LiveSet
    from ws.chat import ChatRooms

    refresh, slow = LiveSet.refresh, [True]

    async def slow_first_refresh(self, members, now=None):
        if slow and slow.pop():
            await asyncio.sleep(0.3)  # a slow Redis, within the join's wait
        await refresh(self, members, now)

    monkeypatch.setattr(LiveSet, "refresh", slow_first_refresh)
    client, _ = await enter()  # the history came: seated, the join waits on the member refresh
    client.future.cancel()
    rooms = ChatRooms.current()
    await until(lambda: "lobby" not in rooms.rooms, timeout=2)
    await asyncio.sleep(1.5)  # heartbeats every 0.2 s, past the member TTL (1 s)
    assert counts(live_redis.url) == 0

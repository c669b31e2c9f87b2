"""Chat rules (shared/chat.py) against the test database and a real redis-server."""

import time

import pytest
import redis
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ValidationError

from shared.chat import (
    HISTORY_LENGTH,
    active_rooms,
    author_for,
    last_seqs,
    member_counts,
    members_key,
    message_seq,
    messages_after,
    open_room,
    post_message,
    recent_messages,
)
from shared.identity import SESSION_NAME_KEY
from shared.models import Message, Room
from shared.protocol import message_frame

pytestmark = pytest.mark.django_db


def test_posting_stores_the_message_and_returns_it_in_the_wire_shape():
    """The id is the row's, the time is epoch milliseconds, and the room is created on first use."""
    before = time.time() * 1000
    sent = post_message("lobby", "ada", "hello")
    row = Message.objects.get()
    expected = {"id": str(row.pk), "seq": 1, "room": "lobby", "author": "ada", "guest": True, "text": "hello"}
    assert sent == {**expected, "sent_at": sent["sent_at"]}
    assert before - 1 <= sent["sent_at"] <= time.time() * 1000 + 1
    assert Room.objects.get().name == "lobby"


def test_posting_moves_the_rooms_last_activity_forward():
    """The rooms list orders by last activity without reading messages."""
    quiet, busy = open_room("quiet"), open_room("busy")
    post_message("quiet", "ada", "first")
    post_message("busy", "bob", "later")
    assert [room.name for room in active_rooms()] == ["busy", "quiet"]
    quiet.refresh_from_db()
    busy.refresh_from_db()
    assert busy.last_activity_at > quiet.last_activity_at


def test_history_is_the_last_50_of_that_room_oldest_first():
    """Other rooms' messages never leak in; older ones are left out."""
    for n in range(HISTORY_LENGTH + 3):
        post_message("lobby", "ada", f"m{n}")
    post_message("other", "bob", "elsewhere")
    history = recent_messages("lobby")
    assert [m["text"] for m in history] == [f"m{n}" for n in range(3, HISTORY_LENGTH + 3)]
    assert recent_messages("nobody-here") == []


def test_each_room_numbers_its_messages_from_1_without_gaps():
    """`seq` is the message's place in its room, whatever other rooms do meanwhile."""
    seqs = [post_message(room, "ada", "m")["seq"] for room in ("lobby", "other", "lobby", "lobby", "other")]
    assert seqs == [1, 1, 2, 3, 2]
    assert last_seqs(["lobby", "other", "empty"]) == {"lobby": 3, "other": 2, "empty": 0}


def test_messages_after_a_cursor_come_in_seq_order_page_by_page():
    """The catch-up reads what a seat lacks: after its cursor, up to the newest it knows of."""
    sent = [post_message("lobby", "ada", f"m{n}") for n in range(6)]
    post_message("other", "bob", "x")
    assert messages_after("lobby", 2, 5, limit=100) == sent[2:5]
    assert messages_after("lobby", 0, 6, limit=2) == sent[0:2]
    Message.objects.filter(pk=int(sent[3]["id"])).delete()  # an admin's deletion leaves a gap
    assert [m["seq"] for m in messages_after("lobby", 2, 6, limit=100)] == [3, 5, 6]


def test_the_seq_of_a_serialized_message_frame_is_read_back():
    """Workers order the frames they relay by it."""
    assert message_seq(message_frame(post_message("lobby", "ada", "hi"))) == 1
    assert message_seq('{"type":"message","message":{"id":"7"}}') is None


def test_opening_a_room_twice_gives_the_same_room():
    """Open-or-create by name."""
    assert open_room("lobby").pk == open_room("lobby").pk
    assert Room.objects.count() == 1


@pytest.mark.parametrize("name", ["Lobby", "a b", "café", "z" * 65, "lobby\n"])
def test_the_model_refuses_room_names_outside_the_alphabet(name):
    """The admin (full_clean) enforces the same rule as the protocol."""
    with pytest.raises(ValidationError):
        Room(name=name).full_clean()


def test_a_signed_in_author_is_their_username():
    """Whatever the session holds."""
    user = get_user_model().objects.create_user("grace")
    session = SessionStore()
    session[SESSION_NAME_KEY] = "someone else"
    session.save()
    assert author_for(user, session, "guest-0000") == "grace"


def test_a_guest_author_is_read_afresh_from_the_session():
    """A rename saved by another connection (the public board) applies to the next message."""
    session = SessionStore()
    session[SESSION_NAME_KEY] = "Ada"
    session.save()
    loaded = SessionStore(session.session_key)
    assert author_for(None, loaded, "guest-0000") == "Ada"
    session[SESSION_NAME_KEY] = "Ada L."
    session.save()
    assert author_for(None, loaded, "guest-0000") == "Ada L."


def test_a_guest_without_a_named_session_gets_the_fallback():
    """No cookie, or a session without a name."""
    assert author_for(None, None, "guest-1234") == "guest-1234"
    assert author_for(None, SessionStore(), "guest-1234") == "guest-1234"


def test_member_counts_count_live_members_per_room(redis_server):
    """Members whose expiry has passed are not counted; an unknown room has none."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    now = time.time()
    client.zadd(members_key("lobby"), {"a": now + 30, "b": now + 30, "gone": now - 1})
    try:
        assert member_counts(client, ["lobby", "empty"]) == {"lobby": 2, "empty": 0}
    finally:
        client.delete(members_key("lobby"))


def test_member_counts_are_unknown_while_redis_is_down():
    """None, not an exception: the rooms page still renders."""
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert member_counts(unreachable, ["lobby"]) is None

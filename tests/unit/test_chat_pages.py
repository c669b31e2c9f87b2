"""The chat pages (web/views/chat.py) and the chat admin, through Django's test client."""

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from shared.chat import open_room, post_message
from shared.models import Room
from shared.redis import redis_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_redis() -> Iterator[None]:
    """Gunicorn's Redis client pointed at a port nobody listens on."""
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        redis_client.cache_clear()
        yield
    redis_client.cache_clear()


def test_the_rooms_page_still_renders_while_redis_is_down(client, unreachable_redis):
    """Rooms are listed from the database; the member counts show as unknown."""
    post_message("lobby", "ada", "hi")
    response = client.get("/chat/")
    assert response.status_code == 200
    assert b'data-room="lobby"' in response.content
    assert b"unknown right now" in response.content


def test_a_room_page_renders_while_redis_is_down(client, unreachable_redis):
    """A room page needs only the database."""
    post_message("lobby", "ada", "hi")
    response = client.get("/chat/lobby/")
    assert response.status_code == 200
    assert response.context["config"]["messages"][0]["text"] == "hi"


def test_a_room_page_for_an_unknown_but_valid_name_is_empty_not_missing(client, unreachable_redis):
    """Any valid name is a room; it is stored once somebody writes in it (a GET creates nothing)."""
    response = client.get("/chat/fresh/")
    assert response.status_code == 200
    assert response.context["config"]["messages"] == []
    assert not Room.objects.exists()


def test_posting_to_a_room_page_is_not_allowed(client):
    """Rooms are opened with the form on /chat/; the room page only reads."""
    assert client.post("/chat/lobby/").status_code == 405


def signed_in_admin() -> Client:
    admin = get_user_model().objects.create_superuser("root", password="irrelevant-here")
    browser = Client()
    browser.force_login(admin)
    return browser


def test_the_admin_lists_rooms():
    """A superuser sees every room by name."""
    open_room("lobby")
    open_room("quiet")
    response = signed_in_admin().get("/admin/shared/room/")
    assert response.status_code == 200
    assert b"lobby" in response.content
    assert b"quiet" in response.content


def test_the_admin_lists_messages_with_room_and_author():
    """A superuser sees each message with its room, author and text."""
    post_message("lobby", "ada", "hello from the admin test")
    response = signed_in_admin().get("/admin/shared/message/")
    assert response.status_code == 200
    for expected in (b"lobby", b"ada", b"hello from the admin test"):
        assert expected in response.content


# ---------------------------------------------------------------- a guest's name, set in a room


def test_a_guest_sets_their_name_in_a_room_and_the_page_shows_it(client):
    client.get("/chat/lobby/")  # the first visit gives a guest name
    response = client.post("/chat/lobby/name/", {"name": "  Ada  "})
    assert response.status_code == 302
    assert response["Location"] == "/chat/lobby/"
    page = client.get("/chat/lobby/")
    assert page.context["config"]["you"] == "Ada"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "required"), ("x" * 33, "1 to 32"), ("a\u202eb", "bidi"), ("guest-beef", "given by the server")],
)
def test_a_bad_name_in_a_room_is_refused_with_the_reason_and_changes_nothing(client, name, reason):
    client.get("/chat/lobby/")
    before = client.get("/chat/lobby/").context["config"]["you"]
    response = client.post("/chat/lobby/name/", {"name": name})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert client.get("/chat/lobby/").context["config"]["you"] == before


def test_a_guest_cannot_take_an_accounts_name_in_a_room(client):
    get_user_model().objects.create_user("Grace", password="irrelevant-here")
    response = client.post("/chat/lobby/name/", {"name": "GRACE"})
    assert response.status_code == 400
    assert "belongs to an account" in response.content.decode()


def test_a_signed_in_user_keeps_their_username(client):
    user = get_user_model().objects.create_user("hopper", password="irrelevant-here")
    client.force_login(user)
    assert client.post("/chat/lobby/name/", {"name": "Someone"}).status_code == 403
    assert client.get("/chat/lobby/").context["config"]["you"] == "hopper"

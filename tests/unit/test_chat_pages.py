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

"""The site's own error pages (web/views/errors.py) and the room form's lower-casing, through
Django's test client with DEBUG off, as the stack runs."""

import pytest
from django.test import Client, RequestFactory

from web.views.errors import room_hint, server_error

pytestmark = pytest.mark.django_db

SITE_PAGE_MARKS = (b'name="viewport"', b'aria-label="Main"', b"css/app.css", b'href="#main"')


def assert_site_page(content: bytes) -> None:
    for mark in SITE_PAGE_MARKS:
        assert mark in content, mark


def test_an_unknown_page_is_the_sites_own_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert_site_page(response.content)
    assert b"Page not found" in response.content
    assert b"/no/such/page/" in response.content


@pytest.mark.parametrize(
    ("path", "suggestion"),
    [("/chat/Lobby/", "lobby"), ("/chat/bad%20room!/", None), ("/chat/" + "a" * 65 + "/", None)],
)
def test_a_room_miss_says_the_room_rule_and_links_the_lower_case_room(client, path, suggestion):
    response = client.get(path)
    assert response.status_code == 404
    assert_site_page(response.content)
    text = response.content.decode()
    assert "No such room" in text
    assert "1 to 64 lower-case letters" in text
    if suggestion:
        assert f'href="/chat/{suggestion}/"' in text
    else:
        assert "Did you mean" not in text


def test_the_room_hint_is_only_for_one_segment_under_chat():
    assert room_hint("/chat/Lobby/") == {"rule": room_hint("/chat/x!/")["rule"], "suggestion": "lobby"}
    assert room_hint("/chats/Lobby/") is None
    assert room_hint("/chat/a/b/") is None
    assert room_hint("/chat/") is None


def test_a_forged_form_gets_the_sites_own_403():
    response = Client(enforce_csrf_checks=True).post("/chat/", {"name": "lobby"})
    assert response.status_code == 403
    assert_site_page(response.content)
    assert b"That form has expired" in response.content


def test_the_500_page_is_the_sites_own_without_a_request_context():
    response = server_error(RequestFactory().get("/private/"))
    assert response.status_code == 500
    assert_site_page(response.content)
    assert b"Something went wrong" in response.content


@pytest.mark.parametrize("typed", ["Lobby", "  LOBBY ", "lobby"])
def test_the_room_form_opens_the_lower_case_room(client, typed):
    response = client.post("/chat/", {"name": typed})
    assert response.status_code == 302
    assert response["Location"] == "/chat/lobby/"


def test_the_room_form_still_refuses_a_name_outside_the_rule(client):
    response = client.post("/chat/", {"name": "Lobby!"})
    assert response.status_code == 200
    assert "lower-case letters" in response.content.decode()


def test_a_bad_request_is_the_sites_own_400(client):
    """A request Django refuses before any view: a Host that is not in ALLOWED_HOSTS."""
    response = client.get("/chat/", HTTP_HOST="elsewhere.example")
    assert response.status_code == 400
    assert_site_page(response.content)
    assert b"Bad request" in response.content

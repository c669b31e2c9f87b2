"""The compose stack from outside, as a browser and an operator see it: every service healthy,
pages and static files through nginx, WebSockets with the right and a foreign Origin, and a
chat message crossing both ws replicas and landing in Postgres."""

import urllib.error
import urllib.parse
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus

from tests.chatclient import next_message, say, unique_room
from tests.compose.project import REPO, containers, expected_services, not_ready
from tests.helpers import connect, fetch, receive, request


def test_every_service_is_healthy_with_its_replicas():
    """redis, postgres, web, two ws and nginx healthy; migrate and publish-static exited 0."""
    running = containers()
    assert not_ready(running) == []
    assert expected_services()["ws"].replicas == 2
    assert len([c for c in running if c.service == "ws"]) == 2


def test_home_page_comes_from_gunicorn_through_nginx(base_url):
    """`/` is Django's page, with the security headers nginx adds."""
    status, headers, body = fetch(base_url + "/")
    assert status == 200
    assert b"Ping App" in body
    assert headers["X-Frame-Options"] == "DENY"


def test_healthz_answers_through_nginx(base_url):
    """/healthz is 200: Gunicorn reached Postgres and Redis."""
    status, _, _ = fetch(base_url + "/healthz")
    assert status == 200


def test_static_file_is_the_images_copy_served_by_nginx(base_url):
    """A static file comes from the `static` volume publish-static filled: the repo's bytes."""
    status, headers, body = fetch(base_url + "/static/js/socket.js")
    assert status == 200
    assert body == (REPO / "web/static/js/socket.js").read_bytes()
    assert "javascript" in headers["Content-Type"]


async def test_ping_with_the_sites_origin_is_answered(base_url):
    """/ws/ping/ through nginx to a Daphne replica: a pong with the same seq."""
    async with connect(base_url.replace("http://", "ws://"), "/ws/ping/", origin=base_url) as socket:
        pong = await request(socket, {"type": "ping", "seq": 7, "sent_at": 1.5})
    assert (pong["type"], pong["seq"], pong["sent_at"]) == ("pong", 7, 1.5)


async def test_a_foreign_origin_is_refused_with_403(base_url):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(base_url.replace("http://", "ws://"), "/ws/ping/", origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def enter(url: str, room: str, origin: str):
    """Join `room` at `url` (nginx, or one replica's ws://address:8001) as a page of `origin`
    would: a replica is reached by its address but asked for the site's host, as nginx passes it
    on, since a handshake opens only from the origin of the host it is for."""
    target = urllib.parse.urlsplit(url)
    site = origin.replace("http://", "ws://")
    socket = await connect(site, f"/ws/chat/{room}/", origin=origin, host=target.hostname, port=target.port)
    history = await receive(socket, timeout=10)
    assert history["type"] == "history", history
    return socket, history["messages"]


async def test_a_chat_message_crosses_both_ws_replicas_and_is_stored(base_url):
    """One socket on each ws replica (by its address on the compose network) and one through
    nginx: a message said on either replica reaches the other two with one id, and a socket
    opened afterwards gets both in its history (from Postgres)."""
    replicas = [c.address for c in containers() if c.service == "ws"]
    assert len(replicas) == 2, replicas
    assert all(replicas), replicas
    room = unique_room("compose")
    first, _ = await enter(f"ws://{replicas[0]}:8001", room, base_url)
    second, _ = await enter(f"ws://{replicas[1]}:8001", room, base_url)
    public, _ = await enter(base_url.replace("http://", "ws://"), room, base_url)
    try:
        for sender, listeners, text in ((first, (second, public), "from one"), (second, (first, public), "from two")):
            await say(sender, text)
            echo = await next_message(sender)
            heard = [await next_message(listener) for listener in listeners]
            assert {(m["text"], m["id"]) for m in heard} == {(text, echo["id"])}
        late, history = await enter(base_url.replace("http://", "ws://"), room, base_url)
        await late.close()
        assert [m["text"] for m in history][-2:] == ["from one", "from two"]
    finally:
        for socket in (first, second, public):
            await socket.close()

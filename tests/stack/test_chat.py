"""Chat over real sockets through nginx, with clients on both Daphne workers; the chat pages
through Gunicorn; and what chat does when Redis is killed in the middle of a conversation."""

import asyncio
import http.cookiejar
import json
import re
import sqlite3
import time
import urllib.parse
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from deploy.stack import WS_WORKERS
from shared.protocol import CLOSE_UNKNOWN_ROOM
from tests.chatclient import Listener, enter, enter_on_both_workers, next_message, say, unique_room
from tests.conftest import start_stack, stop_stack
from tests.helpers import connect, receive

pytestmark = pytest.mark.stack


class Browser:
    """Just enough of a browser for the pages: cookies, and no automatic redirects."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), self._NoRedirect)

    def get(self, path: str) -> tuple[int, dict, str]:
        return self._open(urllib.request.Request(self.base_url + path))

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, dict, str]:
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Referer": self.base_url + path})
        return self._open(request)

    def _open(self, request) -> tuple[int, dict, str]:
        try:
            with self._opener.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()


def page_config(html: str) -> dict:
    """The JSON a page hands its script (json_script)."""
    found = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found[1])


async def close_code(socket) -> int | None:
    """Wait for the server to close the socket; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        await receive(socket, timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


# ---------------------------------------------------------------- live chat across workers


async def test_clients_on_both_daphne_workers_hear_each_message_once_within_a_second(stack):
    """Six sockets over two workers: each message reaches all six, with one id, in under a second."""
    room = unique_room("both")
    sockets = await enter_on_both_workers(stack, room)
    for n, sender in enumerate(sockets[:3]):
        started = time.monotonic()
        await say(sender, f"hello {n}")
        heard = await asyncio.gather(*(next_message(s) for s in sockets))
        assert time.monotonic() - started < 1.0
        assert {(m["text"], m["id"]) for m in heard} == {(f"hello {n}", heard[0]["id"])}
    for socket in sockets:
        with pytest.raises(TimeoutError):
            await receive(socket, timeout=0.5)  # nothing more: no duplicate from any path
        await socket.close()


async def test_a_client_that_reconnects_catches_up_from_history_without_duplicates(stack):
    """Messages said while it was away are in its new history, every id once, in order."""
    room = unique_room("back")
    sockets = await enter_on_both_workers(stack, room, count=4)
    speaker, leaver = sockets[0], sockets[1]
    await say(speaker, "before")
    before = await next_message(leaver)
    await next_message(speaker)
    await leaver.close()
    for text in ("while away 1", "while away 2"):
        await say(speaker, text)
        assert (await next_message(speaker))["text"] == text  # stored by now
    _, history = await enter(stack, room)
    assert [m["text"] for m in history] == ["before", "while away 1", "while away 2"]
    assert len({m["id"] for m in history}) == 3
    assert history[0]["id"] == before["id"]
    for socket in sockets:
        await socket.close()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "room",
    ["Lobby", "caf%C3%A9", "%F0%9F%92%A5", "a%20b", "z" * 65, "%3Cscript%3E"],
    ids=["upper", "accent", "emoji", "space", "too-long", "markup"],
)
async def test_a_bad_room_name_is_closed_with_4404_and_the_workers_carry_on(stack, room):
    """Accepted, then closed with 4404 (a refused handshake would carry no reason); no crash."""
    async with connect(stack.ws_url, f"/ws/chat/{room}/") as socket:
        assert await close_code(socket) == CLOSE_UNKNOWN_ROOM
    socket, _ = await enter(stack, unique_room("after-bad"))
    await socket.close()
    assert all(stack.worker_is_ready(n) for n in WS_WORKERS)


async def test_bad_messages_get_bad_message_and_neighbours_notice_nothing(stack):
    """Empty, blank and overlong texts are refused to the sender only; the room hears the good one."""
    room = unique_room("bad")
    sender, _ = await enter(stack, room)
    neighbour, _ = await enter(stack, room)
    for text in ("", "   \n ", "x" * 2001):
        await say(sender, text)
        error = await receive(sender)
        assert (error["type"], error["code"]) == ("error", "bad_message")
    await say(sender, "good")
    assert (await next_message(neighbour))["text"] == "good"
    assert (await next_message(sender))["text"] == "good"
    await sender.close()
    await neighbour.close()


# ---------------------------------------------------------------- pages


async def test_the_rooms_page_lists_rooms_with_member_counts_and_last_activity(stack):
    """/chat/ shows each room, how many sockets are in it now, and when it was last active."""
    room = unique_room("listed")
    first, _ = await enter(stack, room)
    second, _ = await enter(stack, room)
    await say(first, "make the room")
    await next_message(first)
    status, _, html = await asyncio.to_thread(Browser(stack.url).get, "/chat/")
    await first.close()
    await second.close()
    assert status == 200
    row = re.search(rf'<tr data-room="{room}">(.*?)</tr>', html, re.S)[1]
    assert f'href="/chat/{room}/"' in row
    assert re.search(r'class="rooms__members">\s*2\s*<', row)
    assert re.search(r"<time datetime=\"[^\"]+\"[^>]*>just now</time>", row)


async def test_a_room_page_carries_its_last_messages_and_its_socket_path(stack):
    """The page has the history in its data, so messages show before the socket opens."""
    room = unique_room("page")
    socket, _ = await enter(stack, room)
    await say(socket, "<b>kept</b>")
    await next_message(socket)
    await socket.close()
    status, _, html = await asyncio.to_thread(Browser(stack.url).get, f"/chat/{room}/")
    assert status == 200
    config = page_config(html)
    assert config["ws_path"] == f"/ws/chat/{room}/"
    assert [m["text"] for m in config["messages"]] == ["<b>kept</b>"]
    assert "<b>kept</b>" not in html  # only ever inside the escaped JSON
    assert config["you"].startswith("guest-")


@pytest.mark.parametrize("path", ["/chat/Lobby/", "/chat/caf%C3%A9/", "/chat/%3Cscript%3E/", "/chat/" + "z" * 65 + "/"])
def test_a_room_page_with_a_bad_name_is_a_404_not_a_500(stack, path):
    """Any name outside the alphabet, including non-ASCII, is simply not a room."""
    status, _, body = Browser(stack.url).get(path)
    assert status == 404
    assert "<script>" not in body


def test_the_open_form_creates_a_room_and_goes_there(stack):
    """A valid name redirects to the room, which is listed from then on."""
    browser = Browser(stack.url)
    browser.get("/chat/")
    room = unique_room("made")
    status, headers, _ = browser.post("/chat/", {"name": room})
    assert status == 302
    assert headers["Location"] == f"/chat/{room}/"
    assert f'data-room="{room}"' in browser.get("/chat/")[2]


@pytest.mark.parametrize("name", ["Not Valid", "café", "", "z" * 65])
def test_the_open_form_refuses_a_bad_name_with_a_clear_error(stack, name):
    """The page comes back with the rule, and no room is created."""
    browser = Browser(stack.url)
    browser.get("/chat/")
    status, _, html = browser.post("/chat/", {"name": name})
    assert status == 200
    assert 'class="form-error"' in html


def test_the_open_form_needs_its_csrf_token(stack):
    """A cross-site form post is refused."""
    request = urllib.request.Request(stack.url + "/chat/", data=b"name=forged")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


# ---------------------------------------------------------------- Redis killed mid-conversation

# A heartbeat (so a catch-up) every 2 s: fast enough to test in seconds, slow enough that
# "at once" (under 1 s) can only be the sender's own worker echoing its message.
FAULT_ENV = {"LIVE_HEARTBEAT_SECONDS": "2", "LIVE_TTL_SECONDS": "5"}


@pytest.fixture(scope="module")
def fault_stack():
    stack = start_stack(**FAULT_ENV)
    yield stack
    stop_stack(stack)


def stored(stack, room: str) -> list[tuple[str, str]]:
    """(id, text) of the room's rows, straight from the stack's SQLite file."""
    with sqlite3.connect(stack.run_dir / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT m.id, m.text FROM shared_message m JOIN shared_room r ON r.id = m.room_id"
            " WHERE r.name = ? ORDER BY m.id",
            (room,),
        ).fetchall()
    return [(str(pk), text) for pk, text in rows]


async def everyone_hears(listeners: list[Listener], texts: list[str], timeout: float = 10) -> None:
    await asyncio.gather(*(listener.until_heard(texts, timeout) for listener in listeners))


async def test_killing_redis_mid_conversation_loses_no_stored_message(fault_stack):
    """Redis stops while six sockets on two workers chat. Every message is stored; each sender
    gets its own at once and everyone else gets it from the database catch-up, even before Redis
    is back; chat goes on live after; nothing arrives twice, no worker dies, and a newcomer's
    history holds exactly what was stored."""
    stack = fault_stack
    room = unique_room("outage")
    pids = {n: stack.pid_of(f"ws:ws-{n}") for n in WS_WORKERS}
    listeners = [Listener(socket) for socket in await enter_on_both_workers(stack, room)]
    await say(listeners[0].socket, "before")
    await everyone_hears(listeners, ["before"])

    stack.ctl("stop", "redis")
    try:
        during = []
        for n, sender in enumerate(listeners):
            during.append(f"during {n}")
            await say(sender.socket, during[-1])
            await sender.until_heard(during[-1:], timeout=1)
        await everyone_hears(listeners, during)
        status, _, html = await asyncio.to_thread(Browser(stack.url).get, "/chat/")
        assert status == 200
        assert "unknown right now" in html
    finally:
        stack.ctl("start", "redis")

    after = ["after 1", "after 2"]
    await say(listeners[-1].socket, after[0])
    await say(listeners[0].socket, after[1])
    said = ["before", *during, *after]
    await everyone_hears(listeners, said)
    await asyncio.sleep(2 * float(FAULT_ENV["LIVE_HEARTBEAT_SECONDS"]))  # room for a late duplicate
    for listener in listeners:
        assert sorted(listener.texts()) == sorted(said), "a message missing or arriving twice"

    rows = stored(stack, room)
    assert sorted(text for _, text in rows) == sorted(said)
    _, history = await enter(stack, room)
    assert [(m["id"], m["text"]) for m in history] == rows
    assert {n: stack.pid_of(f"ws:ws-{n}") for n in WS_WORKERS} == pids
    for listener in listeners:
        await listener.close()

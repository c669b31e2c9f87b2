"""Accounts and presence over real sockets: nginx, Gunicorn, both Daphne workers and Redis.

The stack runs with a fast heartbeat (0.5 s) and expiry (2 s) so that a killed worker's users
go offline within seconds, and the default grace (3 s) and sweep (1 s).
"""

import asyncio
import json
import os
import re
import signal
import time

import pytest
from websockets.exceptions import ConnectionClosed

from shared.protocol import CLOSE_SIGN_IN_REQUIRED
from tests.conftest import start_stack, stop_stack
from tests.helpers import connect, next_of, no_frame_of, on_worker, receive, until, watch_presence
from tests.stack.visitor import Visitor, new_user

pytestmark = pytest.mark.stack

HEARTBEAT = 0.5
TTL = 2.0
GRACE = 3.0
SWEEP = 1.0
# Slack for two busy cores shared with other test runs.
MARGIN = 1.5


@pytest.fixture(scope="module")
def stack():
    running = start_stack(
        LIVE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        LIVE_TTL_SECONDS=str(TTL),
        PRESENCE_GRACE_SECONDS=str(GRACE),
        PRESENCE_SWEEP_SECONDS=str(SWEEP),
    )
    yield running
    stop_stack(running)


def row_state(page_body: str, username: str) -> str:
    """data-online of a user's row on the server-rendered /users/ page."""
    match = re.search(rf'data-username="{re.escape(username)}" data-online="(\w+)"', page_body)
    assert match, f"no row for {username}"
    return match[1]


# ---------------------------------------------------------------- accounts


def test_signing_up_signs_the_new_user_in_and_opens_the_users_page(stack):
    """The form creates the account, signs in (session cookie) and lands on /users/."""
    alice = new_user(stack, "alice")
    page = alice.get("/users/")
    assert page.url.endswith("/users/")
    assert alice.cookie("sessionid")
    assert row_state(page.body, alice.username) in {"true", "false"}
    assert f'<bdi class="account__name">{alice.username}</bdi>' in page.body


def test_signing_out_then_in_again_with_the_forms(stack):
    """Sign out (POST) leads home, /users/ then asks for sign-in; signing in leads back to it."""
    bob = new_user(stack, "bob")
    assert bob.sign_out().url == stack.url + "/"
    assert bob.get("/users/").url == stack.url + "/accounts/login/?next=/users/"
    back = bob.sign_in(bob.username)
    assert back.url == stack.url + "/users/"
    assert bob.username in back.body


def test_a_wrong_password_is_refused_with_a_message(stack):
    """The login form says what went wrong and signs nobody in."""
    carol = new_user(stack, "carol")
    stranger = Visitor(stack.url)
    page = stranger.sign_in(carol.username, "not-the-password")
    assert page.url.endswith("/accounts/login/")
    assert "correct username and password" in page.body
    assert stranger.get("/users/").url.endswith("/accounts/login/?next=/users/")


def test_a_weak_password_or_a_taken_username_is_refused(stack):
    """Django's password validators and the unique username both apply to sign-up."""
    dave = new_user(stack, "dave")
    weak = Visitor(stack.url).sign_up("someone-new", password="12345")
    assert "too short" in weak.body
    taken = Visitor(stack.url).sign_up(dave.username.upper())
    assert "already exists" in taken.body


def test_forms_posted_without_their_csrf_token_are_refused(stack):
    """CSRF protection on sign-up, sign-in and sign-out."""
    visitor = Visitor(stack.url)
    visitor.get("/")  # a csrftoken cookie, but no token in the form
    for path in ("/accounts/signup/", "/accounts/login/", "/accounts/logout/"):
        assert visitor.submit(path, {"username": "x", "password": "y"}, csrf=False).status == 403, path


# ---------------------------------------------------------------- presence


async def test_an_anonymous_presence_socket_is_closed_with_4401(stack):
    """Through nginx and Daphne, the close code survives to the client."""
    async with connect(stack.ws_url, "/ws/presence/") as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket)
    assert closed.value.rcvd.code == CLOSE_SIGN_IN_REQUIRED


async def test_tabs_on_both_workers_count_as_one_user_and_closing_one_keeps_them_online(stack):
    """Online within 1 s of the first tab (on the other worker), still online after one of two
    tabs closes, offline after the grace once the last one closes."""
    watcher = await watch_presence(stack, 2, new_user(stack, "watcher"))
    erin = new_user(stack, "erin")
    opened_at = time.monotonic()
    first = await on_worker(stack, 1, "/ws/ping/", erin)
    assert (await next_of(watcher, "status", username=erin.username, timeout=1.0))["online"] is True
    online_took = time.monotonic() - opened_at
    assert online_took < 1.0
    second = await on_worker(stack, 2, "/ws/ping/", erin)
    await first.close()
    await no_frame_of(watcher, "status", GRACE + SWEEP + MARGIN, username=erin.username)
    await second.close()
    closed_at = time.monotonic()
    offline = await next_of(watcher, "status", username=erin.username, timeout=GRACE + SWEEP + MARGIN + 1)
    took = time.monotonic() - closed_at
    print(f"\nonline {online_took:.2f} s after the first tab opened; offline {took:.2f} s after the last closed")
    assert offline["online"] is False
    assert GRACE - 0.2 <= took <= GRACE + SWEEP + MARGIN, took
    await watcher.close()


async def test_a_reload_moving_to_the_other_worker_does_not_flicker(stack):
    """Close on worker 1, reopen on worker 2 half a second later: watchers hear nothing."""
    watcher = await watch_presence(stack, 1, new_user(stack, "watcher"))
    frank = new_user(stack, "frank")
    page = await on_worker(stack, 1, "/ws/ping/", frank)
    await next_of(watcher, "status", username=frank.username)
    await page.close()
    await asyncio.sleep(0.5)
    page = await on_worker(stack, 2, "/ws/ping/", frank)
    await no_frame_of(watcher, "status", GRACE + SWEEP + MARGIN, username=frank.username)
    await page.close()
    await watcher.close()


async def test_the_users_page_is_rendered_with_the_current_statuses(stack):
    """Gunicorn reads Redis: a user with an open socket shows online before any socket opens."""
    gina = new_user(stack, "gina")
    reader = new_user(stack, "reader")
    async with connect(stack.ws_url, "/ws/ping/", additional_headers=gina.socket_headers):
        await until(
            lambda: row_state(reader.get("/users/").body, gina.username) == "true", 5, 0.1, "never shown online"
        )
    assert row_state(reader.get("/users/").body, reader.username) == "false"


async def test_users_of_a_worker_killed_with_sigkill_go_offline_within_the_expiry(stack):
    """kill -9 runs no disconnect(): the user's connection expires (TTL) and the surviving
    worker's sweep announces the offline; nobody stays online for ever."""
    watcher = await watch_presence(stack, 2, new_user(stack, "watcher"))
    henry = new_user(stack, "henry")
    doomed = await on_worker(stack, 1, "/ws/ping/", henry)
    await next_of(watcher, "status", username=henry.username)
    await asyncio.sleep(HEARTBEAT * 2)  # a steady state: at least one heartbeat since the join
    try:
        killed_at = time.monotonic()
        os.kill(stack.pid_of("ws:ws-1"), signal.SIGKILL)
        offline = await next_of(watcher, "status", username=henry.username, timeout=TTL + SWEEP + MARGIN + 2)
        took = time.monotonic() - killed_at
    finally:
        await doomed.close()
        stack.wait_until_ready(30)  # supervisor restarts the worker
    assert offline["online"] is False
    print(f"\noffline {took:.2f} s after kill -9 (TTL {TTL} s, heartbeat {HEARTBEAT} s, sweep {SWEEP} s)")
    assert TTL - HEARTBEAT - 0.2 <= took <= TTL + SWEEP + MARGIN, took
    reader = new_user(stack, "reader")
    assert row_state(reader.get("/users/").body, henry.username) == "false"
    await watcher.close()


async def test_signed_in_users_appear_on_the_public_board_and_in_chat_under_their_username(stack):
    """The session cookie is how the Daphne consumers know who a socket is."""
    ivy = new_user(stack, "ivy")
    async with connect(stack.ws_url, "/ws/public/", additional_headers=ivy.socket_headers) as board:
        assert (await next_of(board, "welcome"))["you"]["name"] == ivy.username
    async with connect(stack.ws_url, "/ws/chat/lobby/", additional_headers=ivy.socket_headers) as room:
        await next_of(room, "history")
        await room.send(json.dumps({"type": "message", "text": "hello from ivy"}))
        message = (await next_of(room, "message"))["message"]
    assert (message["author"], message["text"]) == (ivy.username, "hello from ivy")


# ---------------------------------------------------------------- Redis faults (kept last: they restart Redis)


def test_the_users_page_says_statuses_are_unknown_while_redis_is_down(stack):
    """Sign-in (sessions live in the database) and the page still work; statuses show unknown."""
    jack = new_user(stack, "jack")
    stack.ctl("stop", "redis")
    try:
        page = jack.get("/users/")
    finally:
        stack.ctl("start", "redis")
        stack.wait_until_ready(30)
    assert page.status == 200
    assert row_state(page.body, jack.username) == "unknown"
    assert "Statuses are unavailable right now" in page.body


async def test_presence_recovers_by_itself_after_redis_restarts_empty(stack):
    """Redis loses everything: open sockets are rewritten by the next heartbeat (still online),
    and new changes reach watchers again."""
    watcher_user, kate, leo = new_user(stack, "watcher"), new_user(stack, "kate"), new_user(stack, "leo")
    watcher = await watch_presence(stack, 2, watcher_user)
    kates_page = await on_worker(stack, 1, "/ws/ping/", kate)
    await next_of(watcher, "status", username=kate.username)
    stack.ctl("restart", "redis")
    stack.wait_until_ready(30)
    await until(
        lambda: row_state(leo.get("/users/").body, kate.username) == "true",
        10,
        0.2,
        "kate not rewritten after the restart",
    )
    async with connect(stack.ws_url, "/ws/ping/", additional_headers=leo.socket_headers):
        online = await next_of(watcher, "status", username=leo.username, timeout=10)
    assert online["online"] is True
    await kates_page.close()
    await watcher.close()

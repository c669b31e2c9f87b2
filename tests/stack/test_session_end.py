"""Sessions that end close their sockets, over real processes: nginx, Gunicorn, both Daphne
workers, Redis. A visitor signs in through the pages (a real cookie), opens chat and presence
sockets on each worker and one through nginx; then the session ends.

- What the app sees (a sign-out in another tab, a password change through the site, a user
  deactivated or deleted through the ORM in another process) closes every socket of that
  session with 4401 within 2 s. That stack's heartbeat is 30 s, so only the announcement can.
- What it cannot see (a session deleted or expired directly in the database, a user changed
  there) closes them within one heartbeat (2 s on that stack).
"""

import asyncio
import json
import sqlite3
import subprocess
import sys
import time

import pytest
from websockets.exceptions import ConnectionClosed

from deploy.stack import REPO, WS_WORKERS
from shared.protocol import CLOSE_SIGN_IN_REQUIRED
from tests.chatclient import unique_room
from tests.conftest import start_stack, stop_stack
from tests.helpers import connect, next_of, on_worker, receive
from tests.stack.visitor import PASSWORD, Visitor, new_user

pytestmark = pytest.mark.stack

ANNOUNCED_WITHIN = 2.0
SLOW_HEARTBEAT = 30.0
HEARTBEAT = 2.0
# Slack for two busy cores shared with other test runs (the heartbeat's own bound only).
MARGIN = 1.0
GRACE = 3.0
SWEEP = 1.0


@pytest.fixture(scope="class")
def slow_heartbeat_stack():
    running = start_stack(LIVE_HEARTBEAT_SECONDS=str(SLOW_HEARTBEAT), LIVE_TTL_SECONDS=str(2 * SLOW_HEARTBEAT))
    yield running
    stop_stack(running)


@pytest.fixture(scope="class")
def fast_heartbeat_stack():
    running = start_stack(LIVE_HEARTBEAT_SECONDS=str(HEARTBEAT), LIVE_TTL_SECONDS=str(2 * HEARTBEAT))
    yield running
    stop_stack(running)


# ---------------------------------------------------------------- helpers


def another_browser(stack, visitor: Visitor) -> Visitor:
    """The same user signed in from another browser: a session of its own."""
    other = Visitor(stack.url)
    assert other.sign_in(visitor.username).status == 200
    return other


async def open_everywhere(stack, visitor: Visitor, room: str) -> list:
    """Chat and presence on each worker, and a ping socket through nginx; all greeted."""
    sockets = []
    for worker in WS_WORKERS:
        for path in (f"/ws/chat/{room}/", "/ws/presence/"):
            socket = await on_worker(stack, worker, path, visitor)
            assert (await receive(socket, 10))["type"] in {"history", "presence", "status"}
            sockets.append(socket)
    ping = await connect(stack.ws_url, "/ws/ping/", additional_headers=visitor.socket_headers)
    await ping.send(json.dumps({"type": "ping", "seq": 1}))
    assert (await receive(ping, 10))["type"] == "pong"  # signed in and served
    # Past each socket's first check (after its worker joins the topic), so that only what the
    # test does next can close them.
    await asyncio.sleep(1.0)
    return [*sockets, ping]


async def close_code(socket, timeout: float) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def all_closed_with_4401(sockets: list, within: float) -> float:
    """Wait for every socket's close; each must be 4401. Returns how long the last one took."""
    started = time.monotonic()
    codes = await asyncio.gather(*(close_code(socket, within + 5) for socket in sockets))
    took = time.monotonic() - started
    assert codes == [CLOSE_SIGN_IN_REQUIRED] * len(sockets), codes
    return took


async def still_open(socket, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            while True:
                await socket.recv()
    except TimeoutError:
        return True
    except ConnectionClosed:
        return False


def database(stack) -> sqlite3.Connection:
    url = stack.env["DATABASE_URL"]
    assert url.startswith("sqlite:///"), "these tests edit start_stack's SQLite file directly"
    path = url.removeprefix("sqlite:///")
    return sqlite3.connect(path, timeout=20, isolation_level=None)


def orm_in_another_process(stack, code: str) -> float:
    """Run ORM code in a process of its own (as a management command or a script would);
    returns the wall-clock time its change was committed."""
    setup = "import django, time; django.setup()\nfrom django.contrib.auth import get_user_model"
    script = f"{setup}\n{code}\nprint(time.time())"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=stack.process_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


# ---------------------------------------------------------------- what the app sees


@pytest.mark.usefixtures("slow_heartbeat_stack")
class TestAnnounced:
    async def test_signing_out_in_another_tab_closes_the_sessions_sockets_on_both_workers(self, slow_heartbeat_stack):
        """Within 2 s, 4401 on chat and presence on both workers and ping through nginx; no
        message under the username after; watchers see the user offline after the grace."""
        stack = slow_heartbeat_stack
        room = unique_room("signout")
        alice, bob = new_user(stack, "alice"), new_user(stack, "bob")
        watcher = await on_worker(stack, 2, "/ws/presence/", new_user(stack, "watcher"))
        listener = await on_worker(stack, 1, f"/ws/chat/{room}/", bob)
        await receive(listener, 10)
        sockets = await open_everywhere(stack, alice, room)
        assert (await next_of(watcher, "status", username=alice.username, timeout=10))["online"] is True

        # Alice's first tab keeps talking while the second one signs out.
        sent = 0

        async def keep_talking(socket) -> None:
            nonlocal sent
            try:
                while True:
                    await socket.send(json.dumps({"type": "message", "text": f"still here {sent}"}))
                    sent += 1
                    await asyncio.sleep(0.02)
            except ConnectionClosed:
                return  # the server closed it: what the test waits for

        talker = asyncio.create_task(keep_talking(sockets[0]))
        await asyncio.sleep(0.3)
        signed_out_at = time.monotonic()
        assert alice.sign_out().url == stack.url + "/"  # the same cookie: another tab
        took = await all_closed_with_4401(sockets, ANNOUNCED_WITHIN)
        closed_at = time.time()
        await talker
        total = time.monotonic() - signed_out_at
        print(f"\nall {len(sockets)} sockets closed {total:.2f} s after the sign-out began ({sent} messages tried)")
        assert total <= ANNOUNCED_WITHIN

        # Nothing under her name after the close: what bob hears, and what the room stored.
        heard = []
        while True:
            try:
                frame = await receive(listener, 1.0)
            except TimeoutError:
                break
            if frame["type"] == "message":
                heard.append(frame["message"])
        mine = [m for m in heard if m["author"] == alice.username]
        assert mine, "the talker never got through before the sign-out: the test proves nothing"
        assert all(m["sent_at"] <= closed_at * 1000 for m in mine)
        reader = await on_worker(stack, 2, f"/ws/chat/{room}/", bob)
        history = (await receive(reader, 10))["messages"]
        assert [m["id"] for m in history if m["author"] == alice.username] == [m["id"] for m in mine]

        offline = await next_of(watcher, "status", username=alice.username, timeout=GRACE + SWEEP + 3)
        assert offline["online"] is False
        print(f"offline announced {time.monotonic() - signed_out_at - took:.2f} s after the close")
        for socket in (watcher, listener, reader):
            await socket.close()

    async def test_a_sign_out_leaves_the_users_other_sessions_and_presence_alone(self, slow_heartbeat_stack):
        stack = slow_heartbeat_stack
        carol = new_user(stack, "carol")
        laptop = another_browser(stack, carol)
        watcher = await on_worker(stack, 1, "/ws/presence/", new_user(stack, "watcher"))
        kept = await on_worker(stack, 2, "/ws/ping/", laptop)
        sockets = await open_everywhere(stack, carol, unique_room("kept"))
        assert (await next_of(watcher, "status", username=carol.username, timeout=10))["online"] is True
        carol.sign_out()
        await all_closed_with_4401(sockets, ANNOUNCED_WITHIN)
        assert await still_open(kept, 1.0)
        with pytest.raises(TimeoutError):  # no offline: the laptop is on
            await next_of(watcher, "status", username=carol.username, timeout=GRACE + SWEEP + 1)
        for socket in (kept, watcher):
            await socket.close()

    async def test_a_password_change_through_the_site_closes_every_session_of_the_user(self, slow_heartbeat_stack):
        """The admin's password form (update_session_auth_hash): the browser that changed it has
        a new session key, the others' auth hash no longer matches; all old sockets close."""
        stack = slow_heartbeat_stack
        dave = new_user(stack, "dave")
        with database(stack) as db:
            db.execute("UPDATE auth_user SET is_staff = 1 WHERE username = ?", (dave.username,))
        laptop = another_browser(stack, dave)
        sockets = await open_everywhere(stack, dave, unique_room("pw")) + await open_everywhere(
            stack, laptop, unique_room("pw")
        )
        new_password = "a-brand-new-passphrase-1"
        fields = {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password}
        changed_at = time.monotonic()
        page = dave.submit("/admin/password_change/", fields)
        assert page.url.endswith("/admin/password_change/done/"), page.body[:2000]
        await all_closed_with_4401(sockets, ANNOUNCED_WITHIN)
        assert time.monotonic() - changed_at <= ANNOUNCED_WITHIN
        # The browser that changed it is still signed in, under its new session.
        async with on_worker(stack, 1, "/ws/ping/", dave) as fresh:
            assert await still_open(fresh, 1.0)

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ("deactivated", "u = get_user_model().objects.get(username={name!r}); u.is_active = False; u.save()"),
            ("deleted", "get_user_model().objects.get(username={name!r}).delete()"),
            (
                "given a new password",
                "u = get_user_model().objects.get(username={name!r}); u.set_password('x-new-pass-9'); u.save()",
            ),
        ],
    )
    async def test_a_user_changed_through_the_orm_in_another_process(self, slow_heartbeat_stack, change, code):
        stack = slow_heartbeat_stack
        erin = new_user(stack, "erin")
        sockets = await open_everywhere(stack, erin, unique_room("orm"))
        committed_at = orm_in_another_process(stack, code.format(name=erin.username))
        await all_closed_with_4401(sockets, ANNOUNCED_WITHIN)
        took = time.time() - committed_at
        print(f"\n{change}: closed {took:.2f} s after the commit")
        assert took <= ANNOUNCED_WITHIN


# ---------------------------------------------------------------- what only the heartbeat finds


@pytest.mark.usefixtures("fast_heartbeat_stack")
class TestFoundByTheHeartbeat:
    @pytest.mark.parametrize(
        ("change", "sql"),
        [
            ("session deleted", "DELETE FROM django_session WHERE session_key = :key"),
            (
                "session expired",
                "UPDATE django_session SET expire_date = '2000-01-01 00:00:00' WHERE session_key = :key",
            ),
            ("user deactivated", "UPDATE auth_user SET is_active = 0 WHERE username = :name"),
            ("password replaced", "UPDATE auth_user SET password = 'md5$x$y' WHERE username = :name"),
        ],
    )
    async def test_a_change_made_directly_in_the_database(self, fast_heartbeat_stack, change, sql):
        stack = fast_heartbeat_stack
        frank = new_user(stack, "frank")
        sockets = await open_everywhere(stack, frank, unique_room("db"))
        with database(stack) as db:
            db.execute(sql, {"key": frank.cookie("sessionid"), "name": frank.username})
        took = await all_closed_with_4401(sockets, HEARTBEAT + MARGIN)
        print(f"\n{change}: closed {took:.2f} s after (heartbeat {HEARTBEAT} s)")
        assert took <= HEARTBEAT + MARGIN

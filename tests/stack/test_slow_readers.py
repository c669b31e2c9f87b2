"""Peers that send but never read, through real nginx and Daphne: each is closed (4009, or its
connection dropped) within 30 s and before it owes ~1 MB, while the readers beside it notice
nothing. The workers' memory over a longer run: `python -m tests.stack.slow_readers`."""

import asyncio
import contextlib
import json
import re
import sqlite3
import time

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed

from deploy.stack import WS_WORKERS
from tests.chatclient import enter, say, unique_room
from tests.conftest import start_stack, stop_stack
from tests.slowpeer import OPCODE_PING, OPCODE_PONG, SlowPeer
from tests.stack.slow_readers import SLOW_REPORTS_PER_SECOND, scenario

pytestmark = pytest.mark.stack

MIB = 1024 * 1024
READERS, SLOW_PEERS, SECONDS = 20, 4, 20


@pytest.fixture(scope="module")
def slow_stack():
    stack = start_stack()
    yield stack
    stop_stack(stack)


def test_peers_that_never_read_are_closed_and_readers_see_no_difference(slow_stack):
    readers, slow = asyncio.run(scenario(slow_stack, SECONDS, READERS, SLOW_PEERS))
    # Every `delays` answer the board sent, at its largest: what a slow peer's report costs.
    answer = max(size for reader in readers for size in reader.frame_sizes)

    assert len(slow) == SLOW_PEERS
    for peer in slow:
        assert peer.closed_after is not None, f"a peer that never reads was not closed in {SECONDS} s"
        assert peer.closed_after <= 30
        # Everything the server answered before the peer saw its connection end, as if none
        # of it had been read: more than the server held when it gave up.
        assert peer.sent_frames * answer < 1 * MIB, (peer.sent_frames, answer)
        assert peer.ending.close_code == 4009 or peer.ending.reset, peer.ending
        # It sent at its full rate until then: nothing throttled it first.
        assert peer.sent_frames >= 0.8 * SLOW_REPORTS_PER_SECOND * peer.closed_after

    for reader in readers:
        assert reader.closed is None
        assert reader.answers >= SECONDS - 2
        assert reader.slowest_answer < 2.0

    # What each worker owed a slow peer when it closed it, by its own account.
    closing = re.compile(r"peer does not read .*?owes (\d+) bytes")
    owed = [int(n) for w in WS_WORKERS for n in closing.findall(log_of(slow_stack, w))]
    assert len(owed) == SLOW_PEERS
    assert max(owed) < 1 * MIB


def log_of(stack, worker: int) -> str:
    return stack.log(f"ws-{worker}").read_text()


def send_until_cut_off(peer: SlowPeer, frame: dict, seconds: float) -> None:
    """Send `frame` 20 times a second until the connection fails or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and peer.send_json(frame):
        time.sleep(1 / SLOW_REPORTS_PER_SECOND)


def test_a_chat_peer_that_never_reads_is_closed_and_the_room_goes_on(slow_stack):
    """The same bound for chat frames: a member that posts (under the rate limit) but never reads
    its room's broadcasts is cut off; a member that reads gets every message."""
    room = unique_room("slow")
    text = "x" * 1500

    async def scene() -> tuple[SlowPeer, list[str]]:
        reader, _ = await enter(slow_stack, room)
        heard: list[str] = []

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for raw in reader:
                    frame = json.loads(raw)
                    if frame["type"] == "message":
                        heard.append(frame["message"]["id"])

        reading = asyncio.create_task(read())
        peer = SlowPeer("127.0.0.1", slow_stack.port, f"/ws/chat/{room}/")
        await asyncio.to_thread(peer.open)
        await asyncio.to_thread(send_until_cut_off, peer, {"type": "message", "text": text}, 30)
        await say(reader, "still here")
        await asyncio.sleep(1)
        await reader.close()
        await reading
        return peer, heard

    peer, heard = asyncio.run(scene())
    assert peer.closed_at is not None, "a chat peer that never reads was not closed in 30 s"
    # Each message it posted came back to it as a ~1.6 KB frame.
    assert peer.sent_frames * 1.6 * 1024 < 1 * MIB
    with sqlite3.connect(slow_stack.run_dir / "db.sqlite3") as db:
        stored = db.execute(
            "SELECT m.id FROM shared_message m JOIN shared_room r ON r.id = m.room_id WHERE r.name = ?", (room,)
        ).fetchall()
    assert len(stored) >= 20  # it had its say before it was cut off
    assert sorted(heard) == sorted(str(pk) for (pk,) in stored)  # the reader: every message, once
    peer.close()


# The pong a peer that never reads sent every 0.5 s to pass for a reader: a probe marker it
# could not have been sent (probes once counted up from 1; now they are random).
FORGED_PONG = b"backlog:" + b"\xff" * 8


def forge_pongs_until_cut_off(peer: SlowPeer, frame: dict, seconds: float) -> float | None:
    """Send `frame` 20 times a second and a made-up pong every 0.5 s (within the control
    rate) until the connection fails; seconds until then, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not peer.send_json(frame):
            return peer.closed_at - started
        if peer.sent_frames % 10 == 0 and not peer.send_frame(OPCODE_PONG, FORGED_PONG):
            return peer.closed_at - started
        time.sleep(1 / SLOW_REPORTS_PER_SECOND)
    return None


@pytest.mark.parametrize(
    ("path", "frame"),
    [
        ("/ws/public/", {"type": "delay", "delay_ms": 1.5}),
        ("/ws/chat/forged/", {"type": "message", "text": "x" * 1500}),
    ],
    ids=["board", "chat"],
)
def test_a_peer_that_forges_pongs_is_closed_all_the_same(slow_stack, path, frame):
    """Only the answer to a probe actually sent (random payload) proves reading."""
    peer = SlowPeer("127.0.0.1", slow_stack.port, path)
    peer.open()
    try:
        cut_off_after = forge_pongs_until_cut_off(peer, frame, 40)
        assert cut_off_after is not None, "a peer forging pongs was never closed"
        assert cut_off_after <= 30
        ending = peer.read_to_the_end()
        assert ending.close_code == 4009 or ending.reset, ending
    finally:
        peer.close()


@pytest.mark.parametrize("forging", [False, True], ids=["pings", "pings-and-forged-pongs"])
def test_a_peer_that_floods_pings_and_never_reads_is_closed(slow_stack, forging):
    """Each ping costs the server a pong it must buffer: a flood is closed with 4008 at once
    (or its connection dropped), long before Daphne's own ping timeout."""
    peer = SlowPeer("127.0.0.1", slow_stack.port, "/ws/ping/")
    peer.open()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 40 and peer.send_frame(OPCODE_PING, b"p" * 125):
            if forging and peer.sent_frames % 50 == 0:
                peer.send_frame(OPCODE_PONG, FORGED_PONG)
            time.sleep(0.001)
        assert peer.closed_at is not None, "a ping flood was never cut off"
        assert peer.closed_at - started <= 30
        ending = peer.read_to_the_end()
        assert ending.close_code == 4008 or ending.reset, ending
    finally:
        peer.close()


def test_a_member_of_a_quiet_room_is_not_taken_for_a_slow_reader(slow_stack):
    """Its handshake, its history and a first message, then nothing written to it for longer
    than WS_SEND_BACKLOG_SECONDS: it owes nothing and no probe waits, so it stays open (the
    handshake's answer once left a probe noted that no ping carried, and closed such a socket
    with 4009 ten seconds in)."""
    room = unique_room("quiet")

    async def scene() -> dict:
        member, _ = await enter(slow_stack, room)
        await say(member, "anyone?")
        await asyncio.sleep(settings.WS_SEND_BACKLOG_SECONDS + 3)
        await say(member, "still here")
        while (frame := json.loads(await asyncio.wait_for(member.recv(), 5)))["type"] != "message" or (
            frame["message"]["text"] != "still here"
        ):
            pass
        await member.close()
        return frame

    assert asyncio.run(scene())["message"]["text"] == "still here"

"""Peers that send but never read, through real nginx and Daphne: each is closed (4009, or its
connection dropped) within 30 s and before it owes ~1 MB, while the readers beside it notice
nothing. The workers' memory over a longer run: `python -m tests.stack.slow_readers`."""

import asyncio

import pytest

from shared.stack import WS_WORKERS
from tests.conftest import start_stack, stop_stack
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

    closes = sum(slow_stack.log(f"ws-{n}").read_text().count("peer does not read") for n in WS_WORKERS)
    assert closes == SLOW_PEERS

"""The send backlog bound (shared/backlog.py): bytes owed and probe age -> go on, or 4009."""

import pytest
from django.conf import settings

from shared.backlog import SendBacklog

KIB = 1024


def bound(**options) -> SendBacklog:
    """A 256 KiB, 10 s bound probing every second (the default interval is tested on its own)."""
    return SendBacklog(**{"max_bytes": 256 * KIB, "max_seconds": 10.0, "probe_seconds": 1.0, **options})


def test_a_socket_that_owes_nothing_always_gets_its_frame():
    """However large the frame: one frame is bounded by the protocol, not by this rule."""
    backlog = bound()
    assert backlog.allows(now=0.0, frame=10 * 256 * KIB)


def test_the_first_frame_is_followed_by_a_probe_and_its_answer_clears_the_debt():
    backlog = bound()
    marker = backlog.sent(5 * KIB, now=0.0)
    assert marker is not None
    assert backlog.owed == 5 * KIB
    backlog.answered(marker)
    assert backlog.owed == 0
    assert backlog.age(0.1) == 0.0


def test_a_peer_that_never_reads_is_refused_before_it_owes_more_than_the_bound():
    """The issue's peer: 8 KB answers 20 times a second, no pong ever."""
    backlog = bound()
    sent, now = 0, 0.0
    while backlog.allows(now, frame=8 * KIB):
        backlog.sent(8 * KIB, now)
        sent += 8 * KIB
        now += 0.05
    assert 256 * KIB - 8 * KIB < sent <= 256 * KIB
    assert now < 2.0


def test_a_probe_left_unanswered_for_the_age_refuses_the_socket():
    """A peer reading a trickle owes little, yet never catches up with its probe: refused."""
    backlog = bound()
    backlog.sent(100, now=0.0)
    assert backlog.allows(now=9.9, frame=100)
    assert not backlog.allows(now=10.0, frame=100)
    assert not backlog.allows(now=10.0)  # the periodic check, without a frame, says the same
    assert backlog.age(10.0) == 10.0


def test_an_honest_reader_is_never_refused():
    """Frames every 50 ms, each probe answered a round trip later: the debt stays small."""
    backlog = bound()
    now, pending = 0.0, []
    for _ in range(20 * 600):  # ten minutes
        assert backlog.allows(now, frame=8 * KIB)
        marker = backlog.sent(8 * KIB, now)
        for sent_marker in pending:
            backlog.answered(sent_marker)
        pending = [marker] if marker is not None else []
        now += 0.05
    assert backlog.owed <= 64 * KIB + 8 * KIB


def test_probes_go_out_once_a_second_or_every_quarter_of_the_bound():
    backlog = bound()
    first = backlog.sent(100, now=0.0)
    assert backlog.sent(100, now=0.5) is None  # neither a second nor 64 KiB since
    second = backlog.sent(100, now=1.0)  # a second
    third = backlog.sent(64 * KIB, now=1.1)  # a quarter of the bound
    assert [p.token for p in backlog.probes] == [first, second, third]
    assert None not in (first, second, third)


def test_no_probe_is_noted_for_bytes_no_ping_can_follow():
    """The handshake's answer goes out before a ping may: no probe then, or it would wait for an
    answer for ever and close a socket that goes quiet; the next write that can probe does."""
    backlog = bound()
    assert backlog.sent(129, now=0.0, can_probe=False) is None
    assert backlog.probes == []
    probe = backlog.sent(40, now=0.1)
    assert probe is not None
    assert backlog.answered(probe)
    assert backlog.allows(now=60.0)  # quiet for a minute, owing nothing


def test_no_probe_without_new_bytes():
    backlog = bound()
    backlog.sent(100, now=0.0)
    assert backlog.sent(0, now=5.0) is None


def test_an_answer_proves_every_earlier_probe_and_unknown_answers_change_nothing():
    backlog = bound()
    first = backlog.sent(10, now=0.0)
    second = backlog.sent(20, now=1.0)
    backlog.sent(40, now=1.5)
    assert backlog.answered(second)
    assert backlog.owed == 40
    assert not backlog.answered(first)  # late or repeated: nothing goes backwards
    assert not backlog.answered(second)
    assert backlog.owed == 40
    assert list(backlog.probes) == []


def test_probe_payloads_cannot_be_guessed():
    """Each is 16 random bytes: no counter a peer could run ahead of (nor the same twice)."""
    backlog = bound()
    tokens = [backlog.sent(100, now=float(second)) for second in range(50)]
    assert len(set(tokens)) == 50
    assert all(len(token) == 16 for token in tokens)


@pytest.mark.parametrize(
    "forged",
    [b"backlog:" + b"\xff" * 8, b"\xff" * 16, b"\x00" * 16, b"", b"backlog:" + (2).to_bytes(8, "big")],
    ids=["max-marker", "all-ones", "all-zeros", "empty", "next-counter"],
)
def test_a_pong_to_a_probe_never_sent_proves_nothing(forged):
    """A peer that never reads but sends unrequested pongs is refused all the same."""
    backlog = bound()
    sent, now = 0, 0.0
    while backlog.allows(now, frame=8 * KIB):
        backlog.sent(8 * KIB, now)
        assert not backlog.answered(forged)
        sent += 8 * KIB
        now += 0.05
    assert sent <= 256 * KIB
    assert backlog.owed == sent


@pytest.mark.parametrize(("size", "age", "probe"), [(0, 1.0, 1.0), (1024, 0.0, 1.0), (1024, 1.0, 0.0)])
def test_a_bound_must_be_positive(size, age, probe):
    with pytest.raises(ValueError, match="positive"):
        SendBacklog(max_bytes=size, max_seconds=age, probe_seconds=probe)


def test_a_steady_reader_is_probed_every_quarter_of_the_age_bound_by_default():
    """A board viewer's two small frames a second: a probe at 0, 2.5, 5 and 7.5 s of 10 s, not
    one a second (each probe is a frame out and a pong back)."""
    backlog = SendBacklog(max_bytes=256 * KIB, max_seconds=10.0)
    probed_at = []
    for tenth in range(0, 100, 5):
        probe = backlog.sent(300, now=tenth / 10)
        if probe is not None:
            probed_at.append(tenth / 10)
            assert backlog.answered(probe)
    assert probed_at == [0.0, 2.5, 5.0, 7.5]
    assert backlog.owed == 300 * 4  # the frames at 8, 8.5, 9 and 9.5 s, after the last probe


def test_a_slow_link_taking_in_the_largest_history_is_not_refused():
    """The default bound (512 KiB) against the largest frame the server sends: a chat history
    of 50 messages of ~8 KB, read over 1 Mbit/s while live messages keep coming."""
    backlog = SendBacklog(max_bytes=settings.WS_SEND_BACKLOG_BYTES, max_seconds=settings.WS_SEND_BACKLOG_SECONDS)
    history = 50 * 8_200
    link = 125_000  # bytes per second
    first = backlog.sent(history, now=0.0)
    now = 0.0
    while now < history / link:  # 2 KB messages every 0.1 s until the history is read
        now += 0.1
        assert backlog.allows(now, frame=2 * KIB)
        backlog.sent(2 * KIB, now)
    backlog.answered(first)
    assert backlog.owed <= 33 * 2 * KIB  # the live messages sent while it read

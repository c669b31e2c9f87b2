"""The server's own timing of a client's round trip (shared/roundtrip.py)."""

import pytest

from shared.protocol import ProtocolError
from shared.roundtrip import PENDING_PONGS, PongLedger, RoundTrip, is_suspect


def test_the_observed_delay_runs_from_the_pong_to_the_report_on_it():
    """Times in seconds in, milliseconds out."""
    ledger = PongLedger()
    token = ledger.sent(7, at=100.0)
    trip = ledger.acknowledge(7, token, at=100.0215)
    assert trip.observed_ms == pytest.approx(21.5)


def test_only_a_report_on_the_sockets_first_pong_is_a_warm_up():
    """Whichever is reported first: the warm-up is the first pong sent, not the first report."""
    ledger = PongLedger()
    first, second, third = (ledger.sent(seq, at=float(seq)) for seq in (1, 2, 3))
    assert ledger.acknowledge(2, second, at=2.001).warmup is False
    assert ledger.acknowledge(1, first, at=2.002).warmup is True
    assert ledger.acknowledge(3, third, at=3.001) == RoundTrip(pytest.approx(1.0), False)


@pytest.mark.parametrize("case", ["unknown_seq", "wrong_token", "reported_twice", "replaced", "evicted"])
def test_a_report_on_no_pending_pong_is_refused(case):
    """Each pong is reported at most once, with its own token, while it is among the newest."""
    ledger = PongLedger()
    token = ledger.sent(1, at=0.0)
    seq = 1
    if case == "unknown_seq":
        seq = 2
    elif case == "wrong_token":
        token = token[::-1] + "x"
    elif case == "reported_twice":
        ledger.acknowledge(1, token, at=0.001)
    elif case == "replaced":
        ledger.sent(1, at=0.002)  # the same seq pinged again: only the new pong counts
    elif case == "evicted":
        for n in range(2, PENDING_PONGS + 2):
            ledger.sent(n, at=0.003)
    with pytest.raises(ProtocolError) as refused:
        ledger.acknowledge(seq, token, at=0.01)
    assert refused.value.code == "bad_message"
    assert "no pong with seq" in refused.value.detail


def test_a_report_later_than_the_lost_limit_is_refused_and_spends_the_pong():
    """A pong reported after the lost-ping limit is lost, not a 5-second delay."""
    ledger = PongLedger(lost_after_ms=5000)
    token = ledger.sent(3, at=10.0)
    with pytest.raises(ProtocolError) as refused:
        ledger.acknowledge(3, token, at=15.2)
    assert "lost" in refused.value.detail
    with pytest.raises(ProtocolError):
        ledger.acknowledge(3, token, at=15.3)


@pytest.mark.parametrize(
    ("claimed", "observed", "suspect"),
    [
        (0.01, 20.0, True),  # the faker of the issue
        (9.0, 20.0, False),  # the limit is observed / 2 - 1 = 9
        (8.9, 20.0, True),
        (0.0, 1.9, False),  # within the 1 ms slack of tiny delays
        (41.0, 20.0, False),  # 2 * observed + 1 = 41
        (41.1, 20.0, True),
        (None, 20.0, False),
        (5.0, None, False),
    ],
)
def test_a_claim_is_suspect_when_more_than_twice_off_either_way(claimed, observed, suspect):
    assert is_suspect(claimed, observed) is suspect

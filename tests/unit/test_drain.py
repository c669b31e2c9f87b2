"""When a draining worker closes each socket (shared/drain.py)."""

import itertools

import pytest

from shared.drain import close_offsets
from shared.protocol import CLOSE_SERVICE_RESTART


def test_closes_are_spread_evenly_over_the_window_and_all_inside_it():
    offsets = close_offsets(4, 2.0)
    assert offsets == [0.0, 0.5, 1.0, 1.5]
    many = close_offsets(1000, 2.0)
    assert len(many) == 1000
    assert many == sorted(many)
    assert many[0] == 0.0
    assert many[-1] < 2.0
    # Equal gaps: 1000 sockets over 2 s close at 500 per second, never in a burst.
    assert {round(b - a, 9) for a, b in itertools.pairwise(many)} == {0.002}


@pytest.mark.parametrize(("count", "window", "expected"), [(0, 2.0, []), (1, 2.0, [0.0]), (3, 0.0, [0.0] * 3)])
def test_edge_cases(count, window, expected):
    """No sockets: nothing to do; one: closed at once; a zero window closes all at once."""
    assert close_offsets(count, window) == expected


def test_the_close_code_is_iana_service_restart():
    """RFC 6455 section 7.4 / the IANA WebSocket close code registry: 1012 Service Restart."""
    assert CLOSE_SERVICE_RESTART == 1012

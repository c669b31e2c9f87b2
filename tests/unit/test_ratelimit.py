"""Rate limits: the token bucket, the flood guard's verdicts, and the broadcast throttle."""

from shared.ratelimit import FloodGuard, Throttle, TokenBucket, Verdict


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_refuses():
    """A full bucket gives `burst` tokens at once and no more."""
    bucket = TokenBucket(rate=10, burst=5, clock=FakeClock())
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]


def test_the_bucket_refills_at_its_rate_up_to_the_burst():
    """Tokens come back at `rate` per second and never exceed `burst`."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    for _ in range(5):
        bucket.take()
    clock.now = 0.25  # 2.5 tokens back
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now = 100.0
    assert sum(bucket.take() for _ in range(10)) == 5


def guard(clock: FakeClock, rate: float, burst: int, close_after: int) -> FloodGuard:
    return FloodGuard(TokenBucket(rate, burst, clock=clock), close_after, forgive_after=1.0, clock=clock)


def test_an_honest_client_at_the_sustained_rate_is_never_refused():
    """20 frames a second for a minute pass a 30/s, burst-60 guard."""
    clock = FakeClock()
    judge = guard(clock, rate=30, burst=60, close_after=50).judge
    verdicts = set()
    for i in range(20 * 60):
        clock.now = i / 20
        verdicts.add(judge())
    assert verdicts == {Verdict.ACCEPT}


def test_a_flood_is_warned_once_then_dropped_then_closed():
    """Over the limit: one WARN, then DROPs, then CLOSE after `close_after` more."""
    judge = guard(FakeClock(), rate=1, burst=2, close_after=3).judge
    verdicts = [judge() for _ in range(7)]
    assert verdicts == [Verdict.ACCEPT] * 2 + [Verdict.WARN, Verdict.DROP, Verdict.DROP, Verdict.CLOSE, Verdict.CLOSE]


def test_a_client_that_stays_just_over_the_rate_is_closed_not_warned_forever():
    """35 frames a second against 30/s: tokens trickle in, yet refusals add up to a close."""
    clock = FakeClock()
    judge = guard(clock, rate=30, burst=60, close_after=50).judge
    verdicts = []
    for i in range(35 * 60):
        clock.now = i / 35
        verdicts.append(judge())
    assert verdicts.count(Verdict.WARN) == 1
    assert Verdict.CLOSE in verdicts


def test_a_quiet_second_forgives_so_the_next_flood_is_warned_afresh():
    """A client that calms down starts its next episode with a fresh warning."""
    clock = FakeClock()
    judge = guard(clock, rate=1, burst=1, close_after=3).judge
    assert [judge(), judge(), judge()] == [Verdict.ACCEPT, Verdict.WARN, Verdict.DROP]
    clock.now = 1.5
    assert [judge(), judge()] == [Verdict.ACCEPT, Verdict.WARN]


def test_the_throttle_fires_a_lone_event_at_once_and_spaces_the_rest_by_its_interval():
    clock = FakeClock()
    throttle = Throttle(0.25, clock=clock)
    assert throttle.wait() == 0.0  # the first: at once
    throttle.fire()
    clock.now = 0.1
    assert throttle.wait() == 0.15  # asked for meanwhile: at the end of the interval
    clock.now = 0.25
    assert throttle.wait() == 0.0
    throttle.fire()
    clock.now = 10.0
    assert throttle.wait() == 0.0  # after a quiet while, at once again


def test_peeking_at_the_guard_takes_nothing():
    clock = FakeClock()
    guard = FloodGuard(TokenBucket(rate=1, burst=1, clock=clock), close_after=3, clock=clock)
    assert guard.would_accept()
    assert guard.would_accept()  # still there
    assert guard.judge() is Verdict.ACCEPT
    assert not guard.would_accept()
    assert guard.judge() is Verdict.WARN
    clock.now += 1.0
    assert guard.would_accept()

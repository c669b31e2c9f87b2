"""Delay statistics (shared/stats.py), checked against independent definitions."""

import random
import statistics

import pytest

from shared.stats import SlidingWindow, jitter, percentile, summarize


def test_percentiles_interpolate_between_closest_ranks():
    """p50 of 1..4 is 2.5; p0 and p100 are the ends."""
    ordered = [1.0, 2.0, 3.0, 4.0]
    assert percentile(ordered, 50) == 2.5
    assert percentile(ordered, 0) == 1.0
    assert percentile(ordered, 100) == 4.0
    assert percentile(ordered, 95) == pytest.approx(3.85)


def test_percentiles_match_the_standard_library_inclusive_method():
    """statistics.quantiles(method='inclusive') uses the same definition."""
    rng = random.Random(4)
    for size in (2, 3, 10, 101):
        values = sorted(rng.uniform(0, 500) for _ in range(size))
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        for p in (50, 95, 99):
            assert percentile(values, p) == pytest.approx(cuts[p - 1])


def test_jitter_is_the_mean_absolute_difference_of_consecutive_samples():
    """10, 20, 15 -> (10 + 5) / 2."""
    assert jitter([10.0, 20.0, 15.0]) == 7.5
    assert jitter([5.0]) is None


def test_a_summary_of_nothing_is_all_none_with_count_zero():
    """An empty session shows dashes, not zeros."""
    summary = summarize([])
    assert summary.count == 0
    assert {summary.min, summary.median, summary.p95, summary.p99, summary.max, summary.jitter} == {None}


def test_a_summary_keeps_arrival_order_for_jitter_but_sorts_for_percentiles():
    """Jitter depends on order; min/median/max do not."""
    summary = summarize([30.0, 10.0, 20.0])
    assert (summary.min, summary.median, summary.max) == (10.0, 20.0, 30.0)
    assert summary.jitter == 15.0


@pytest.mark.parametrize("size", [1, 2, 5, 300])
def test_a_sliding_window_agrees_with_the_figures_of_its_values_at_every_step(size):
    rng = random.Random(size)
    window = SlidingWindow(size)
    for _ in range(3 * size + 20):
        # Repeats too: equal values must leave the sorted copy one at a time.
        window.append(rng.choice([rng.uniform(0, 500), 5.0, 0.001]))
        assert len(window) == len(window.values) <= size
        assert window.ordered == sorted(window.values)
        assert window.median() == percentile(sorted(window.values), 50)
        expected = jitter(window.values)
        assert window.jitter() == (None if expected is None else pytest.approx(expected, abs=1e-9))


def test_a_sliding_window_keeps_the_newest_values_in_arrival_order():
    window = SlidingWindow(3)
    for value in [4.0, 1.0, 3.0, 2.0]:
        window.append(value)
    assert window.values == [1.0, 3.0, 2.0]
    assert window.median() == 2.0
    assert window.jitter() == 1.5  # |3-1| and |2-3|
    assert SlidingWindow(3).median() is None
    assert SlidingWindow(3).jitter() is None

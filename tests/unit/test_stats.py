"""Delay statistics (shared/stats.py), checked against independent definitions."""

import random
import statistics

import pytest

from shared.stats import jitter, percentile, summarize


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

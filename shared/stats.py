"""Delay statistics, defined exactly as web/static/js/stats.js defines them for the browser.

Percentiles interpolate linearly between closest ranks (NumPy's default); jitter is the mean
absolute difference of consecutive samples (RFC 3550's idea without its smoothing).
"""

import math
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) of values sorted ascending; None when there are none."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# A percentile is shown only once there are enough samples for it (web/static/js/stats.js
# MIN_SAMPLES): with 20 samples one in twenty lies above p95, with 100 one in a hundred above p99.
MIN_SAMPLES = {"p95": 20, "p99": 100}


def samples_needed(count: int, figure: str) -> int:
    """How many more samples `figure` needs before it is shown (0: show it)."""
    return max(0, MIN_SAMPLES.get(figure, 0) - count)


def jitter(samples: Sequence[float]) -> float | None:
    """Mean absolute difference of consecutive samples, in arrival order."""
    if len(samples) < 2:
        return None
    return sum(abs(b - a) for a, b in pairwise(samples)) / (len(samples) - 1)


class SlidingWindow:
    """The last `size` values in arrival order (`values`), with what `percentile` and `jitter`
    need kept up to date as each value comes and the oldest goes: a sorted copy and the sum of
    absolute differences of consecutive values. One report then costs O(log n) comparisons and
    a memmove, not a sort and a pass over the whole window (~30 us at 300 values)."""

    __slots__ = ("_diff_sum", "ordered", "size", "values")

    def __init__(self, size: int):
        self.size = size
        self.values: list[float] = []
        self.ordered: list[float] = []
        self._diff_sum = 0.0

    def __len__(self) -> int:
        return len(self.values)

    def append(self, value: float) -> None:
        values = self.values
        if values:
            self._diff_sum += abs(value - values[-1])
        values.append(value)
        insort(self.ordered, value)
        if len(values) > self.size:
            oldest = values.pop(0)
            self._diff_sum -= abs(values[0] - oldest)
            del self.ordered[bisect_left(self.ordered, oldest)]

    def median(self) -> float | None:
        return percentile(self.ordered, 50)

    def jitter(self) -> float | None:
        """`jitter(self.values)`, up to float rounding (never below 0)."""
        if len(self.values) < 2:
            return None
        return max(0.0, self._diff_sum) / (len(self.values) - 1)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    min: float | None
    median: float | None
    p95: float | None
    p99: float | None
    max: float | None
    jitter: float | None


def summarize(samples: Sequence[float]) -> Summary:
    """All the figures of a series of delays (arrival order kept for jitter)."""
    ordered = sorted(samples)
    return Summary(
        count=len(ordered),
        min=ordered[0] if ordered else None,
        median=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1] if ordered else None,
        jitter=jitter(samples),
    )

"""Delay statistics, defined exactly as web/static/js/stats.js defines them for the browser.

Percentiles interpolate linearly between closest ranks (NumPy's default); jitter is the mean
absolute difference of consecutive samples (RFC 3550's idea without its smoothing).
"""

import math
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

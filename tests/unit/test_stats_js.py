"""The browser's statistics (web/static/js/stats.js, run under node) agree with shared/stats.py."""

import json
import random
from dataclasses import asdict

import pytest

from shared.stats import percentile, summarize
from tests.helpers import run_node, static_js

STATS_JS = static_js("stats.js")
FIGURES = ("count", "min", "median", "p95", "p99", "max", "jitter")


def run_js(body: str, payload: object) -> object:
    """Run `body` as an ES module with stats.js imported and `input` bound; return what it prints."""
    script = (
        f"import * as stats from {json.dumps(STATS_JS)};\n"
        f"const input = JSON.parse({json.dumps(json.dumps(payload))});\n"
        f"{body}\n"
    )
    return run_node(script)


def sample_lists() -> list[list[float]]:
    """Edge cases first, then seeded random series shaped like real delays."""
    rng = random.Random(20241121)
    lists: list[list[float]] = [[], [12.5], [3.0, 7.25], [5.0, 5.0, 5.0], [1.0, 9.0, 1.0, 9.0], [0.1, 0.1, 250.0]]
    for size in (3, 10, 57, 100, 101, 1000):
        lists.append([round(rng.lognormvariate(3, 0.6), 3) for _ in range(size)])
    duplicates = [float(rng.choice((1, 2, 2, 3, 40))) for _ in range(200)]
    return [*lists, duplicates]


def assert_same_summary(js: dict, samples: list[float]) -> None:
    expected = asdict(summarize(samples))
    for figure in FIGURES:
        if expected[figure] is None:
            assert js[figure] is None, figure
        else:
            assert js[figure] == pytest.approx(expected[figure], rel=1e-12, abs=1e-12), figure


def test_summarize_in_js_matches_python_for_every_sample_list():
    """stats.summarize gives the same count, min, median, p95, p99, max and jitter as shared.stats."""
    lists = sample_lists()
    results = run_js("console.log(JSON.stringify(input.map((s) => stats.summarize(s))));", lists)
    for samples, js in zip(lists, results, strict=True):
        assert_same_summary(js, samples)


def test_percentile_in_js_interpolates_like_python_at_any_p():
    """stats.percentile matches shared.stats.percentile between ranks, not only at 50/95/99."""
    rng = random.Random(7)
    ordered = sorted(rng.uniform(0.2, 80.0) for _ in range(37))
    ps = [0, 1, 10, 25, 33.3, 50, 66.6, 90, 99.9, 100]
    body = "console.log(JSON.stringify(input.ps.map((p) => stats.percentile(input.ordered, p))));"
    results = run_js(body, {"ordered": ordered, "ps": ps})
    assert results == pytest.approx([percentile(ordered, p) for p in ps], rel=1e-12)


def test_sorted_samples_added_one_by_one_stay_sorted_and_summarize_the_same():
    """SortedSamples, fed in arrival order, holds plain-sorted values and the same summary."""
    lists = sample_lists()
    body = """
const out = input.map((samples) => {
  const kept = new stats.SortedSamples();
  for (const value of samples) kept.add(value);
  return { sorted: [...kept.sorted], count: kept.count, summary: kept.summary() };
});
console.log(JSON.stringify(out));
"""
    results = run_js(body, lists)
    for samples, js in zip(lists, results, strict=True):
        assert js["sorted"] == sorted(samples)
        assert js["count"] == len(samples)
        assert_same_summary(js["summary"], samples)


def test_insertion_index_puts_a_value_after_its_equals():
    """insertionIndex keeps the array sorted and places a value after any equal ones."""
    cases = [[[], 5], [[1, 2, 2, 3], 2], [[1, 2, 3], 0], [[1, 2, 3], 9], [[1, 1, 1], 1]]
    results = run_js("console.log(JSON.stringify(input.map(([a, v]) => stats.insertionIndex(a, v))));", cases)
    assert results == [0, 3, 0, 3, 3]


def test_percentiles_wait_for_enough_samples_alike_in_js_and_python():
    """p95 is shown from 20 samples, p99 from 100; other figures at once; the same in both."""
    from shared.stats import MIN_SAMPLES, samples_needed

    cases = [[count, figure] for count in (0, 1, 19, 20, 21, 99, 100, 250) for figure in ("p95", "p99", "median")]
    body = "console.log(JSON.stringify([stats.MIN_SAMPLES, input.map(([n, f]) => stats.samplesNeeded(n, f))]));"
    minimums, needed = run_js(body, cases)
    assert minimums == MIN_SAMPLES == {"p95": 20, "p99": 100}
    assert needed == [samples_needed(count, figure) for count, figure in cases]
    assert dict(zip(map(tuple, cases), needed, strict=True))[(19, "p95")] == 1
    assert dict(zip(map(tuple, cases), needed, strict=True))[(20, "p95")] == 0
    assert dict(zip(map(tuple, cases), needed, strict=True))[(99, "p99")] == 1
    assert dict(zip(map(tuple, cases), needed, strict=True))[(0, "median")] == 0

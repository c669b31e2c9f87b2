// Delay statistics, defined exactly as shared/stats.py defines them for the server.
// Pure functions, no DOM: the private page uses them and tests/unit/test_stats_js.py runs them
// under node to prove both definitions agree.

// The p-th percentile (0-100) of values sorted ascending, interpolating linearly between the
// closest ranks (NumPy's default); null when there are none.
export function percentile(sortedAsc, p) {
  const n = sortedAsc.length;
  if (n === 0) return null;
  const rank = ((n - 1) * p) / 100;
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, n - 1);
  return sortedAsc[lo] + (sortedAsc[hi] - sortedAsc[lo]) * (rank - lo);
}

// A percentile is shown only once there are enough samples for it to mean something: the p95
// of 3 samples is just the largest. With 20 samples one in twenty lies above p95; with 100, one
// in a hundred above p99.
export const MIN_SAMPLES = { p95: 20, p99: 100 };

// How many more samples a figure needs before it is shown (0: show it).
export function samplesNeeded(count, figure) {
  return Math.max(0, (MIN_SAMPLES[figure] ?? 0) - count);
}

// Mean absolute difference of consecutive samples, in arrival order; null below two samples.
export function jitter(samplesInArrivalOrder) {
  const n = samplesInArrivalOrder.length;
  if (n < 2) return null;
  let total = 0;
  for (let i = 1; i < n; i += 1) {
    total += Math.abs(samplesInArrivalOrder[i] - samplesInArrivalOrder[i - 1]);
  }
  return total / (n - 1);
}

// All the figures of a series of delays: {count, min, median, p95, p99, max, jitter}.
export function summarize(samples) {
  const ordered = [...samples].sort((a, b) => a - b);
  return summaryOf(ordered, jitter(samples));
}

function summaryOf(ordered, jitterValue) {
  const n = ordered.length;
  return {
    count: n,
    min: n ? ordered[0] : null,
    median: percentile(ordered, 50),
    p95: percentile(ordered, 95),
    p99: percentile(ordered, 99),
    max: n ? ordered[n - 1] : null,
    jitter: jitterValue,
  };
}

// Where `value` goes in an ascending array so that it stays sorted (after any equal values).
export function insertionIndex(sortedAsc, value) {
  let lo = 0;
  let hi = sortedAsc.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sortedAsc[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Samples kept sorted as they arrive (binary insertion), with jitter accumulated in arrival
// order, so a page with thousands of samples does not re-sort them on every pong.
export class SortedSamples {
  #sorted = [];
  #last = null;
  #diffTotal = 0;

  add(value) {
    this.#sorted.splice(insertionIndex(this.#sorted, value), 0, value);
    if (this.#last !== null) this.#diffTotal += Math.abs(value - this.#last);
    this.#last = value;
  }

  get count() {
    return this.#sorted.length;
  }

  // Ascending; callers must not modify it.
  get sorted() {
    return this.#sorted;
  }

  percentile(p) {
    return percentile(this.#sorted, p);
  }

  jitter() {
    return this.count < 2 ? null : this.#diffTotal / (this.count - 1);
  }

  summary() {
    return summaryOf(this.#sorted, this.jitter());
  }
}

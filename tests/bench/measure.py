"""Small helpers shared by the benchmark scenarios."""

import asyncio
import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from shared.stats import percentile

# Every bench stack serves the echo baseline beside the app, in the same Daphne workers. Its
# clients ping thousands of times a second, far over the per-connection limit meant for pages;
# the limiter still runs on every frame, so its cost stays in the figures.
BENCH_STACK_ENV = {
    "WS_ASGI_APP": "tests.bench.asgi:application",
    "WS_RATE_PER_SECOND": "1000000",
    "WS_RATE_BURST": "1000000",
}

# An answer slower than this means something is broken, not slow: fail instead of hanging.
ANSWER_TIMEOUT = 10


def percentiles_ms(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns / 1e6 for ns in samples_ns)
    return {f"p{p}": round(percentile(ordered, p), 3) for p in (50, 90, 99)}


async def sequential_round_trips(socket, count: int, frame_for) -> list[int]:
    """Send one frame, wait for its answer, repeat: round trip times in nanoseconds."""
    samples = []
    for seq in range(count):
        text = json.dumps(frame_for(seq))
        started = time.perf_counter_ns()
        await socket.send(text)
        await asyncio.wait_for(socket.recv(), ANSWER_TIMEOUT)
        samples.append(time.perf_counter_ns() - started)
    return samples


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off in the load generator (as timeit does): its pauses
    (tens of ms for a full collection over 1000 sockets' objects) would land in the measured
    round trips as if the server had been slow. The clients make little cyclic garbage."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

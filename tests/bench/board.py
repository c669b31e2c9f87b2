"""Public board under load: N clients at 1 ping + 1 delay report a second, against the minimal
echo consumer at the same N on the same stack; then the app on the other channel layer.

Targets (docs/benchmarks.md): p99 within 2x of echo at N = 400 and 1000; bytes per client-second flat
once N > 200; server CPU per client-second roughly constant; every client of a storm gets in.
"""

import asyncio

from shared.stack import Stack
from tests.bench.load import run_load
from tests.bench.measure import BENCH_STACK_ENV
from tests.conftest import start_stack, stop_stack

COUNTS = (50, 400, 1000)
LAYER_COUNTS = (400, 1000)
WARMUP_S, MEASURE_S = 5.0, 15.0
# Closed sockets leave the board within a tick; give the workers a moment before the next run.
SETTLE_S = 2.0
TARGET_P99_RATIO = 2.0
MAX_CPU_GROWTH = 1.25


async def measure(stack: Stack, path: str, count: int) -> dict:
    """One run on freshly restarted Daphne workers: memory per connection is then the growth
    of a new process, not of one whose allocator kept the last run's memory."""
    await asyncio.to_thread(restart_workers, stack)
    result = await run_load(stack, path, count, WARMUP_S, MEASURE_S)
    await asyncio.sleep(SETTLE_S)
    return result


def restart_workers(stack: Stack) -> None:
    stack.ctl("restart", "ws:*")
    stack.wait_until_ready(30)


async def run(stack: Stack) -> dict:
    runs = {}
    for count in COUNTS:
        runs[f"echo@{count}"] = await measure(stack, "/ws/echo/", count)
        runs[f"app@{count}"] = await measure(stack, "/ws/public/", count)
    for count in LAYER_COUNTS:
        runs[f"echo-lean@{count}"] = await measure(stack, "/ws/echo-lean/", count)
    other = await asyncio.to_thread(start_stack, CHANNEL_LAYER="pubsub", **BENCH_STACK_ENV)
    try:
        for count in LAYER_COUNTS:
            runs[f"app-pubsub@{count}"] = await measure(other, "/ws/public/", count)
    finally:
        await asyncio.to_thread(stop_stack, other)
    return {"scenario": "public board, 1 ping + 1 report per client per second", **verdicts(runs), "runs": runs}


def verdicts(runs: dict) -> dict:
    p99_ratios = {n: round(runs[f"app@{n}"]["p99_ms"] / runs[f"echo@{n}"]["p99_ms"], 2) for n in COUNTS}
    lean_ratios = {n: round(runs[f"app@{n}"]["p99_ms"] / runs[f"echo-lean@{n}"]["p99_ms"], 2) for n in LAYER_COUNTS}
    bytes_growth = round(runs["app@1000"]["bytes_per_client_s"] / runs["app@400"]["bytes_per_client_s"], 2)
    cpu = [runs[f"app@{n}"]["cpu_ms_per_client_s"] for n in COUNTS]
    # "Roughly constant": no growth with N (it falls as fixed costs spread over more clients).
    cpu_growth = round(max(cpu) / cpu[0], 2)
    everyone_in = all(run["connected"] == run["clients"] for run in runs.values())
    return {
        "p99_ratio_app_to_echo": p99_ratios,
        "p99_ratio_app_to_lean_echo": lean_ratios,
        "bytes_per_client_s_1000_vs_400": bytes_growth,
        "cpu_ms_per_client_s_by_n": dict(zip(COUNTS, cpu, strict=True)),
        "cpu_per_client_s_max_vs_n50": cpu_growth,
        "every_storm_client_got_in": everyone_in,
        "target": (
            f"p99 ratio <= {TARGET_P99_RATIO} at 400 and 1000; bytes flat past 200; "
            f"CPU per client-second not above {MAX_CPU_GROWTH}x N = 50's; all get in"
        ),
        "met": p99_ratios[400] <= TARGET_P99_RATIO
        and p99_ratios[1000] <= TARGET_P99_RATIO
        and bytes_growth <= 1.1
        and cpu_growth <= MAX_CPU_GROWTH
        and everyone_in,
    }

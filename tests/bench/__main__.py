"""Runs every scenario against one fresh stack, prints a table and writes bench-results.json.

`python -m tests.bench [ping] [board] [chat] [capacity] [--database-url URL]`: only the named
scenarios, and the stack on that database (e.g. postgres://postgres@127.0.0.1:5432/bench) instead of a
fresh SQLite file.
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from datetime import UTC, datetime

import psutil

from deploy.stack import REPO
from tests.bench import board, capacity, chat, ping
from tests.bench.measure import BENCH_STACK_ENV
from tests.conftest import start_stack, stop_stack

# The 10,000 viewers last: nothing after it inherits the memory the workers kept.
SCENARIOS = {"ping": ping.run, "board": board.run, "chat": chat.run, "capacity": capacity.run}
RESULTS = REPO / "bench-results.json"


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_result(result: dict) -> None:
    print(f"\n== {result['scenario']}")
    for key, value in result.items():
        if key != "scenario":
            print(f"  {key:<22} {json.dumps(value)}")


async def run_all(stack, names: list[str]) -> list[dict]:
    results = []
    for scenario in [SCENARIOS[name] for name in names]:
        started = time.monotonic()
        result = await scenario(stack)
        result["seconds"] = round(time.monotonic() - started, 1)
        print_result(result)
        results.append(result)
    return results


def main() -> int:
    # SIGTERM (a timeout, Ctrl-C from make) must still stop the stack in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--database-url", help="the stack's DATABASE_URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if unknown := sorted(set(args.scenarios) - set(SCENARIOS)):
        parser.error(f"unknown scenarios {unknown}: choose from {', '.join(SCENARIOS)}")
    database = {"DATABASE_URL": args.database_url} if args.database_url else {}
    stack = start_stack(**BENCH_STACK_ENV, **database)
    try:
        results = asyncio.run(run_all(stack, args.scenarios or list(SCENARIOS)))
    finally:
        stop_stack(stack)
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "results": results}
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    missed = [r["scenario"] for r in results if r.get("met") is False]
    print(f"\nwrote {RESULTS.name}; targets missed: {missed or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

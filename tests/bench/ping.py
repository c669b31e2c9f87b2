"""Private ping path: one client, sequential pings through nginx -> Daphne, app vs echo.

The sockets take turns in blocks, so drift on the machine (other load, CPU frequency) falls
on all alike. Two baselines: stock Channels echo, and echo with the app's lean dispatch.
"""

from deploy.stack import Stack
from tests.bench.measure import collector_paused, percentiles_ms, sequential_round_trips
from tests.helpers import connect

WARMUP = 300
BLOCKS = 10
PER_BLOCK = 500
TARGET_P50_RATIO = 1.15


def ping(seq: int) -> dict:
    return {"type": "ping", "seq": seq, "sent_at": 1.0}


async def run(stack: Stack) -> dict:
    paths = {"app": "/ws/ping/", "echo": "/ws/echo/", "echo_lean": "/ws/echo-lean/"}
    samples: dict[str, list[int]] = {name: [] for name in paths}
    sockets = {name: await connect(stack.ws_url, path) for name, path in paths.items()}
    try:
        for socket in sockets.values():
            await sequential_round_trips(socket, WARMUP, ping)
        with collector_paused():
            for block in range(BLOCKS):
                order = list(paths) if block % 2 == 0 else list(reversed(paths))
                for name in order:
                    samples[name] += await sequential_round_trips(sockets[name], PER_BLOCK, ping)
    finally:
        for socket in sockets.values():
            await socket.close()
    ms = {name: percentiles_ms(values) for name, values in samples.items()}
    ratio = round(ms["app"]["p50"] / ms["echo"]["p50"], 3)
    return {
        "scenario": "private ping, 1 client, sequential",
        "samples_each": BLOCKS * PER_BLOCK,
        **{f"{name}_ms": figures for name, figures in ms.items()},
        "p50_ratio": ratio,
        "p50_ratio_to_lean_echo": round(ms["app"]["p50"] / ms["echo_lean"]["p50"], 3),
        "target": f"p50 ratio <= {TARGET_P50_RATIO}",
        "met": ratio <= TARGET_P50_RATIO,
    }

"""Private ping path: one client, sequential pings through nginx -> Daphne, app vs echo.

The two sockets take turns in blocks, so drift on the machine (other load, CPU frequency)
falls on both alike.
"""

from shared.stack import Stack
from tests.bench.measure import percentiles_ms, sequential_round_trips
from tests.wsclient import connect

WARMUP = 300
BLOCKS = 10
PER_BLOCK = 500
TARGET_P50_RATIO = 1.15


def ping(seq: int) -> dict:
    return {"type": "ping", "seq": seq, "sent_at": 1.0}


async def run(stack: Stack) -> dict:
    samples: dict[str, list[int]] = {"app": [], "echo": []}
    async with connect(stack.ws_url, "/ws/ping/") as app, connect(stack.ws_url, "/ws/echo/") as echo:
        sockets = {"app": app, "echo": echo}
        for socket in sockets.values():
            await sequential_round_trips(socket, WARMUP, ping)
        for block in range(BLOCKS):
            order = ["app", "echo"] if block % 2 == 0 else ["echo", "app"]
            for name in order:
                samples[name] += await sequential_round_trips(sockets[name], PER_BLOCK, ping)
    app_ms, echo_ms = percentiles_ms(samples["app"]), percentiles_ms(samples["echo"])
    ratio = round(app_ms["p50"] / echo_ms["p50"], 3)
    return {
        "scenario": "private ping, 1 client, sequential",
        "samples_each": BLOCKS * PER_BLOCK,
        "app_ms": app_ms,
        "echo_ms": echo_ms,
        "p50_ratio": ratio,
        "target": f"p50 ratio <= {TARGET_P50_RATIO}",
        "met": ratio <= TARGET_P50_RATIO,
    }

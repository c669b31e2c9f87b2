"""10,000 idle `/ws/public/` viewers through nginx on one box: do they all get in, what does each
cost the workers, and how fast does a join reach all of them?

- The storm: VIEWERS sockets open in waves of WAVE at once, each wave once the viewers already in
  have read the joins of the last (one process reads for all of them: 10,000 at once would be
  8 join broadcasts a second to each of 10,000 sockets, more frames than one Python process
  reads, and the server would rightly close its sockets as slow readers, 4009). A failed
  handshake retries with jittered back-off (as socket.js), and is counted by what failed it
  (503 from a full worker, nginx or a swamped worker; anything else). The storm of 1,000
  opening at the same instant is the board bench's.
- RSS per idle viewer: the two Daphne workers' growth over the storm, settled, per socket.
- Join reach: JOINS times, one more client joins; each viewer stamps the moment the `connect`
  frame naming it arrives. Reach is the share of viewers that had it within 1 s and 2 s of the
  joiner's welcome (the board announces joins on its 0.25 s tick). The viewers are all clients
  of this one process, lean readers (tests/bench/readers.py: a callback per frame, no task, no
  decoding), which still read every frame in turn on the same two cores as the server: the
  figures include that reading (`client_cpu_s` per join), so they are an upper bound.

`make bench` runs it; alone: `python -m tests.bench.capacity [VIEWERS]` on its own stack.
"""

import asyncio
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import websockets

from deploy.stack import Stack
from tests.bench.load import rss_bytes, worker_processes
from tests.bench.measure import collector_paused
from tests.bench.readers import Reader, open_welcomed
from tests.helpers import connect, receive

VIEWERS = 10_000
WAVE = 1000
JOINS = 5
JOIN_SPACING_S = 2.0
# A join must reach this share of viewers within 1 s, and all of them within 2 s.
TARGET_WITHIN_1S, TARGET_WITHIN_2S = 0.99, 1.0
TARGET_RSS_KIB = 40
CONNECT_ATTEMPTS = 12
RETRY_BASE, RETRY_CAP = 0.2, 5.0
# After the storm, the joins it made are still being announced to everyone (and read by this
# one process): wait until no viewer has had a frame for QUIET_S, at most SETTLE_MAX_S.
QUIET_S, SETTLE_MAX_S = 1.0, 90.0


@dataclass
class JoinWatch:
    """While `on`, every viewer keeps the `connect` frames it gets: the joiner's id is known only
    from its welcome, and the viewers may read its announcement before this process has read
    the welcome."""

    on: bool = False


@dataclass(eq=False)
class Viewer:
    """An idle viewer's socket (a lean Reader, tests/bench/readers.py) and what it saw."""

    watch: JoinWatch
    reader: Reader | None = None
    # (monotonic ns of arrival, payload) of each `connect` frame while the watch is on.
    connects: list[tuple[int, bytes]] = field(default_factory=list)

    def on_frame(self, now_ns: int, payload: bytes) -> None:
        if self.watch.on and payload.startswith(b'{"type":"connect"'):
            self.connects.append((now_ns, payload))

    def saw(self, joiner: bytes) -> int | None:
        """When the `connect` frame naming `joiner` arrived (monotonic ns), if it did."""
        return next((now_ns for now_ns, payload in self.connects if joiner in payload), None)


@dataclass
class Storm:
    viewers: list[Viewer]
    seconds: float
    retries: int = 0
    refused_503: int = 0
    other_failures: int = 0
    # What failed the other handshakes: "HTTP 502", "TimeoutError", ...
    failure_kinds: Counter = field(default_factory=Counter)


def raise_own_file_limit(wanted: int) -> int:
    """The load generator's own open-file limit: at least one per viewer, or as many as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def open_viewers(stack: Stack, count: int, watch: JoinWatch) -> Storm:
    """Open `count` viewers at once, each reading from the moment it is in: a viewer that did not
    read while the others joined would be closed by the server as a slow reader (4009)."""
    storm = Storm([], 0.0)

    async def open_one() -> Viewer | None:
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                viewer = Viewer(watch)
                viewer.reader = await open_welcomed(stack.ws_url, "/ws/public/", viewer.on_frame, timeout=60)
                return viewer
            except websockets.InvalidStatus as refused:
                storm.refused_503 += refused.response.status_code == 503
                storm.other_failures += refused.response.status_code != 503
                storm.failure_kinds[f"HTTP {refused.response.status_code}"] += 1
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
                storm.other_failures += 1
                storm.failure_kinds[f"{type(error).__name__}: {str(error)[:60]}"] += 1
            storm.retries += 1
            await asyncio.sleep(random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt)))
        return None

    started = time.monotonic()
    for wave in range(0, count, WAVE):
        opened = await asyncio.gather(*(open_one() for _ in range(min(WAVE, count - wave))))
        storm.viewers += [viewer for viewer in opened if viewer is not None]
        await until_quiet(storm.viewers)
    storm.seconds = time.monotonic() - started
    return storm


async def until_quiet(viewers: list[Viewer]) -> float:
    """Seconds until no viewer has received a frame for QUIET_S (at most SETTLE_MAX_S)."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_MAX_S:
        await asyncio.sleep(QUIET_S / 2)
        last_read_ns = max((v.reader.last_read_ns for v in viewers), default=0)
        if time.monotonic_ns() - last_read_ns >= QUIET_S * 1e9:
            break
    return time.monotonic() - started


async def join_reach(stack: Stack, viewers: list[Viewer], watch: JoinWatch) -> list[dict]:
    """JOINS joins, one at a time: the share of viewers reached within 1 s and 2 s, and the last."""
    joins = []
    for _ in range(JOINS):
        cpu_started = time.process_time()
        for viewer in viewers:
            viewer.connects.clear()
        watch.on = True
        async with connect(stack.ws_url, "/ws/public/", open_timeout=30, max_size=None) as joiner:
            welcome = await receive(joiner, 30)
            joined_ns = time.monotonic_ns()
            await asyncio.sleep(JOIN_SPACING_S + 1.0)
        watch.on = False
        target = welcome["you"]["id"].encode()
        arrivals = (viewer.saw(target) for viewer in viewers)
        lags = sorted((arrival - joined_ns) / 1e9 for arrival in arrivals if arrival is not None)
        joins.append(
            {
                "within_1s": round(sum(lag <= 1.0 for lag in lags) / len(viewers), 4),
                "within_2s": round(sum(lag <= 2.0 for lag in lags) / len(viewers), 4),
                "reached": round(len(lags) / len(viewers), 4),
                "last_s": round(lags[-1], 3) if lags else None,
                # This process's CPU over the join (reading every viewer's copy): what the
                # viewers' reading took from the two cores the server runs on.
                "client_cpu_s": round(time.process_time() - cpu_started, 3),
            }
        )
        await asyncio.sleep(1.0)  # its leave goes by before the next join
    return joins


async def run(stack: Stack, count: int = VIEWERS) -> dict:
    file_limit = raise_own_file_limit(count + 1000)
    with collector_paused():
        workers = worker_processes(stack)
        rss_before = rss_bytes(workers)
        watch = JoinWatch()
        storm = await open_viewers(stack, count, watch)
        settled = await until_quiet(storm.viewers)
        # Viewers the server closed before the joins (4009: it took them for slow readers).
        closed = Counter(str(v.reader.protocol.close_code) for v in storm.viewers if v.reader.closed.done())
        # Per socket still open: a closed viewer's memory is back with the worker.
        still_open = len(storm.viewers) - closed.total()
        rss_per_viewer_kib = (rss_bytes(workers) - rss_before) / max(1, still_open) / 1024
        joins = await join_reach(stack, storm.viewers, watch) if storm.viewers else []
        await asyncio.gather(*(v.reader.close() for v in storm.viewers), return_exceptions=True)
    worst_1s = min((j["within_1s"] for j in joins), default=0.0)
    worst_2s = min((j["within_2s"] for j in joins), default=0.0)
    return {
        "scenario": f"{count} idle /ws/public/ viewers at once; {JOINS} joins",
        "viewers": count,
        "opened": len(storm.viewers),
        "failed": count - len(storm.viewers),
        "storm_s": round(storm.seconds, 2),
        "retries": storm.retries,
        "refused_503": storm.refused_503,
        "other_failures": storm.other_failures,
        "failure_kinds": dict(storm.failure_kinds.most_common(5)),
        "quiet_after_storm_s": round(settled, 1),
        "closed_before_joins": dict(closed),
        "rss_kib_per_idle_viewer": round(rss_per_viewer_kib, 1),
        "joins": joins,
        "worst_join_within_1s": worst_1s,
        "worst_join_within_2s": worst_2s,
        "loadgen_file_limit": file_limit,
        "target": (
            f"all open; a join reaches {TARGET_WITHIN_1S:.0%} within 1 s and all within 2 s; "
            f"RSS per idle viewer reported (goal <= {TARGET_RSS_KIB} KiB)"
        ),
        "met": len(storm.viewers) == count and worst_1s >= TARGET_WITHIN_1S and worst_2s >= TARGET_WITHIN_2S,
        "rss_goal_met": rss_per_viewer_kib <= TARGET_RSS_KIB,
    }


def main() -> None:
    from tests.bench.measure import BENCH_STACK_ENV
    from tests.conftest import start_stack, stop_stack

    count = int(sys.argv[1]) if len(sys.argv) > 1 else VIEWERS
    stack = start_stack(**BENCH_STACK_ENV)
    try:
        result = asyncio.run(run(stack, count))
        errors = [line for line in stack.log("nginx").read_text().splitlines() if "[" in line and "] " in line]
        print("\n".join(errors[-5:]))
    finally:
        stop_stack(stack)
    for key, value in result.items():
        print(f"{key:<26} {value}")


if __name__ == "__main__":
    main()

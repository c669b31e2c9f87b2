"""Peers that send but never read, among honest readers on the public board.

Used by test_slow_readers.py, and as a script that measures the Daphne workers' memory over a
longer run (the issue's scenario: ~60 readers, 4 slow peers sending 20 delay reports a second):

    .venv/bin/python -m tests.stack.slow_readers [seconds] [readers] [slow peers] [reconnect]

With `reconnect` (1), each slow peer comes back as soon as it is cut off.
"""

import asyncio
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil
from websockets.exceptions import ConnectionClosed

from deploy.stack import WS_WORKERS, Stack
from tests.helpers import connect
from tests.slowpeer import Ending, SlowPeer

# The slow peer: 20 reports a second, under the rate limit (30/s).
SLOW_REPORTS_PER_SECOND = 20
# Without the token of a pong it has read, a report is answered with bad_message, not the board
# (docs/protocol.md): a peer that never reads costs the server error frames and broadcasts.
DELAY_REPORT = {"type": "delay", "delay_ms": 1.5}


@dataclass
class SlowResult:
    opened_at: float
    closed_after: float | None  # seconds from open to the first failed send
    sent_frames: int
    ending: Ending | None = None


@dataclass
class ReaderResult:
    answers: int = 0
    slowest_answer: float = 0.0  # seconds from a report to its `delays` answer
    closed: int | None = None  # a close code, if the server closed it
    frame_sizes: list[int] = field(default_factory=list)


def run_slow_peer(stack: Stack, stop: threading.Event, result: list, reconnect: bool = False) -> None:
    """A slow peer, in a thread of its own: report until the server cuts it off or `stop`;
    with `reconnect`, come back at once each time, as a hostile client would."""
    while not stop.is_set():
        peer = SlowPeer("127.0.0.1", stack.port, "/ws/public/")
        peer.open()
        opened = time.monotonic()
        while not stop.is_set() and peer.send_json(DELAY_REPORT):
            stop.wait(1 / SLOW_REPORTS_PER_SECOND)
        closed_after = None if peer.closed_at is None else peer.closed_at - opened
        outcome = SlowResult(opened, closed_after, peer.sent_frames)
        outcome.ending = peer.read_to_the_end(timeout=5 if closed_after is None else 1)
        peer.close()
        result.append(outcome)
        if not reconnect:
            return


async def run_reader(stack: Stack, stop: asyncio.Event, result: ReaderResult, ready: asyncio.Event) -> None:
    """An honest board page: a ping and a report on its pong every second, every frame read as it
    comes (the first pong is a warm-up, as on the page, and is answered like the others)."""
    async with connect(stack.ws_url, "/ws/public/") as socket:
        ready.set()
        seq = 0
        try:
            while not stop.is_set():
                sent = time.monotonic()
                seq += 1
                await socket.send(json.dumps({"type": "ping", "seq": seq}))
                while True:
                    text = await asyncio.wait_for(socket.recv(), 10)
                    result.frame_sizes.append(len(text))
                    frame = json.loads(text)
                    if frame["type"] == "pong" and frame["seq"] == seq:
                        report = {"type": "delay", "delay_ms": 12.5, "seq": seq, "token": frame["token"]}
                        await socket.send(json.dumps(report))
                    elif frame["type"] == "delays":
                        break
                result.answers += 1
                result.slowest_answer = max(result.slowest_answer, time.monotonic() - sent)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        except ConnectionClosed as closed:
            result.closed = closed.rcvd.code if closed.rcvd else 1006


def worker_memory(stack: Stack) -> dict[int, int]:
    """Each Daphne worker's resident set size, in bytes."""
    return {n: psutil.Process(stack.pid_of(f"ws:ws-{n}")).memory_info().rss for n in WS_WORKERS}


async def scenario(
    stack: Stack, seconds: float, readers: int, slow: int, sample=None, reconnect: bool = False
) -> tuple[list[ReaderResult], list[SlowResult]]:
    """`readers` honest pages and `slow` peers on the board for `seconds`."""
    stop_readers = asyncio.Event()
    stop_slow = threading.Event()
    reader_results = [ReaderResult() for _ in range(readers)]
    ready = [asyncio.Event() for _ in range(readers)]
    tasks = [
        asyncio.create_task(run_reader(stack, stop_readers, r, e)) for r, e in zip(reader_results, ready, strict=True)
    ]
    await asyncio.gather(*(e.wait() for e in ready))
    slow_results: list[SlowResult] = []
    threads = [
        threading.Thread(target=run_slow_peer, args=(stack, stop_slow, slow_results, reconnect)) for _ in range(slow)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(1)
        if sample is not None:
            sample(time.monotonic() - started)
    stop_slow.set()
    stop_readers.set()
    await asyncio.gather(*tasks)
    await asyncio.gather(*(asyncio.to_thread(thread.join) for thread in threads))
    return reader_results, slow_results


def main() -> None:
    from tests.conftest import start_stack, stop_stack

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 90
    readers = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    slow = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    reconnect = len(sys.argv) > 4 and sys.argv[4] == "1"
    stack = start_stack()
    try:
        time.sleep(2)
        before = worker_memory(stack)
        samples = []

        def sample(at: float) -> None:
            samples.append((at, worker_memory(stack)))

        reader_results, slow_results = asyncio.run(scenario(stack, seconds, readers, slow, sample, reconnect))
        after = worker_memory(stack)
        mib = 1024 * 1024
        print(f"{readers} readers, {slow} slow peers (reconnecting: {reconnect}), {seconds:.0f} s")
        print("RSS before (MiB):", {n: round(v / mib, 1) for n, v in before.items()})
        print("RSS after  (MiB):", {n: round(v / mib, 1) for n, v in after.items()})
        print("RSS peak   (MiB):", {n: round(max(s[1][n] for s in samples) / mib, 1) for n in WS_WORKERS})
        print("growth     (MiB):", {n: round((after[n] - before[n]) / mib, 1) for n in WS_WORKERS})
        cut = [r.closed_after for r in slow_results if r.closed_after is not None]
        print(
            f"slow peers: {len(slow_results)} connections, {len(cut)} cut off, after "
            f"{min(cut, default=0):.1f}-{max(cut, default=0):.1f} s; endings: "
            f"{sum(r.ending.close_code == 4009 for r in slow_results)} saw 4009, "
            f"{sum(r.ending.reset for r in slow_results)} reset, "
            f"reports per connection {min(r.sent_frames for r in slow_results)}-"
            f"{max(r.sent_frames for r in slow_results)}"
        )
        sizes = [size for r in reader_results for size in r.frame_sizes]
        print(
            f"readers: answers {sum(r.answers for r in reader_results)}, "
            f"slowest answer {max(r.slowest_answer for r in reader_results):.3f} s, "
            f"closed {[r.closed for r in reader_results if r.closed]}, "
            f"largest frame {max(sizes)} B"
        )
    finally:
        stop_stack(stack)


if __name__ == "__main__":
    main()

"""A load generator of public-board clients: each opens a socket through nginx, then once a second
sends a ping, waits for its pong, and reports the round trip as a delay (what public.js does).

Against /ws/echo/ (the baseline) the same frames come straight back, so both targets carry the
same client traffic and differ only in what the server does with it.
"""

import asyncio
import gc
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil
import websockets
from websockets.asyncio.client import ClientConnection

from deploy.stack import WS_WORKERS, Stack
from tests.helpers import connect

PERIOD = 1.0  # one ping and one delay report per client per second
PONG_TIMEOUT = 5.0
CONNECT_ATTEMPTS = 10
# Back-off of a client whose handshake failed: full jitter, doubling, capped (as socket.js).
RETRY_BASE, RETRY_CAP = 0.2, 5.0
ANSWER_PREFIXES = (b'{"type":"pong"', b'{"type":"ping"')  # echo sends the ping itself back
BOARD_ANSWER_PREFIX = b'{"type":"delays"'


class CountingConnection(ClientConnection):
    """A client connection that counts the bytes it receives off the wire (after
    permessage-deflate, frame headers included): what a phone downloads."""

    wire_bytes = 0

    def data_received(self, data: bytes) -> None:
        self.wire_bytes += len(data)
        super().data_received(data)


@dataclass
class Window:
    """The measured interval; frames outside it are not counted."""

    start: float = float("inf")
    end: float = float("inf")

    def holds(self, now: float) -> bool:
        return self.start <= now < self.end


@dataclass(eq=False)
class Client:
    socket: ClientConnection
    window: Window
    pending: asyncio.Future | None = None
    received_bytes: int = 0
    # Board answers received in the window: fewer than one a second when the server falls behind.
    board_answers: int = 0
    # The socket's wire_bytes when the window opened and closed.
    wire_at_start: int = 0
    wire_at_end: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    lost: int = 0

    async def read_forever(self) -> None:
        """Count every byte received in the window; hand pongs to the waiting ping."""
        try:
            while True:
                data = await self.socket.recv(decode=False)
                if self.window.holds(time.monotonic()):
                    self.received_bytes += len(data)
                    self.board_answers += data.startswith(BOARD_ANSWER_PREFIX)
                if data.startswith(ANSWER_PREFIXES) and self.pending is not None and not self.pending.done():
                    self.pending.set_result((time.perf_counter_ns(), data))
        except websockets.ConnectionClosed:
            pass

    async def ping_forever(self, first_due: float) -> None:
        """Ping at `first_due` and once a PERIOD after it: the schedule is fixed in advance, so a
        client whose task started late catches up instead of clumping with its neighbours."""
        loop = asyncio.get_running_loop()
        due = first_due
        await asyncio.sleep(max(0.0, due - loop.time()))
        for seq in range(1, 10**9):
            await self.ping_and_report(seq)
            due += PERIOD
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def ping_and_report(self, seq: int) -> None:
        self.pending = asyncio.get_running_loop().create_future()
        sent = time.perf_counter_ns()
        await self.socket.send(f'{{"type":"ping","seq":{seq},"sent_at":{time.time() * 1000:.1f}}}')
        try:
            async with asyncio.timeout(PONG_TIMEOUT):
                answered, pong = await self.pending
        except TimeoutError:
            self.lost += self.window.holds(time.monotonic())
            return
        rtt_ms = (answered - sent) / 1e6
        if self.window.holds(time.monotonic()):
            self.rtts_ms.append(rtt_ms)
        # The board counts a report only on the pong it answers (echo ignores the fields).
        token = json.loads(pong).get("token", "")
        report = {"type": "delay", "delay_ms": round(min(rtt_ms, 60000), 3), "seq": seq, "token": token}
        await self.socket.send(json.dumps(report))


@dataclass
class Storm:
    """What opening every client at once cost."""

    clients: list[Client]
    seconds: float
    retries: int
    failed: int


async def open_all(stack: Stack, path: str, count: int, window: Window, compression: str | None = "deflate") -> Storm:
    """Open `count` sockets at the same moment; failed handshakes retry with jittered back-off."""
    retries = 0

    async def open_one() -> Client | None:
        nonlocal retries
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                # No client keepalive pings: browsers send none, and 1000 sockets opened at once
                # would all ping in the same instant, a burst no page would ever cause.
                # compression: "deflate" offers permessage-deflate as browsers do; None does not.
                socket = await connect(
                    stack.ws_url,
                    path,
                    open_timeout=30,
                    max_size=None,
                    ping_interval=None,
                    compression=compression,
                    create_connection=CountingConnection,
                )
                if path == "/ws/public/":
                    await asyncio.wait_for(socket.recv(decode=False), 30)  # the welcome
                return Client(socket, window)
            except (OSError, TimeoutError, websockets.InvalidStatus, websockets.ConnectionClosed):
                retries += 1
                await asyncio.sleep(random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt)))
        return None

    started = time.monotonic()
    opened = await asyncio.gather(*(open_one() for _ in range(count)))
    clients = [client for client in opened if client is not None]
    return Storm(clients, time.monotonic() - started, retries, count - len(clients))


def worker_processes(stack: Stack) -> list[psutil.Process]:
    return [psutil.Process(stack.pid_of(f"ws:ws-{n}")) for n in WS_WORKERS]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def rss_bytes(processes: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)


async def run_load(
    stack: Stack, path: str, count: int, warmup: float, measure: float, compression: str | None = "deflate"
) -> dict:
    """Storm in `count` clients, let them settle, then measure a window of steady traffic."""
    with collector_paused():
        return await _run_load(stack, path, count, warmup, measure, compression)


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


async def _run_load(
    stack: Stack, path: str, count: int, warmup: float, measure: float, compression: str | None
) -> dict:
    workers = worker_processes(stack)
    rss_before = rss_bytes(workers)
    window = Window()
    storm = await open_all(stack, path, count, window, compression)
    rss_after = rss_bytes(workers)
    readers = [asyncio.create_task(c.read_forever()) for c in storm.clients]
    # Independent pages: each at its own random moment of the period, so pings coincide as
    # often as chance has them (seeded: every run, echo's and the app's, gets the same phases).
    phases = random.Random(count)
    start = asyncio.get_running_loop().time() + 0.1
    pingers = [asyncio.create_task(c.ping_forever(start + phases.uniform(0, PERIOD))) for c in storm.clients]
    await asyncio.sleep(warmup)
    me = psutil.Process()
    cpu_start, my_cpu_start = cpu_seconds(workers), cpu_seconds([me])
    window.start = time.monotonic()
    window.end = window.start + measure
    for client in storm.clients:
        client.wire_at_start = client.socket.wire_bytes
    await asyncio.sleep(measure)
    cpu_used, my_cpu = cpu_seconds(workers) - cpu_start, cpu_seconds([me]) - my_cpu_start
    rss_loaded = rss_bytes(workers)
    for client in storm.clients:
        client.wire_at_end = client.socket.wire_bytes
    for task in pingers + readers:
        task.cancel()
    await asyncio.gather(*(c.socket.close() for c in storm.clients), return_exceptions=True)
    await asyncio.gather(*pingers, *readers, return_exceptions=True)
    per_client = max(1, len(storm.clients))
    result = summarize(storm, count, measure, cpu_used, my_cpu, (rss_after - rss_before) / per_client)
    result["rss_kib_per_client_loaded"] = round((rss_loaded - rss_before) / per_client / 1024, 1)
    return result


def summarize(storm: Storm, count: int, measure: float, cpu: float, my_cpu: float, rss_per_client: float) -> dict:
    from shared.stats import percentile

    rtts = sorted(rtt for client in storm.clients for rtt in client.rtts_ms)
    client_seconds = len(storm.clients) * measure
    wire = sum(c.wire_at_end - c.wire_at_start for c in storm.clients)
    answers = sum(c.board_answers for c in storm.clients)
    return {
        "clients": count,
        "connected": len(storm.clients),
        "connect_storm_s": round(storm.seconds, 2),
        "connect_retries": storm.retries,
        "pings": len(rtts),
        "lost": sum(client.lost for client in storm.clients),
        "p50_ms": round(percentile(rtts, 50), 3) if rtts else None,
        "p99_ms": round(percentile(rtts, 99), 3) if rtts else None,
        "p999_ms": round(percentile(rtts, 99.9), 3) if rtts else None,
        # On the wire (compressed, with frame headers); app_bytes: the frames' own length.
        "bytes_per_client_s": round(wire / client_seconds),
        "app_bytes_per_client_s": round(sum(c.received_bytes for c in storm.clients) / client_seconds),
        # A page reports once a second, so per answer is per viewer-second at full speed; the
        # per-second figures above shrink when an overloaded server answers less often.
        "answers_per_client_s": round(answers / client_seconds, 3),
        # On the wire per board answer, with its pong: a viewer-second's bytes at full speed.
        "bytes_per_answer": round(wire / answers) if answers else None,
        "cpu_ms_per_answer": round(1000 * cpu / answers, 3) if answers else None,
        "server_cpu_s": round(cpu, 2),
        "cpu_ms_per_client_s": round(1000 * cpu / client_seconds, 3),
        "loadgen_cpu_pct": round(100 * my_cpu / measure),
        "rss_kib_per_connection": round(rss_per_client / 1024, 1),
    }

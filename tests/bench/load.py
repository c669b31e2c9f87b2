"""A load generator of public-board clients: each opens a socket through nginx, then once a second
sends a ping, waits for its pong, and reports the round trip as a delay (what public.js does).

Against /ws/echo/ (the baseline) the same frames come straight back, so both targets carry the
same client traffic and differ only in what the server does with it.

Every client is a lean reader (tests/bench/readers.py): the `websockets` Sans-I/O protocol under a
plain asyncio.Protocol, one callback per data frame with the monotonic time of the read that held
it. The pong is recognised in that callback and the report sent from it at once; the round trip
is that read's stamp minus the monotonic time the ping was sent. Once the clients are in, no task
runs for them: each client's pings and pong timeouts are event-loop timers (`loop.call_at`). The
asyncio client they replace cost a task, futures and coroutine switches per frame, about half a
core at N = 1000 on the server's own two cores, and its queueing landed in the round trips.
"""

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import websockets
from websockets.exceptions import InvalidState

from deploy.stack import WS_WORKERS, Stack
from tests.bench.measure import collector_paused
from tests.bench.readers import Reader, open_reader, open_welcomed

PERIOD = 1.0  # one ping and one delay report per client per second
PONG_TIMEOUT = 5.0
CONNECT_ATTEMPTS = 10
# Back-off of a client whose handshake failed: full jitter, doubling, capped (as socket.js).
RETRY_BASE, RETRY_CAP = 0.2, 5.0
ANSWER_PREFIXES = (b'{"type":"pong"', b'{"type":"ping"')  # echo sends the ping itself back
BOARD_ANSWER_PREFIX = b'{"type":"delays"'


@dataclass
class Window:
    """The measured interval (monotonic ns); frames outside it are not counted."""

    start_ns: float = float("inf")
    end_ns: float = float("inf")

    def holds(self, now_ns: int) -> bool:
        return self.start_ns <= now_ns < self.end_ns


@dataclass(eq=False)
class Client:
    """One page: its socket (a lean Reader), its ping schedule, and what it measured.

    At most one ping is in flight: the next is sent at its due time, or as soon as the pending
    one is answered (or lost) if that is later, so a late client catches up on its fixed schedule
    instead of clumping with its neighbours."""

    window: Window
    reader: Reader | None = None
    received_bytes: int = 0
    # Board answers received in the window: fewer than one a second when the server falls behind.
    board_answers: int = 0
    # The socket's wire_bytes when the window opened and closed.
    wire_at_start: int = 0
    wire_at_end: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    lost: int = 0
    seq: int = 0
    # Monotonic ns at which the ping in flight was sent; 0 when none is.
    sent_ns: int = 0
    # Loop time (time.monotonic()) at which the next ping is due.
    due: float = 0.0
    stopped: bool = False
    # The one timer of the client: its next ping, or the timeout of the ping in flight.
    timer: asyncio.TimerHandle | None = None

    def on_frame(self, now_ns: int, payload: bytes) -> None:
        """Count every frame received in the window; a pong answers the ping in flight."""
        if self.window.holds(now_ns):
            self.received_bytes += len(payload)
            self.board_answers += payload.startswith(BOARD_ANSWER_PREFIX)
        if self.sent_ns and payload.startswith(ANSWER_PREFIXES):
            self.answered(now_ns, payload)

    def start(self, first_due: float) -> None:
        """Ping at `first_due` (loop time) and once a PERIOD after it."""
        self.due = first_due
        self.timer = asyncio.get_running_loop().call_at(first_due, self.ping)

    def ping(self) -> None:
        if self.stopped or self.reader.closed.done():
            self.timer = None
            return
        self.seq += 1
        self.sent_ns = time.monotonic_ns()
        if not self.send(f'{{"type":"ping","seq":{self.seq},"sent_at":{time.time() * 1000:.1f}}}'):
            return
        loop = asyncio.get_running_loop()
        self.timer = loop.call_at(loop.time() + PONG_TIMEOUT, self.timed_out)

    def answered(self, now_ns: int, pong: bytes) -> None:
        rtt_ms = (now_ns - self.sent_ns) / 1e6
        self.sent_ns = 0
        self.timer.cancel()
        if self.window.holds(now_ns):
            self.rtts_ms.append(rtt_ms)
        # The board counts a report only on the pong it answers (echo ignores the fields).
        token = json.loads(pong).get("token", "")
        report = {"type": "delay", "delay_ms": round(min(rtt_ms, 60000), 3), "seq": self.seq, "token": token}
        if self.send(json.dumps(report)):
            self.next_ping()

    def timed_out(self) -> None:
        self.sent_ns = 0
        self.lost += self.window.holds(time.monotonic_ns())
        self.next_ping()

    def next_ping(self) -> None:
        self.due += PERIOD
        # A due time already past fires on the loop's next turn.
        self.timer = None if self.stopped else asyncio.get_running_loop().call_at(self.due, self.ping)

    def send(self, text: str) -> bool:
        """Send `text` unless the client is stopped or its socket closing; False if not sent."""
        if self.stopped:
            return False
        try:
            self.reader.send_text(text)
        except InvalidState:  # the server closed the socket: this page is gone
            self.stop()
            return False
        return True

    def stop(self) -> None:
        self.stopped = True
        self.sent_ns = 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


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
        client = Client(window)
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                # compression: "deflate" offers permessage-deflate as browsers do; None does not.
                # The reader sends no keepalive pings: browsers send none, and 1000 sockets opened
                # at once would all ping in the same instant, a burst no page would ever cause.
                # The board sends a welcome first; the echo consumers send nothing unasked.
                opening = open_welcomed if path == "/ws/public/" else open_reader
                client.reader = await opening(stack.ws_url, path, client.on_frame, 30, compression)
                return client
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
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
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def stack_processes(stack: Stack) -> dict[str, list[psutil.Process]]:
    """Who shares the two cores during a run: the Daphne workers, nginx (master and workers),
    the stack's own Redis, and this load generator."""
    nginx = psutil.Process(stack.pid_of("nginx"))
    redis = [] if stack.redis_url else [psutil.Process(stack.pid_of("redis"))]
    return {
        "ws_workers": worker_processes(stack),
        "nginx": [nginx, *nginx.children()],
        "redis": redis,
        "load_generator": [psutil.Process()],
    }


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent on anything but idling (summed over its cores)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def core_wait_seconds(processes: list[psutil.Process]) -> float:
    """Seconds the processes' main threads were ready to run but waited for a core: the second
    field of Linux's /proc/<pid>/schedstat (Documentation/scheduler/sched-stats.rst), in ns."""
    return sum(int(Path(f"/proc/{p.pid}/schedstat").read_text().split()[1]) for p in processes) / 1e9


def machine_core_wait_seconds() -> float:
    """Seconds in which at least one task of the machine waited for a core: the `some` total of
    Linux's pressure stall information, /proc/pressure/cpu (Documentation/accounting/psi.rst), in us."""
    some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    return int(some.rpartition("total=")[2]) / 1e6


class CoreUse:
    """Over an interval, per process group and for the machine: the cores used, and the time
    spent ready to run but waiting for a core (per second of the interval; a group's waits are
    summed over its processes). On two cores shared with the load generator, the waits are what
    turn into round trips: a worker woken by a frame while both cores are busy runs a
    scheduler slice later. Waits are None where Linux does not publish them."""

    def __init__(self, groups: dict[str, list[psutil.Process]]):
        self.groups = groups
        self.waits_known = Path("/proc/pressure/cpu").exists()
        self.start = self._now()
        self.started_at = time.monotonic()

    def _now(self) -> dict[str, tuple[float, float]]:
        now = {name: (cpu_seconds(group), self._wait(group)) for name, group in self.groups.items()}
        machine_wait = machine_core_wait_seconds() if self.waits_known else 0.0
        return now | {"machine": (machine_busy_seconds(), machine_wait)}

    def _wait(self, group: list[psutil.Process]) -> float:
        return core_wait_seconds(group) if self.waits_known else 0.0

    def spent(self) -> dict[str, tuple[float, float]]:
        """{group: (CPU seconds, seconds waiting for a core)} since the interval began."""
        now = self._now()
        return {name: (now[name][0] - self.start[name][0], now[name][1] - self.start[name][1]) for name in now}

    def per_second(self, spent: dict[str, tuple[float, float]]) -> dict[str, dict]:
        """{"cores_used": {group: cores}, "core_wait_s_per_s": {group: seconds per second}}."""
        elapsed = time.monotonic() - self.started_at
        used = {name: round(cpu / elapsed, 2) for name, (cpu, _) in spent.items()}
        waits = {name: round(wait / elapsed, 3) for name, (_, wait) in spent.items()}
        return {"cores_used": used, "core_wait_s_per_s": waits if self.waits_known else None}


def rss_bytes(processes: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)


async def run_load(
    stack: Stack, path: str, count: int, warmup: float, measure: float, compression: str | None = "deflate"
) -> dict:
    """Storm in `count` clients, let them settle, then measure a window of steady traffic."""
    with collector_paused():
        return await _run_load(stack, path, count, warmup, measure, compression)


async def _run_load(
    stack: Stack, path: str, count: int, warmup: float, measure: float, compression: str | None
) -> dict:
    # Processes are looked up (supervisorctl, a subprocess per name) before any client exists:
    # the lookups block this event loop for a fraction of a second, and next to the measured
    # window that stall, and the burst of pings queued behind it, landed in the round trips.
    groups = stack_processes(stack)
    workers = groups["ws_workers"]
    rss_before = rss_bytes(workers)
    window = Window()
    storm = await open_all(stack, path, count, window, compression)
    rss_after = rss_bytes(workers)
    # Independent pages: each at its own random moment of the period, so pings coincide as
    # often as chance has them (seeded: every run, echo's and the app's, gets the same phases).
    phases = random.Random(count)
    start = asyncio.get_running_loop().time() + 0.1
    for client in storm.clients:
        client.start(start + phases.uniform(0, PERIOD))
    await asyncio.sleep(warmup)
    cores = CoreUse(groups)
    # Reading /proc above held the loop ~1 ms: let the frames that came meanwhile be read
    # (and stamped) before the window opens.
    await asyncio.sleep(0.01)
    window.start_ns = time.monotonic_ns()
    window.end_ns = window.start_ns + round(measure * 1e9)
    for client in storm.clients:
        client.wire_at_start = client.reader.wire_bytes
    await asyncio.sleep(measure)
    spent = cores.spent()
    cpu_used, my_cpu = spent["ws_workers"][0], spent["load_generator"][0]
    rss_loaded = rss_bytes(workers)
    for client in storm.clients:
        client.wire_at_end = client.reader.wire_bytes
        client.stop()
    await asyncio.gather(*(c.reader.close() for c in storm.clients), return_exceptions=True)
    per_client = max(1, len(storm.clients))
    result = summarize(storm, count, measure, cpu_used, my_cpu, (rss_after - rss_before) / per_client)
    result["rss_kib_per_client_loaded"] = round((rss_loaded - rss_before) / per_client / 1024, 1)
    result |= cores.per_second(spent)
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

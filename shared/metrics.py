"""Every Prometheus metric the app exports, defined once (prometheus-client).

Units are seconds and counts; label values are few and fixed (endpoint names, close and error
codes, topic kinds, URL routes), so no series grows with the number of users.

| name | type | labels | what |
|---|---|---|---|
| `ping_websockets_open` | gauge (livesum) | endpoint | sockets accepted and not yet released |
| `ping_frames_received_total` | counter | endpoint | frames from clients (refused ones too) |
| `ping_frames_sent_total` | counter | endpoint | frames to clients (answers and broadcasts) |
| `ping_error_frames_total` | counter | endpoint, code | `error` frames sent, by error code |
| `ping_websocket_closes_total` | counter | endpoint, code | sockets released, by close code |
| `ping_websocket_refusals_total` | counter | reason | handshakes refused with 503: `capacity`, `timeout` |
| `ping_board_clients` | gauge (livesum) | - | clients on the public board |
| `ping_broadcast_fanout_seconds` | histogram | topic | writing one broadcast frame to a worker's local subscribers |
| `ping_broadcast_publish_seconds` | histogram | topic | handing one broadcast to the channel layer, for other workers |
| `ping_round_trip_seconds` | histogram | - | board round trips the server timed (warm-ups excluded) |
| `ping_layer_publish_failures_total` | counter | topic | publish attempts refused or timed out (Redis down, hung) |
| `ping_layer_publish_dropped_total` | counter | topic | broadcasts dropped from a worker's full publish queue |
| `ping_redis_unavailable` | gauge (livemax) | - | 1 while any of this worker's Redis work is failing (ws/jobs.py) |
| `ping_http_requests_total` | counter | method, view, status | page requests answered by Django |
| `ping_http_request_duration_seconds` | histogram | method, view | time Django took to answer |

`endpoint` is `ping`, `public`, `chat` or `presence`; `topic` is a topic's kind (`board`,
`chat`, `presence`, `sessions`), never a room name; `view` is the URL route (`/chat/<str:room>/`)
or `unmatched`.

Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set (the local stack sets it to
`<run dir>/metrics` and clears it at start), every process writes its values to files there and
`registry()` sums them, gauges as marked above (`livesum`: over live processes only). Without it
(one Daphne replica per container), the default registry holds this process's values only.
"""

import os
import re
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

# Round trips: a LAN is ~1 ms, a continent away ~100 ms, a bad mobile link seconds.
ROUND_TRIP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A publish is one Redis round trip per group; a local fan-out is N writes of the same bytes.
FANOUT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

WEBSOCKETS_OPEN = Gauge(
    "ping_websockets_open", "WebSockets accepted and not yet released.", ["endpoint"], multiprocess_mode="livesum"
)
FRAMES_RECEIVED = Counter("ping_frames_received", "Frames received from clients.", ["endpoint"])
FRAMES_SENT = Counter("ping_frames_sent", "Frames sent to clients.", ["endpoint"])
ERROR_FRAMES = Counter("ping_error_frames", "Error frames sent to clients, by error code.", ["endpoint", "code"])
CLOSES = Counter("ping_websocket_closes", "WebSockets released, by close code.", ["endpoint", "code"])
REFUSALS = Counter("ping_websocket_refusals", "WebSocket handshakes refused with 503, by reason.", ["reason"])
BOARD_CLIENTS = Gauge("ping_board_clients", "Clients on the public board.", multiprocess_mode="livesum")
PUBLISH_SECONDS = Histogram(
    "ping_broadcast_publish_seconds",
    "Time to hand one broadcast to the channel layer, for the other workers.",
    ["topic"],
    buckets=FANOUT_BUCKETS,
)
FANOUT_SECONDS = Histogram(
    "ping_broadcast_fanout_seconds",
    "Time to write one broadcast frame to this worker's local subscribers.",
    ["topic"],
    buckets=FANOUT_BUCKETS,
)
ROUND_TRIP_SECONDS = Histogram(
    "ping_round_trip_seconds", "Board round trips as the server timed them.", buckets=ROUND_TRIP_BUCKETS
)
PUBLISH_FAILURES = Counter(
    "ping_layer_publish_failures", "Publish attempts the channel layer refused or timed out.", ["topic"]
)
PUBLISH_DROPPED = Counter(
    "ping_layer_publish_dropped", "Broadcasts dropped from a full publish queue (Redis down for long).", ["topic"]
)
REDIS_UNAVAILABLE = Gauge(
    "ping_redis_unavailable", "1 while this process's Redis work is failing.", multiprocess_mode="livemax"
)
HTTP_REQUESTS = Counter("ping_http_requests", "Page requests answered.", ["method", "view", "status"])
HTTP_SECONDS = Histogram("ping_http_request_duration_seconds", "Time to answer a page request.", ["method", "view"])

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def topic_kind(topic: str) -> str:
    """A topic's kind, the only part that goes into a label: "chat.lobby" -> "chat"."""
    return topic.split(".", 1)[0]


def observe_round_trip(seconds: float) -> None:
    """Record one server-observed ping round trip, in seconds."""
    ROUND_TRIP_SECONDS.observe(seconds)


def multiprocess_dir() -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR, which prometheus-client reads once at import; None without it."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def registry() -> CollectorRegistry:
    """What /metrics shows: every process's values in multiprocess mode, else this process's."""
    if multiprocess_dir() is None:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def forget_dead_processes() -> list[int]:
    """Drop the live-gauge files of processes that are gone; returns their pids.

    Gunicorn reports its own dead workers (child_exit in web/gunicorn.conf.py); a Daphne worker
    killed by a signal reports nothing, so every scrape looks for files whose pid is gone. Their
    counters stay: a counter from a dead process still counted real events.
    """
    directory = multiprocess_dir()
    if directory is None:
        return []
    dead = set()
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.match(path.name)
        if match and not _is_alive(int(match[1])):
            dead.add(int(match[1]))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))
    return sorted(dead)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process: alive
    return True

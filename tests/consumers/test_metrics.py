"""The metrics of shared/metrics.py move when frames flow through the consumers and the hub.

The tests run without PROMETHEUS_MULTIPROC_DIR, so every value is in this process's registry.
"""

import asyncio

import pytest
import redis
from prometheus_client import REGISTRY

from shared import sessions
from shared.logs import SOCKET_ID
from tests.consumers.conftest import http, websocket
from tests.helpers import until
from ws import hub as hub_module
from ws.consumers.ping import PingConsumer
from ws.jobs import Jobs
from ws.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moves:
    """Values of a few samples now, to compare with later: moves.by("name", label=...)."""

    def __init__(self, *samples: tuple[str, dict[str, str]]):
        self.before = {(name, tuple(sorted(labels.items()))): value(name, **labels) for name, labels in samples}

    def by(self, name: str, **labels: str) -> float:
        return value(name, **labels) - self.before[(name, tuple(sorted(labels.items())))]


async def test_frames_in_and_out_and_the_open_socket_are_counted_on_the_ping_endpoint():
    """Three pings: three frames in, three pongs out; the socket counts as open until it closes."""
    ping = {"endpoint": "ping"}
    moves = Moves(
        ("ping_frames_received_total", ping),
        ("ping_frames_sent_total", ping),
        ("ping_websockets_open", ping),
        ("ping_websocket_closes_total", {**ping, "code": "1001"}),
    )
    client = websocket("/ws/ping/")
    assert (await client.connect())[0]
    assert moves.by("ping_websockets_open", **ping) == 1
    for seq in range(3):
        await client.send_json_to({"type": "ping", "seq": seq})
        assert (await client.receive_json_from())["type"] == "pong"
    assert moves.by("ping_frames_received_total", **ping) == 3
    assert moves.by("ping_frames_sent_total", **ping) == 3
    await client.disconnect(code=1001)
    assert moves.by("ping_websockets_open", **ping) == 0
    assert moves.by("ping_websocket_closes_total", **ping, code="1001") == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [("{not json", "bad_json"), ('{"type":"ping"}', "bad_message"), ('{"type":"delay","delay_ms":5}', "unknown_type")],
)
async def test_every_error_frame_is_counted_by_its_code(frame, code):
    """The error frame a bad frame gets shows under its code and endpoint."""
    labels = {"endpoint": "ping", "code": code}
    moves = Moves(("ping_error_frames_total", labels))
    client = websocket("/ws/ping/")
    assert (await client.connect())[0]
    await client.send_to(text_data=frame)
    assert (await client.receive_json_from())["code"] == code
    assert moves.by("ping_error_frames_total", **labels) == 1
    await client.disconnect()


async def report_on_a_pong(client, seq: int, claimed_ms: float, pause: float = 0.0) -> None:
    """Ping, wait `pause` after the pong, report on it (with its token); wait for the answer."""
    await client.send_json_to({"type": "ping", "seq": seq})
    while (pong := await client.receive_json_from(timeout=5))["type"] != "pong":
        pass
    await asyncio.sleep(pause)
    await client.send_json_to({"type": "delay", "delay_ms": claimed_ms, "seq": seq, "token": pong["token"]})
    while (await client.receive_json_from(timeout=5))["type"] != "delays":
        pass


async def test_a_board_client_counts_and_its_round_trips_are_the_servers_timing(live_redis):
    """Joining adds a board client and leaving removes it; the histogram takes the round trip the
    server observed (in seconds), not the client's claim, and not the warm-up on the first pong."""
    public = {"endpoint": "public"}
    moves = Moves(
        ("ping_board_clients", {}),
        ("ping_round_trip_seconds_count", {}),
        ("ping_round_trip_seconds_sum", {}),
        ("ping_frames_sent_total", public),
    )
    client = websocket("/ws/public/")
    assert (await client.connect())[0]
    assert (await client.receive_json_from(timeout=5))["type"] == "welcome"
    # Counted once the join is over: the welcome goes out before the join's last step.
    await until(lambda: moves.by("ping_board_clients") == 1, failure="the board client was not counted")
    await report_on_a_pong(client, 1, claimed_ms=1)  # the warm-up: shown, counted nowhere
    assert moves.by("ping_round_trip_seconds_count") == 0
    await report_on_a_pong(client, 2, claimed_ms=1, pause=0.06)
    assert moves.by("ping_round_trip_seconds_count") == 1
    assert 0.06 <= moves.by("ping_round_trip_seconds_sum") < 5  # the server's clock, not the 1 ms claimed
    assert moves.by("ping_frames_sent_total", **public) >= 5  # welcome, two pongs, two answers
    await client.disconnect()
    assert moves.by("ping_board_clients") == 0


class FakeSocket:
    def __init__(self):
        self.frames: list[str] = []

    async def deliver(self, frame):
        self.frames.append(frame)


class FakeLayer:
    """A channel layer that refuses the next `refusals` publishes (Redis down), or hangs on them."""

    def __init__(self, refusals: int = 0, hang: bool = False):
        self.refusals, self.hang = refusals, hang
        self.sent: list[str] = []

    async def new_channel(self):
        return "fake!1"

    async def group_add(self, group, channel):
        pass

    async def receive(self, channel):
        await asyncio.Event().wait()

    async def group_send(self, group, message):
        if self.hang:
            await asyncio.Event().wait()
        if self.refusals:
            self.refusals -= 1
            raise redis.ConnectionError("Redis is down")
        self.sent.append(message["text"])


async def test_a_publish_is_timed_and_each_refused_attempt_counts_as_a_failure(monkeypatch):
    """Topics are labelled by kind ("chat", never the room); Redis shows unavailable while refusing."""
    monkeypatch.setattr(hub_module, "PUBLISH_RETRY_SECONDS", 0.01)
    worker = Worker(FakeLayer(refusals=1000))
    chat = {"topic": "chat"}
    moves = Moves(("ping_broadcast_publish_seconds_count", chat), ("ping_layer_publish_failures_total", chat))
    try:
        await worker.hub.publish("chat.lobby", "{}")
        await until(lambda: moves.by("ping_layer_publish_failures_total", **chat) >= 2)
        assert value("ping_redis_unavailable") == 1
        assert moves.by("ping_broadcast_publish_seconds_count", **chat) == 0
        worker.hub.layer.refusals = 0
        await until(lambda: worker.hub.layer.sent == ["{}"])
        assert moves.by("ping_broadcast_publish_seconds_count", **chat) == 1
        assert value("ping_redis_unavailable") == 0
        assert REGISTRY.get_sample_value("ping_layer_publish_failures_total", {"topic": "chat.lobby"}) is None
    finally:
        await worker.stop()


async def test_broadcasts_dropped_from_a_full_publish_queue_are_counted(monkeypatch):
    """A hung Redis: past the queue's bound each dropped frame counts, by topic."""
    monkeypatch.setattr(hub_module, "PUBLISH_QUEUE_FRAMES", 3)
    worker = Worker(FakeLayer(hang=True))
    moves = Moves(("ping_layer_publish_dropped_total", {"topic": "board"}))
    try:
        for n in range(5):
            await worker.hub.publish("board", f"frame {n}")
        assert moves.by("ping_layer_publish_dropped_total", topic="board") == 2
    finally:
        await worker.stop()


async def test_a_local_fanout_is_timed_once_per_broadcast():
    """Writing one frame to this worker's subscribers is one observation, however many subscribe."""
    hub = Worker(FakeLayer()).hub
    sockets = [FakeSocket() for _ in range(3)]
    hub._subscribers["board"].update(sockets)
    moves = Moves(("ping_broadcast_fanout_seconds_count", {"topic": "board"}))
    await hub.deliver_local("board", "{}")
    assert [s.frames for s in sockets] == [["{}"]] * 3
    assert moves.by("ping_broadcast_fanout_seconds_count", topic="board") == 1


async def test_redis_unavailable_is_one_while_a_job_fails_and_zero_once_it_is_back():
    """The gauge follows the worker's jobs: a Redis error sets it, the job's recovery clears it."""
    jobs = Jobs()

    async def failing():
        raise redis.ConnectionError("Redis is down")

    async def working():
        return None

    assert not await jobs.guarded("job", failing())
    assert value("ping_redis_unavailable") == 1
    assert await jobs.guarded("job", working())
    assert value("ping_redis_unavailable") == 0


async def test_each_socket_runs_under_its_own_id_and_background_jobs_under_none(monkeypatch):
    """Everything a consumer logs carries its socket's id (shared/logs.py); a job it starts does not."""
    seen: list[str | None] = []

    def answer_ping(self, ping):
        seen.append(SOCKET_ID.get())
        return "{}"

    monkeypatch.setattr(PingConsumer, "answer_ping", answer_ping)
    clients = [websocket("/ws/ping/") for _ in range(2)]
    for client in clients * 2:
        if (not seen and client is clients[0]) or (len(seen) == 1 and client is clients[1]):
            assert (await client.connect())[0]
        await client.send_json_to({"type": "ping", "seq": 1})
        await client.receive_from()
    for client in clients:
        await client.disconnect()
    first, second, again_first, again_second = seen
    assert None not in seen
    assert first != second
    assert (again_first, again_second) == (first, second)

    async def job():
        seen.append(SOCKET_ID.get())

    SOCKET_ID.set("socket-1")
    await Jobs().spawn(job())
    assert seen[-1] is None


async def test_a_lone_daphne_worker_serves_its_own_metrics(monkeypatch):
    """Without a multiprocess directory (a container per replica), Daphne's /metrics is its own."""
    client = websocket("/ws/ping/")
    assert (await client.connect())[0]
    response = await http("/metrics").get_response()
    open_now = value("ping_websockets_open", endpoint="ping")
    await client.disconnect()
    assert response["status"] == 200
    assert open_now >= 1
    assert f'ping_websockets_open{{endpoint="ping"}} {open_now}'.encode() in response["body"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent")
    response = await http("/metrics").get_response()
    assert response["status"] == 404
    assert b"web server" in response["body"]


def test_a_session_end_a_page_could_not_announce_counts_as_a_publish_failure(monkeypatch):
    """Gunicorn publishes session ends straight to the layer: its failures count too."""

    async def failing_send(message):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(sessions, "_send", failing_send)
    monkeypatch.setattr(sessions, "_skip_until", 0.0)
    moves = Moves(("ping_layer_publish_failures_total", {"topic": "sessions"}))
    sessions._publish({"users": ["1"]})
    assert moves.by("ping_layer_publish_failures_total", topic="sessions") == 1

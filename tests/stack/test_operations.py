"""Operations on a real stack: /metrics through nginx (multiprocess mode), JSON logs, Sentry on.

One stack for the module, started with LOG_FORMAT=json and SENTRY_DSN pointing at a local
stand-in for Sentry, so the checks also show the three working together.
"""

import asyncio
import json
import re
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from deploy.stack import WS_WORKERS, Stack
from shared.protocol import CLOSE_UNAVAILABLE
from tests.conftest import start_stack, stop_stack
from tests.helpers import connect, fetch, receive, request, until
from tests.sentry_ingest import SentryIngest

pytestmark = pytest.mark.stack

PUBLIC = {"endpoint": "public"}


@pytest.fixture(scope="module")
def ops_stack() -> Iterator[Stack]:
    with SentryIngest() as ingest:
        running = start_stack(LOG_FORMAT="json", SENTRY_DSN=ingest.dsn)
        yield running
        stop_stack(running)


def scrape(stack: Stack) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics through nginx, by (name, sorted labels)."""
    status, _, body = fetch(stack.url + "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def join_board(stack: Stack, count: int) -> list:
    """`count` board clients, each having reported on two pongs (the first is a warm-up)."""
    sockets = [await connect(stack.ws_url, "/ws/public/") for _ in range(count)]
    for socket in sockets:
        assert (await receive(socket))["type"] == "welcome"
        for seq in (1, 2):
            await socket.send(json.dumps({"type": "ping", "seq": seq}))
            while (pong := await receive(socket))["type"] != "pong":
                pass
            await socket.send(json.dumps({"type": "delay", "delay_ms": 20, "seq": seq, "token": pong["token"]}))
            while (await receive(socket))["type"] != "delays":
                pass
    return sockets


def test_metrics_are_for_loopback_and_private_addresses_only(ops_stack):
    """The rendered nginx config allows loopback and the private ranges, then denies everyone else."""
    config = (ops_stack.run_dir / "nginx.conf").read_text()
    block = re.search(r"location = /metrics \{(.*?)\}", config, re.DOTALL)
    assert block is not None
    rules = re.findall(r"^\s*(allow|deny) ([^;]+);", block[1], re.MULTILINE)
    assert rules[-1] == ("deny", "all")
    allowed = {address for verb, address in rules[:-1] if verb == "allow"}
    assert allowed == {"127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}
    assert "proxy_pass http://web;" in block[1]


async def test_metrics_through_nginx_cover_gunicorn_and_both_daphne_workers(ops_stack):
    """From 127.0.0.1: open sockets and frames of every Daphne worker, and Gunicorn's page requests."""
    board = await join_board(ops_stack, 6)
    pingers = [await connect(ops_stack.ws_url, "/ws/ping/") for _ in range(2)]
    for seq, socket in enumerate(pingers):
        assert (await request(socket, {"type": "ping", "seq": seq}))["type"] == "pong"
    assert fetch(ops_stack.url + "/private/")[0] == 200
    samples = scrape(ops_stack)
    for socket in board + pingers:
        await socket.close()
    # Both workers hold some of the sockets (each logs its own handshakes), and the sums count all.
    for worker in WS_WORKERS:
        assert "WSCONNECT /ws/public/" in ops_stack.log(f"ws-{worker}").read_text()
    assert sample(samples, "ping_websockets_open", **PUBLIC) == 6
    assert sample(samples, "ping_websockets_open", endpoint="ping") == 2
    assert sample(samples, "ping_board_clients") == 6
    assert sample(samples, "ping_frames_received_total", **PUBLIC) >= 24  # two pings, two reports each
    assert sample(samples, "ping_frames_sent_total", **PUBLIC) >= 30  # a welcome, two pongs, two answers each
    assert sample(samples, "ping_round_trip_seconds_count") >= 6  # the second report of each
    assert sample(samples, "ping_http_requests_total", method="GET", view="/private/", status="200") >= 1
    assert sample(samples, "ping_http_request_duration_seconds_count", method="GET", view="/private/") >= 1


async def test_a_killed_workers_open_sockets_leave_the_metrics_with_it(ops_stack):
    """kill -9 runs no disconnect(); the next scrape drops the dead worker's live gauges anyway."""
    before = sample(scrape(ops_stack), "ping_websockets_open", **PUBLIC)
    board = await join_board(ops_stack, 6)
    assert sample(scrape(ops_stack), "ping_websockets_open", **PUBLIC) == before + 6
    ops_stack.ctl("signal", "KILL", "ws:ws-1")
    survivors = await still_open(board, settle=2.0)
    assert 0 < len(survivors) < 6
    await until(
        lambda: sample(scrape(ops_stack), "ping_websockets_open", **PUBLIC) == before + len(survivors),
        10,
        0.2,
        "the dead worker's sockets still count",
    )
    for socket in board:
        await socket.close()
    ops_stack.wait_until_ready(30)


async def still_open(sockets: list, settle: float) -> list:
    """The sockets whose connection survives `settle` seconds (a dead worker's are closed by nginx)."""
    await asyncio.sleep(settle)
    alive = []
    for socket in sockets:
        try:
            await request(socket, {"type": "ping", "seq": 1})
            alive.append(socket)
        except (ConnectionClosed, TimeoutError):
            pass
    return alive


async def until_sample(stack: Stack, name: str, wanted: float, timeout: float) -> None:
    await until(
        lambda: sample(scrape(stack), name) == wanted,
        timeout,
        0.5,
        f"{name} did not become {wanted} within {timeout} s",
    )


async def test_redis_unavailable_is_one_while_the_stacks_redis_is_stopped(ops_stack):
    """A worker's heartbeat finds Redis gone within LIVE_HEARTBEAT_SECONDS (10 s), and back again."""
    async with connect(ops_stack.ws_url, "/ws/public/") as socket:
        assert (await receive(socket))["type"] == "welcome"
        assert sample(scrape(ops_stack), "ping_redis_unavailable") == 0
        ops_stack.ctl("stop", "redis")
        try:
            await until_sample(ops_stack, "ping_redis_unavailable", 1, timeout=20)
        finally:
            ops_stack.ctl("start", "redis")
        await until_sample(ops_stack, "ping_redis_unavailable", 0, timeout=20)


def json_lines(stack: Stack, program: str) -> list[dict]:
    lines = [line for line in stack.log(program).read_text().splitlines() if line.strip()]
    assert lines, f"{program} logged nothing"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{program} wrote a line that is not JSON: {line!r}")
    return parsed


async def test_with_log_format_json_every_gunicorn_and_daphne_line_is_json(ops_stack):
    """Startup, app and access lines alike; access lines name their path, and nginx's, Gunicorn's and
    Django's lines for one request share its id."""
    _, headers, _ = fetch(ops_stack.url + "/private/")
    missing_status, missing_headers, _ = fetch(ops_stack.url + "/no-such-page/")
    assert missing_status == 404
    async with connect(ops_stack.ws_url, "/ws/ping/") as socket:
        await request(socket, {"type": "ping", "seq": 1})
    await asyncio.sleep(0.5)  # the access lines are written once the response and the socket are done
    web = json_lines(ops_stack, "web")
    page = [line for line in web if line.get("path") == "/private/" and line["logger"] == "gunicorn.access"]
    assert page, "no JSON access line for /private/"
    assert page[-1]["status"] == 200
    assert page[-1]["request_id"] == headers["X-Request-ID"]
    assert any(line["logger"] == "gunicorn.error" for line in web)  # Gunicorn's own start-up lines
    # Django's own line about the 404 and Gunicorn's access line share the request's id.
    tagged = [line for line in web if line.get("request_id") == missing_headers["X-Request-ID"]]
    assert {line["logger"] for line in tagged} == {"django.request", "gunicorn.access"}
    # nginx: its access lines are JSON too (its error log cannot be), with the same request id.
    nginx = [json.loads(line) for line in ops_stack.log("nginx").read_text().splitlines() if line.startswith("{")]
    assert [line["path"] for line in nginx if line["request_id"] == headers["X-Request-ID"]] == ["/private/"]
    daphne = [line for worker in WS_WORKERS for line in json_lines(ops_stack, f"ws-{worker}")]
    access = [line for line in daphne if line["logger"] == "ws.access" and line.get("path") == "/ws/ping/"]
    connected = [line for line in access if line["message"].startswith("WSCONNECT /ws/ping/")]
    assert connected
    assert all(len(line["socket_id"]) == 16 for line in connected)  # logged inside the consumer's task


async def test_errors_in_a_page_and_a_consumer_reach_sentry_from_the_real_processes():
    """SENTRY_DSN on a stack whose database vanished: Gunicorn reports the page's exception, a
    Daphne worker the chat consumer's (logged as it closes the socket for the client to retry)."""
    with SentryIngest() as sentry:
        stack = start_stack(SENTRY_DSN=sentry.dsn)
        try:
            for path in stack.run_dir.glob("db.sqlite3*"):
                path.unlink()  # the next connection opens a new, empty file: no tables
            assert fetch(stack.url + "/chat/lobby/")[0] == 500
            async with connect(stack.ws_url, "/ws/chat/lobby/") as socket:
                with pytest.raises(ConnectionClosed):
                    await receive(socket)
            # The code the page retries on, sent by the consumer (an application may not send 1011).
            assert socket.close_code == CLOSE_UNAVAILABLE
            ws_logs = "".join(stack.log(f"ws-{worker}").read_text() for worker in WS_WORKERS)
            assert "Exception inside application" not in ws_logs
            page = sentry.wait_for_event(lambda event: event.get("request", {}).get("url", "").startswith("http"))
            consumer = sentry.wait_for_event(lambda event: event.get("logger") == "ws.consumers.chat")
        finally:
            stop_stack(stack)
    assert page["request"]["url"].endswith("/chat/lobby/")
    assert page["exception"]["values"][-1]["type"] == "OperationalError"
    assert page["environment"] == "development"
    assert consumer["exception"]["values"][-1]["type"] == "OperationalError"

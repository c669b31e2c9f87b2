"""The public board over real sockets through nginx, with clients on both Daphne workers, and
what it does when Redis stops or a worker is killed."""

import asyncio
import json
import os
import signal
import time
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from deploy.stack import WS_WORKERS
from tests.conftest import start_stack, stop_stack
from tests.delayproxy import DelayProxy
from tests.helpers import connect, next_of, noting_worker, ping, receive, request

pytestmark = pytest.mark.stack

# Fast liveness so expiry is testable in seconds: heartbeat 0.5 s, expiry after 2 s.
HEARTBEAT, TTL = 0.5, 2.0


@pytest.fixture(scope="module")
def board_stack():
    stack = start_stack(LIVE_HEARTBEAT_SECONDS=str(HEARTBEAT), LIVE_TTL_SECONDS=str(TTL))
    yield stack
    stop_stack(stack)


async def get(url: str) -> str:
    """GET a page without blocking the event loop the sockets run on."""

    def read() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    return await asyncio.to_thread(read)


async def join(stack, ws_url: str | None = None):
    """Join and take the socket's first pong as a warm-up (not reported, as a page does)."""
    socket = await connect(ws_url or stack.ws_url, "/ws/public/")
    welcome = await receive(socket)
    assert welcome["type"] == "welcome"
    await ping(socket)
    return socket, welcome


async def announcement_of(socket, client_id: str, timeout: float = 5.0) -> dict:
    """The `connect` broadcast that names this client (each worker announces its own joins)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_of(socket, "connect", timeout)
            if client_id in [c["id"] for c in frame["clients"]]:
                return frame


async def departure_of(socket, client_id: str, timeout: float = 5.0) -> dict:
    """The `disconnect` broadcast that names this client."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_of(socket, "disconnect", timeout)
            if client_id in frame["ids"]:
                return frame


async def board_answer(socket, delay: float = 1.0) -> dict:
    """Ping, and report `delay` as the claim on its pong at once; the `delays` answer."""
    pong = await ping(socket)
    await socket.send(json.dumps({"type": "delay", "delay_ms": delay, "seq": pong["seq"], "token": pong["token"]}))
    return await next_of(socket, "delays")


async def until_board(socket, condition, timeout: float = 10.0) -> dict:
    """Report until the answer satisfies `condition` (the board converges through Redis)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await board_answer(socket)
        if condition(answer):
            return answer
        assert time.monotonic() < deadline, f"board never converged: {answer}"
        await asyncio.sleep(0.2)


async def join_noting_worker(stack):
    """Join, and tell which Daphne worker took the socket (its handshake log grew)."""
    (socket, welcome), worker = await noting_worker(stack, "/ws/public/", join(stack))
    return socket, welcome["you"], worker


async def pair_on_both_workers(stack):
    """Two clients that nginx's least_conn puts on different workers."""
    first, me, first_worker = await join_noting_worker(stack)
    second, other, second_worker = await join_noting_worker(stack)
    assert first_worker != second_worker
    return (first, me), (second, other, second_worker)


async def test_clients_on_different_workers_see_each_others_join_report_and_leave(board_stack):
    """Across processes: a join within 1 s, a report in the next answers, a leave within 1 s."""
    (first, me), (second, other, _) = await pair_on_both_workers(board_stack)
    started = time.monotonic()
    await announcement_of(first, other["id"], timeout=1.0)
    assert time.monotonic() - started < 1.0
    await board_answer(second, 42.0)
    answer = await until_board(first, lambda a: any(r["claimed_ms"] == 42.0 for r in a["clients"]))
    assert {row["id"] for row in answer["clients"]} >= {me["id"], other["id"]}
    await second.close()
    started = time.monotonic()
    await departure_of(first, other["id"], timeout=1.0)
    assert time.monotonic() - started < 1.0
    await first.close()


async def test_the_page_and_the_api_show_the_board_from_redis_before_any_socket(board_stack):
    """Gunicorn renders /public/ and /api/public/ from the same Redis the workers write."""
    socket, welcome = await join(board_stack)
    await socket.send(json.dumps({"type": "rename", "name": "Grace <b>Hopper</b>"}))
    for _ in range(50):  # the rename reaches Redis on the worker's next tick
        api = json.loads(await get(board_stack.url + "/api/public/"))
        if "Grace <b>Hopper</b>" in [row["name"] for row in api["clients"]]:
            break
        await asyncio.sleep(0.1)
    assert {"id": welcome["you"]["id"], "name": "Grace <b>Hopper</b>"}.items() <= next(
        row for row in api["clients"] if row["id"] == welcome["you"]["id"]
    ).items()
    assert api["total"] >= 1
    assert set(api) == {"clients", "total", "summary", "histogram"}
    page = await get(board_stack.url + "/public/")
    rows = page[page.index("board-rows") :][:2000]
    assert "Grace &lt;b&gt;Hopper&lt;/b&gt;" in rows, rows  # rendered, and escaped
    await socket.close()


async def test_with_redis_stopped_pings_answer_and_the_board_recovers_when_it_returns(board_stack):
    """No worker dies, pings keep flowing, and the board heals by itself once Redis is back."""
    pids = {n: board_stack.pid_of(f"ws:ws-{n}") for n in WS_WORKERS}
    socket, welcome = await join(board_stack)
    board_stack.ctl("stop", "redis")
    try:
        for seq in range(10):
            await socket.send(json.dumps({"type": "ping", "seq": seq}))
            assert (await next_of(socket, "pong"))["seq"] == seq
        async with connect(board_stack.ws_url, "/ws/ping/") as private:
            assert (await request(private, {"type": "ping", "seq": 1}))["seq"] == 1
        newcomer, _ = await join(board_stack)  # joining during the outage works too
        await board_answer(socket)  # answered from the last snapshot
    finally:
        board_stack.ctl("start", "redis")
    # Redis came back empty: the heartbeats write every live client again.
    answer = await until_board(socket, lambda a: a["total"] == 2, timeout=15)
    assert welcome["you"]["id"] in [row["id"] for row in answer["clients"]]
    assert pids == {n: board_stack.pid_of(f"ws:ws-{n}") for n in WS_WORKERS}
    await newcomer.close()
    await socket.close()


async def test_a_killed_workers_clients_reconnect_and_its_rows_expire(board_stack):
    """kill -9 one worker: its client reconnects through nginx; the others see its old row leave."""
    (watcher, _), (victim, victim_you, victim_worker) = await pair_on_both_workers(board_stack)
    await announcement_of(watcher, victim_you["id"])
    killed_at = time.monotonic()
    os.kill(board_stack.pid_of(f"ws:ws-{victim_worker}"), signal.SIGKILL)
    with pytest.raises(ConnectionClosed):
        await next_of(victim, "never", timeout=10)
    reconnected, _ = await join(board_stack)  # nginx sends it to a live worker
    await departure_of(watcher, victim_you["id"], timeout=TTL + 3 * HEARTBEAT + 5)
    assert time.monotonic() - killed_at < TTL + 3 * HEARTBEAT + 1
    await reconnected.close()
    await watcher.close()
    board_stack.wait_until_ready(30)


async def test_a_client_20_ms_away_claiming_0_01_ms_shows_its_real_delay_everywhere(board_stack):
    """Behind a proxy adding 10 ms each way to nginx, a client that claims 0.01 ms shows the
    server's own timing (>= 15 ms) in its answers and in /api/public/, its claim beside it, flagged."""
    with DelayProxy(board_stack.port, delay_s=0.010) as proxy:
        socket, welcome = await join(board_stack, f"ws://127.0.0.1:{proxy.port}")
        for _ in range(3):
            answer = await board_answer(socket, 0.01)
        me = welcome["you"]["id"]
        own = next(row for row in answer["clients"] if row["id"] == me)
        assert own["delay_ms"] >= 15
        assert own["median_ms"] >= 15
        assert answer["summary"]["min_ms"] >= 15
        assert (own["claimed_ms"], own["suspect"]) == (0.0, True)
        for _ in range(50):  # the row reaches Redis on the worker's next tick
            api = json.loads(await get(board_stack.url + "/api/public/"))
            row = next((row for row in api["clients"] if row["id"] == me), None)
            if row is not None and row["claimed_ms"] == 0.0:
                break
            await asyncio.sleep(0.1)
        assert row["delay_ms"] >= 15
        assert row["suspect"] is True
        assert api["summary"]["min_ms"] >= 15
        await socket.close()

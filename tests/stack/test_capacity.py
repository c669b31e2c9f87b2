"""Past capacity, a clean refusal: through real nginx and Daphne, with a small cap per worker
(WS_MAX_SOCKETS), the sockets past the cap get HTTP 503 on the handshake, never a dropped
connection, the ones inside it keep working, and a closed socket frees its place. Every
refusal reaches /metrics (ping_websocket_refusals_total) and none leaves a traceback.
The same at 10,000 viewers: tests/bench/capacity.py."""

import asyncio
import contextlib
import re

import pytest
from websockets.exceptions import InvalidStatus

from deploy.stack import WS_WORKERS
from tests.conftest import start_stack, stop_stack
from tests.helpers import connect, request
from tests.stack.test_operations import sample, scrape

pytestmark = pytest.mark.stack

PER_WORKER = 3
CAPACITY = PER_WORKER * len(WS_WORKERS)
EXTRA = 4


@pytest.fixture(scope="module")
def small_stack():
    stack = start_stack(WS_MAX_SOCKETS=str(PER_WORKER))
    yield stack
    stop_stack(stack)


async def refusal_status(stack) -> int | None:
    """The HTTP status a new /ws/ping/ handshake gets (None: it was accepted)."""
    try:
        async with connect(stack.ws_url, "/ws/ping/", open_timeout=10):
            return None
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_sockets_past_the_cap_get_503_and_the_others_keep_working(small_stack):
    async with contextlib.AsyncExitStack() as held:
        sockets = [await held.enter_async_context(connect(small_stack.ws_url, "/ws/ping/")) for _ in range(CAPACITY)]
        statuses = await asyncio.gather(*(refusal_status(small_stack) for _ in range(EXTRA)))
        assert statuses == [503] * EXTRA
        for seq, socket in enumerate(sockets):
            assert (await request(socket, {"type": "ping", "seq": seq}))["seq"] == seq
        await sockets[0].close()
        # Its worker hears of the close a moment later; then one place is free again.
        for _ in range(50):
            if await refusal_status(small_stack) is None:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("a closed socket's place was never given back")

    # Each refusal is Daphne's, logged by the worker that made it, counted, and clean.
    logs = "".join(small_stack.log(f"ws-{n}").read_text() for n in WS_WORKERS)
    assert len(re.findall(r"refusing a WebSocket: \d+ sockets open", logs)) >= EXTRA
    assert "Traceback" not in logs
    assert sample(scrape(small_stack), "ping_websocket_refusals_total", reason="capacity") >= EXTRA

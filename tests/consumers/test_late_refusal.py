"""A handshake the server refused before the consumer's accept came (ws/serve.py refuse_overdue:
not accepted within Daphne's connect timeout, 503). Daphne drops the late accept and the
consumer's `accept()` returns all the same; the server's OPENED_KEY check (ws/direct.py) tells
the consumer, which must end there: nothing announced, joined, counted or tracked as online.

Channels' communicator stands in for Daphne, with the check saying "not opened"."""

import pytest
from prometheus_client import REGISTRY

from tests.consumers.conftest import websocket
from tests.consumers.test_presence_consumer import open_socket, signed_up, watch
from tests.consumers.test_public_consumer import announced, join
from tests.helpers import no_frame_of
from ws.direct import OPENED_KEY

pytestmark = pytest.mark.django_db(transaction=True)


def refused_late(path: str, headers: list | None = None):
    client = websocket(path, headers=headers)
    client.scope[OPENED_KEY] = lambda: False  # read once the application runs, after this
    return client


def websockets_open(endpoint: str) -> float:
    return REGISTRY.get_sample_value("ping_websockets_open", {"endpoint": endpoint}) or 0.0


async def test_a_board_socket_refused_late_is_never_joined_announced_or_counted(live_redis):
    watcher, welcome = await join()
    await announced(watcher, welcome["you"]["id"])  # the watcher may hear of its own join
    counted = websockets_open("public")
    late = refused_late("/ws/public/")
    await late.connect()
    await late.wait(timeout=2)  # the consumer ended on its own, no disconnect sent
    # Joins go out within 0.25 s of each other (coalesced): none for the refused socket.
    await no_frame_of(watcher, "connect", 1.0)
    assert websockets_open("public") == counted
    late_rows = await open_socket("/ws/public/")  # a real newcomer still sees only the watcher
    welcome = await late_rows.receive_json_from()
    assert len(welcome["clients"]) == 2
    await late_rows.disconnect()
    await watcher.disconnect()


async def test_a_signed_in_socket_refused_late_never_shows_its_user_online(live_redis):
    watcher, _ = await watch(await signed_up("alice"))
    late = refused_late("/ws/ping/", await signed_up("bob"))
    await late.connect()
    await late.wait(timeout=2)
    # Presence announces a user within a second of their first socket (test_presence_consumer).
    await no_frame_of(watcher, "status", 1.5, username="bob")
    await watcher.disconnect()


async def test_a_socket_the_server_opened_goes_on_as_usual(live_redis):
    client = websocket("/ws/ping/")
    client.scope[OPENED_KEY] = lambda: True
    connected, _ = await client.connect()
    assert connected
    await client.send_json_to({"type": "ping", "seq": 1, "sent_at": 1.0})
    assert (await client.receive_json_from())["type"] == "pong"
    await client.disconnect()

"""A worker's socket cap (shared/capacity.py) and its glue in ws/serve.py: past the cap a
handshake is refused with 503 before any application instance is made, every refusal is
counted, and a closed connection gives its place back exactly once."""

import pytest
from autobahn.websocket.types import ConnectionDeny
from prometheus_client import REGISTRY

from shared import capacity
from shared.capacity import SocketCap
from ws.serve import BoundedWebSocketProtocol


def test_admits_up_to_the_limit_then_refuses_and_counts():
    cap = SocketCap(limit=2)
    before = capacity.refusals_total
    assert [cap.admit() for _ in range(4)] == [True, True, False, False]
    assert (cap.open, cap.refused, capacity.refusals_total - before) == (2, 2, 2)


def test_a_released_place_admits_the_next_socket():
    cap = SocketCap(limit=1)
    assert cap.admit()
    assert not cap.admit()
    cap.release()
    assert cap.admit()
    cap.release()
    cap.release()  # never below zero, whatever the caller does
    assert cap.open == 0


class Factory:
    def __init__(self, limit: int):
        self.cap = SocketCap(limit)


class Handshake(BoundedWebSocketProtocol):
    """The protocol's admission alone: Daphne's own onConnect replaced by a record of the call."""

    def __init__(self, factory: Factory):
        self.factory = factory
        self.made_application = False


@pytest.fixture
def daphne_connect(monkeypatch):
    calls = []

    def on_connect(protocol, request):
        calls.append(request)
        protocol.made_application = True

    monkeypatch.setattr("daphne.ws_protocol.WebSocketProtocol.onConnect", on_connect)
    monkeypatch.setattr("daphne.ws_protocol.WebSocketProtocol.connectionLost", lambda protocol, reason: None)
    return calls


def test_past_the_cap_the_handshake_is_refused_with_503_before_the_application(daphne_connect):
    factory = Factory(limit=1)
    first, second = Handshake(factory), Handshake(factory)
    first.onConnect("request-1")
    with pytest.raises(ConnectionDeny) as refused:
        second.onConnect("request-2")
    assert refused.value.code == 503
    assert daphne_connect == ["request-1"]
    assert (first.made_application, second.made_application) == (True, False)
    assert factory.cap.refused == 1


def test_only_an_admitted_connection_gives_its_place_back(daphne_connect):
    factory = Factory(limit=1)
    admitted, refused = Handshake(factory), Handshake(factory)
    admitted.onConnect("request")
    with pytest.raises(ConnectionDeny):
        refused.onConnect("request")
    refused.connectionLost(None)
    assert factory.cap.open == 1  # the refused one held no place
    admitted.connectionLost(None)
    admitted.connectionLost(None)
    assert factory.cap.open == 0


class Overdue(Handshake):
    """A handshake the application has not accepted for longer than Daphne's connect timeout."""

    def __init__(self, factory: Factory, waited: float):
        super().__init__(factory)
        self.state = self.STATE_CONNECTING
        self.waited = waited
        self.server = type(
            "Server",
            (),
            {"websocket_connect_timeout": 5, "websocket_timeout": -1, "protocol_disconnected": lambda s, p: None},
        )()
        self.denied: list[ConnectionDeny] = []
        self.handshake_deferred = type("Deferred", (), {"errback": lambda d, error: self.deny(error)})()

    def deny(self, error: ConnectionDeny) -> None:
        self.denied.append(error)
        self.state = self.STATE_CLOSED  # autobahn answers with the status and drops the connection

    def duration(self) -> float:
        return self.waited


def test_a_handshake_not_accepted_in_time_is_refused_with_503_not_403():
    before = capacity.refusals_total
    late, early = Overdue(Factory(limit=5), waited=6), Overdue(Factory(limit=5), waited=1)
    late.check_timeouts()
    assert [error.code for error in late.denied] == [503]
    assert capacity.refusals_total - before == 1
    assert not hasattr(late, "handshake_deferred")
    late.check_timeouts()  # once only
    assert len(late.denied) == 1
    early.check_timeouts()
    assert early.denied == []


def refusals_metric(reason: str) -> float:
    return REGISTRY.get_sample_value("ping_websocket_refusals_total", {"reason": reason}) or 0.0


def test_every_refusal_reaches_the_prometheus_counter_by_reason():
    before = {reason: refusals_metric(reason) for reason in ("capacity", "timeout")}
    cap = SocketCap(limit=0)
    cap.admit()
    cap.admit()
    Overdue(Factory(limit=5), waited=6).check_timeouts()
    after = {reason: refusals_metric(reason) - before[reason] for reason in before}
    assert after == {"capacity": 2, "timeout": 1}

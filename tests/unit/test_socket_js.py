"""The pages' socket (web/static/js/socket.js, run under node): which server closes it retries,
and how soon: at once, with up to 1 s of jitter, after a worker's 1012 (Service Restart);
capped exponential back-off otherwise."""

import json

import pytest

from shared.protocol import (
    CLOSE_RATE_LIMITED,
    CLOSE_SERVICE_RESTART,
    CLOSE_SIGN_IN_REQUIRED,
    CLOSE_TOO_SLOW,
    CLOSE_UNAVAILABLE,
    CLOSE_UNKNOWN_ROOM,
)
from tests.helpers import run_node, static_js

SOCKET_JS = static_js("socket.js")

# A WebSocket stand-in that opens, then is closed by the "server" with the code under test.
SCRIPT = """
globalThis.location = {protocol: 'http:', host: '127.0.0.1:8000'};
class FakeWebSocket extends EventTarget {
  static OPEN = 1;
  readyState = 0;
  constructor(url) { super(); FakeWebSocket.last = this; }
  close() {}
}
globalThis.WebSocket = FakeWebSocket;
const {LiveSocket} = await import(SOCKET_JS);
const socket = new LiveSocket('/ws/public/', OPTIONS);
await new Promise((resolve) => setTimeout(resolve, 0));
const ws = FakeWebSocket.last;
ws.readyState = 1;
ws.dispatchEvent(new Event('open'));
const closed = new Event('close');
closed.code = CODE;
ws.readyState = 3;
ws.dispatchEvent(closed);
console.log(JSON.stringify(socket.state.name));
process.exit(0);
"""


def state_after_close(code: int, options: str = "{}") -> str:
    script = SCRIPT.replace("SOCKET_JS", json.dumps(SOCKET_JS)).replace("CODE", str(code)).replace("OPTIONS", options)
    return run_node(script)


@pytest.mark.parametrize(
    "code", [CLOSE_TOO_SLOW, CLOSE_RATE_LIMITED, CLOSE_UNAVAILABLE, CLOSE_SERVICE_RESTART, 1006, 1011]
)
def test_the_page_reconnects_after_a_close_that_retrying_can_mend(code):
    """4009 (too slow) among them: the next connection may well keep up."""
    assert state_after_close(code) == "reconnecting"


@pytest.mark.parametrize("code", [CLOSE_SIGN_IN_REQUIRED, CLOSE_UNKNOWN_ROOM])
def test_the_page_stops_after_a_close_that_retrying_cannot_mend(code):
    assert state_after_close(code) == "closed"


def test_a_page_that_serves_guests_goes_on_as_a_guest_when_its_session_ends():
    """/private/ and /public/ serve guests: a 4401 (signed out in another tab) reconnects at once."""
    assert state_after_close(CLOSE_SIGN_IN_REQUIRED, "{guestAllowed: true}") == "reconnecting"
    assert state_after_close(CLOSE_UNKNOWN_ROOM, "{guestAllowed: true}") == "closed"


# For the timing tests: a stand-in for the browser's WebSocket: records every instance; the test closes them by hand.
FAKE_BROWSER = """
globalThis.location = {protocol: 'http:', host: 'example.test'};
globalThis.sockets = [];
globalThis.WebSocket = class extends EventTarget {
  static OPEN = 1;
  constructor(url) { super(); this.url = url; this.readyState = 0; sockets.push(this); }
  open() { this.readyState = 1; this.dispatchEvent(new Event('open')); }
  drop(code) {
    this.readyState = 3;
    const event = new Event('close');
    event.code = code;
    this.dispatchEvent(event);
  }
  close() {}
};
"""


def run_with_fake_browser(body: str) -> object:
    """Run `body` as an ES module with socket.js imported as `s`; return what it prints as JSON."""
    return run_node(f"{FAKE_BROWSER}\nconst s = await import({json.dumps(SOCKET_JS)});\n{body}\n")


def test_a_service_restart_is_retried_within_the_jitter_whatever_the_attempt():
    """CLOSE_SERVICE_RESTART (1012): 0-1000 ms, even after many failures; any other code: the exponential step."""
    delays = run_with_fake_browser(
        """
        const restart = [0, 3, 10].map((attempt) => s.reconnectDelayMs(1012, attempt, () => 0.999));
        const other = [1006, 1011, 4008].map((code) => s.reconnectDelayMs(code, 10, () => 0.999));
        console.log(JSON.stringify({restart, other, jitter: s.RESTART_JITTER_MS, cap: s.RETRY_CAP_MS}));
        """
    )
    assert CLOSE_SERVICE_RESTART == 1012
    assert delays["jitter"] == 1000
    assert all(0 <= d < 1000 for d in delays["restart"])
    assert delays["cap"] > delays["jitter"]
    assert all(d > 0.99 * delays["cap"] for d in delays["other"])  # the back-off's cap, not the jitter


def test_a_page_reconnects_at_once_after_1012_and_its_back_off_starts_over():
    """Four abnormal closes grow the back-off; then a 1012 means a reconnect within 1 s, and the
    abnormal close after it starts again from the first step (RETRY_BASE_MS)."""
    waits = run_with_fake_browser(
        """
        Math.random = () => 0.999;  // the longest wait of each step, so the steps can be told apart
        const live = new s.LiveSocket('/ws/public/');
        await new Promise((resolve) => setTimeout(resolve, 0));
        const waits = [];
        for (const code of [1006, 1006, 1006, 1006, 1012, 1006]) {
          const ws = sockets.at(-1);
          ws.drop(code);
          waits.push({code, wait: live.state.retryAt - performance.now(), state: live.state.name});
          await new Promise((resolve) => setTimeout(resolve, live.state.retryAt - performance.now() + 5));
        }
        live.close();
        console.log(JSON.stringify({waits, opened: sockets.length, base: s.RETRY_BASE_MS, cap: s.RETRY_CAP_MS}));
        """
    )
    assert [w["state"] for w in waits["waits"]] == ["reconnecting"] * 6
    restart = waits["waits"][4]
    assert restart["code"] == 1012
    assert restart["wait"] <= 1000
    steps = [min(waits["cap"], waits["base"] * 2**attempt) for attempt in range(4)]
    assert [round(w["wait"] / 10) for w in waits["waits"][:4]] == [round(step / 10) for step in steps]
    assert waits["waits"][5]["wait"] <= waits["base"]  # the back-off started over (not the capped 5th step)
    assert waits["opened"] == 7  # one socket per attempt, and one more after the last close

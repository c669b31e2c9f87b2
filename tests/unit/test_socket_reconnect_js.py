"""web/static/js/socket.js under node, with a stand-in WebSocket: the back-off's cap, and the
waits that end at once (tab visible again, `online`, "Reconnect now")."""

import json

import pytest

from tests.helpers import run_node, static_js

SOCKET_JS = static_js("socket.js")

# A browser-like global: window events, a document with a visibility state, and a WebSocket
# whose every attempt is recorded and fails (closes with 1006) once the test says so.
PRELUDE = """
const target = new EventTarget();
globalThis.addEventListener = target.addEventListener.bind(target);
globalThis.dispatchEvent = target.dispatchEvent.bind(target);
const doc = new EventTarget();
doc.visibilityState = 'visible';
globalThis.document = doc;
globalThis.location = {protocol: 'http:', host: 'example.test'};
const attempts = [];
globalThis.WebSocket = class extends EventTarget {
  static OPEN = 1;
  constructor(url) { super(); this.url = url; this.readyState = 0; attempts.push(this); }
  fail() { this.readyState = 3; this.dispatchEvent(Object.assign(new Event('close'), {code: 1006})); }
  close() {}
};
const socket = await import(SOCKET_JS);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
"""


def run_js(body: str) -> object:
    return run_node(PRELUDE.replace("SOCKET_JS", json.dumps(SOCKET_JS)) + body)


def test_the_wait_is_full_jitter_capped_at_2_s():
    waits = run_js(
        """
        const high = [0, 1, 2, 3, 4, 10, 50].map((n) => socket.retryDelayMs(n, () => 0.999999));
        const low = socket.retryDelayMs(20, () => 0);
        console.log(JSON.stringify({high, low, cap: socket.RETRY_CAP_MS}));
        """
    )
    assert waits["cap"] == 2000
    assert waits["high"][:4] == pytest.approx([250, 500, 1000, 2000], abs=0.01)
    assert max(waits["high"]) <= 2000
    assert waits["low"] == 0


@pytest.mark.parametrize(
    "trigger",
    [
        "globalThis.dispatchEvent(new Event('online'))",
        "doc.dispatchEvent(new Event('visibilitychange'))",
        "globalThis.dispatchEvent(new Event(socket.RECONNECT_NOW_EVENT))",
    ],
)
def test_a_waiting_socket_tries_at_once_when_told(trigger):
    """Each trigger starts a new attempt without waiting for the timer; an open socket ignores it."""
    seen = run_js(
        f"""
        const live = new socket.LiveSocket('/ws/ping/');
        await tick();
        attempts[0].fail();
        const waiting = live.state.name;
        const before = attempts.length;
        {trigger};
        const after = attempts.length;
        // Now open: the same trigger does nothing.
        attempts.at(-1).readyState = 1;
        attempts.at(-1).dispatchEvent(new Event('open'));
        {trigger};
        console.log(JSON.stringify({{waiting, before, after, whenOpen: attempts.length, state: live.state.name}}));
        live.close();
        process.exit(0);
        """
    )
    assert seen["waiting"] == "reconnecting"
    assert (seen["before"], seen["after"]) == (1, 2)
    assert seen["whenOpen"] == 2
    assert seen["state"] == "open"

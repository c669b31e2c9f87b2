"""The pages' reconnection rule (web/static/js/socket.js, run under node): at once, with up to 1 s
of jitter, after a worker's 1012 (Service Restart); capped exponential back-off otherwise."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SOCKET_JS = (Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "socket.js").as_uri()

# A stand-in for the browser's WebSocket: records every instance; the test closes them by hand.
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


def run_js(body: str) -> object:
    """Run `body` as an ES module with socket.js imported as `s`; return what it prints as JSON."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (v18 or later) is needed to run web/static/js/socket.js")
    script = f"{FAKE_BROWSER}\nconst s = await import({json.dumps(SOCKET_JS)});\n{body}\n"
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_service_restart_is_retried_within_the_jitter_whatever_the_attempt():
    """1012: 0-1000 ms, even after many failures; any other code: the exponential step."""
    delays = run_js(
        """
        const restart = [0, 3, 10].map((attempt) => s.reconnectDelayMs(1012, attempt, () => 0.999));
        const other = [1006, 1011, 4008].map((code) => s.reconnectDelayMs(code, 10, () => 0.999));
        console.log(JSON.stringify({restart, other, jitter: s.RESTART_JITTER_MS}));
        """
    )
    assert delays["jitter"] == 1000
    assert all(0 <= d < 1000 for d in delays["restart"])
    assert all(d > 14_000 for d in delays["other"])  # the 15 s cap, not 1 s


def test_a_page_reconnects_at_once_after_1012_and_its_back_off_starts_over():
    """Four abnormal closes grow the back-off; then a 1012 means a reconnect within 1 s, and the
    abnormal close after it starts again from the first step (0.5 s)."""
    waits = run_js(
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
        console.log(JSON.stringify({waits, opened: sockets.length}));
        """
    )
    assert [w["state"] for w in waits["waits"]] == ["reconnecting"] * 6
    restart = waits["waits"][4]
    assert restart["code"] == 1012
    assert restart["wait"] <= 1000
    assert [round(w["wait"] / 100) for w in waits["waits"][:4]] == [5, 10, 20, 40]
    assert waits["waits"][5]["wait"] <= 500  # the back-off started over (the 5th step would be 8 s)
    assert waits["opened"] == 7  # one socket per attempt, and one more after the last close

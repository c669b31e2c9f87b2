"""The pages' socket (web/static/js/socket.js, run under node): which server closes it retries."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.protocol import (
    CLOSE_RATE_LIMITED,
    CLOSE_SIGN_IN_REQUIRED,
    CLOSE_TOO_SLOW,
    CLOSE_UNAVAILABLE,
    CLOSE_UNKNOWN_ROOM,
)

SOCKET_JS = (Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "socket.js").as_uri()

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
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (v18 or later) is needed to run web/static/js/socket.js")
    script = SCRIPT.replace("SOCKET_JS", json.dumps(SOCKET_JS)).replace("CODE", str(code)).replace("OPTIONS", options)
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("code", [CLOSE_TOO_SLOW, CLOSE_RATE_LIMITED, CLOSE_UNAVAILABLE, 1006, 1011])
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

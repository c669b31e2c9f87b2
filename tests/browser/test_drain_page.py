"""A page whose Daphne worker drains (SIGTERM, e.g. a deploy): real Chromium gets a clean 1012
close (not 1006) and the page is back within 1.5 s. That a 1012 is retried within 1 s whatever
the back-off had grown to is pinned in tests/unit/test_socket_js.py."""

import os
import signal

import pytest
from playwright.sync_api import expect

from deploy.stack import WS_WORKERS
from shared.protocol import CLOSE_SERVICE_RESTART
from tests.helpers import handshakes

pytestmark = pytest.mark.browser

# Records every WebSocket open and close the page sees, with the page's clock.
RECORD_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.socketEvents = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const note = (kind, code) => window.socketEvents.push({kind, code, at: performance.now()});
      this.addEventListener('open', () => note('open', null));
      this.addEventListener('close', (e) => note('close', e.code));
    }
  };
})();
"""


def test_a_draining_worker_s_page_reconnects_within_a_second(visitors, stack):
    page = visitors.open("about:blank")
    page.add_init_script(RECORD_SOCKETS)
    before = handshakes(stack, "/ws/public/")
    page.goto(stack.url + "/public/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    after = handshakes(stack, "/ws/public/")
    (worker,) = [n for n in WS_WORKERS if after[n] > before[n]]

    os.kill(stack.pid_of(f"ws:ws-{worker}"), signal.SIGTERM)  # supervisor starts it again
    # Polled from here: the page's CSP (script-src 'self') refuses wait_for_function's eval.
    for _ in range(100):
        if sum(e["kind"] == "open" for e in page.evaluate("window.socketEvents")) >= 2:
            break
        page.wait_for_timeout(100)
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")

    events = page.evaluate("window.socketEvents")
    close = next(e for e in events if e["kind"] == "close")
    reopened = next(e for e in events if e["kind"] == "open" and e["at"] > close["at"])
    assert close["code"] == CLOSE_SERVICE_RESTART
    assert reopened["at"] - close["at"] < 1500  # 0-1 s of jitter plus the handshake, not a back-off
    stack.wait_until_ready(30)

"""Coming back after an outage, in real Chromium through the whole stack: both Daphne workers
stop long enough for the back-off to reach its cap, then start; every page is back (the private
page measuring again) within 3 s of a worker answering. While a page waits it offers
"Reconnect now"."""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from deploy.stack import WS_WORKERS
from tests.browser.site import PHONE, axe_violations, screenshot

pytestmark = pytest.mark.browser

BACK_WITHIN_S = 3.0
OUTAGE_S = 6.0  # long enough for several failed attempts: the back-off is at its cap


def samples(page: Page) -> int:
    text = page.locator("#stat-samples").inner_text()
    return int(re.sub(r"\D", "", text) or 0)


def wait_until(condition, timeout: float, step: float = 0.02) -> float:
    """Polls `condition` until true; returns when (time.monotonic()), or fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic()


def test_three_pages_are_back_within_3_s_of_the_server_answering_again(visitors, stack):
    visitors.expect_errors(r"WebSocket connection to .* failed")
    private = visitors.open(stack.url + "/private/")
    others = [visitors.open(stack.url + path, viewport=PHONE) for path in ("/public/", "/chat/lobby/")]
    for page in (private, *others):
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    try:
        stack.ctl("stop", "ws:*")
        for page in (private, *others):
            expect(page.locator("#conn-state")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
            expect(page.get_by_role("button", name="Reconnect now")).to_be_visible()
        assert axe_violations(private) == []  # the waiting state and its button too
        screenshot(others[1], "room-reconnecting-390")
        private.wait_for_timeout(OUTAGE_S * 1000)
        before = samples(private)
        stack.ctl("start", "ws:*")
        answered = wait_until(lambda: any(stack.worker_is_ready(n) for n in WS_WORKERS), timeout=30)
        measuring = wait_until(lambda: samples(private) > before, timeout=30)
        opened = [
            wait_until(lambda page=page: page.locator("#conn-state").get_attribute("data-state") == "open", timeout=30)
            for page in others
        ]
    finally:
        stack.ctl("start", "ws:*")  # a no-op when they are running
        stack.wait_until_ready(30)
    took = [round(t - answered, 2) for t in (measuring, *opened)]
    print(f"back after the workers answered: private measuring {took[0]} s, public/chat open {took[1:]} s")
    assert max(took) < BACK_WITHIN_S, took
    for page in (private, *others):
        expect(page.get_by_role("button", name="Reconnect now")).to_be_hidden()

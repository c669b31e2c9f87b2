"""Checks every page must pass, for the browser tests: axe-core (vendored in vendor/, see its
README) finds no violation, and nothing is wider than a phone's screen."""

import os
from functools import cache
from pathlib import Path

from playwright.sync_api import Page, expect

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@cache
def axe_source() -> str:
    return AXE.read_text()


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now: "rule-id: help (n nodes: first target)".

    The script goes in through the DevTools protocol (page.evaluate), which the page's
    Content-Security-Policy does not cover; a <script> tag would be refused by it."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['target']})" for v in results["violations"]
    ]


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0 when it fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def screenshot(page: Page, name: str) -> None:
    """A full-page PNG in $SCREENSHOT_DIR, when it is set (for looking at pages by eye)."""
    directory = os.environ.get("SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def check_page(page: Page, name: str, scheme: str) -> None:
    """At phone size, then desktop size: no overflow on the phone, no axe violation on either."""
    conn = page.locator("#conn-state")
    if conn.count():
        expect(conn).to_have_attribute("data-state", "open")
        page.wait_for_timeout(1500)  # a few samples, so charts and tables have content
    screenshot(page, f"{name}-390-{scheme}")
    assert horizontal_overflow(page) == 0, f"{name} scrolls sideways at 390 px"
    assert axe_violations(page) == [], f"{name} ({scheme}, 390 px)"
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(200)
    assert axe_violations(page) == [], f"{name} ({scheme}, 1280 px)"
    screenshot(page, f"{name}-1280-{scheme}")

"""What the browser tests share: the checks every page must pass (axe-core, vendored in
vendor/, see its README, finds no violation, and nothing is wider than a phone's screen), and
the visits several tests make (signing up, opening the board)."""

import os
import uuid
from functools import cache
from pathlib import Path

from playwright.sync_api import Page, expect

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "correct-horse-battery-staple"


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


# ---------------------------------------------------------------- visits


def submit_sign_up(page: Page, username: str) -> None:
    """Fill in the sign-up form on `page` (password PASSWORD) and send it."""
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("form.auth-form button[type=submit]")


def sign_up(visitors, stack, prefix: str = "member") -> tuple[Page, str]:
    """A new visitor signs up as <prefix>-<6 hex digits> and is shown signed in: (page, username)."""
    username = f"{prefix}-{uuid.uuid4().hex[:6]}"
    page = visitors.open(stack.url + "/accounts/signup/")
    submit_sign_up(page, username)
    expect(page.locator(".account__name")).to_have_text(username)
    return page, username


def open_board(visitors, stack) -> Page:
    """A new visitor on /public/, once its socket is open."""
    page = visitors.open(stack.url + "/public/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    return page

"""Real headless Chromium (Debian's) driven by Playwright; every page is watched for console
errors, which include Content-Security-Policy violations."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# As root in a container Chromium needs --no-sandbox; the rest keeps it off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class WatchedPage:
    """Opens pages in fresh browser contexts (separate visitors) and records console errors."""

    def __init__(self, browser: Browser):
        self._browser = browser
        self._contexts = []
        self.errors: list[str] = []
        self._expected: list[re.Pattern[str]] = []

    def expect_errors(self, pattern: str) -> None:
        """Console errors matching `pattern` are part of this test (a deliberate outage)."""
        self._expected.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [error for error in self.errors if not any(p.search(error) for p in self._expected)]

    def open(self, url: str, **context_options) -> Page:
        """A new visitor at `url`; `context_options` go to Playwright's new_context (viewport,
        color_scheme, ...)."""
        context = self._browser.new_context(accept_downloads=True, **context_options)
        self._contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(url)
        return page

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture
def visitors(browser) -> Iterator[WatchedPage]:
    """`visitors.open(url)` gives a new visitor's page; no page may log an error."""
    watched = WatchedPage(browser)
    yield watched
    watched.close()
    unexpected = watched.unexpected_errors()
    assert unexpected == [], f"console errors: {unexpected}"

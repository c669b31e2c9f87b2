""" "Share this result" on /private/ in real Chromium through the whole stack: the permalink
page and its JSON show what the page showed when it was shared."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.site import PHONE, check_page

pytestmark = pytest.mark.browser


def figure(page: Page, element_id: str) -> str:
    return page.locator(f"#{element_id}").inner_text()


def measured_and_paused(visitors, stack, **context) -> Page:
    page = visitors.open(stack.url + "/private/", **context)
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.select_option("#interval", "250")
    expect(page.locator("#stat-samples")).to_have_text(re.compile(r"^([6-9]|\d\d+)$"), timeout=10_000)
    page.click("#pause")
    page.wait_for_timeout(600)  # a ping in flight at the click may still land
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_shared_result_round_trips_to_its_permalink_and_json(visitors, stack, scheme):
    page = measured_and_paused(visitors, stack, viewport=PHONE, color_scheme=scheme)
    shown = {name: figure(page, f"stat-{name}") for name in ("median", "jitter", "samples", "lost")}

    page.get_by_role("button", name="Share this result").click()
    link = page.locator("#share-form .share__link")
    expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(stack.url)}/r/[a-z0-9]+/$"))
    permalink = link.get_attribute("href")

    # The permalink, as anyone would open it: a new visitor.
    other = visitors.open(permalink, viewport=PHONE, color_scheme=scheme)
    expect(other.locator("#result-samples")).to_have_text(shown["samples"])
    # The same figures, computed by the server from the delays sent to the microsecond: equal
    # to the page's within its one-decimal rounding (a median of x.x5 may round either way).
    for name in ("median", "jitter"):
        assert float(figure(other, f"result-{name}")) == pytest.approx(float(shown[name]), abs=0.11)
    expect(other.locator("#result-lost")).to_have_text(shown["lost"])
    expect(other.locator(".lead")).to_contain_text("Chrome browser")
    expect(other.locator(".result-histogram rect").first).to_be_attached()
    check_page(other, "result", scheme)

    document = other.request.get(permalink.rstrip("/") + ".json").json()
    assert document["samples"] == int(shown["samples"])
    assert document["median_ms"] == pytest.approx(float(shown["median"]), abs=0.06)
    assert document["browser"] == "Chrome"
    assert set(document) >= {"p95_ms", "p99_ms", "histogram", "started_at", "ended_at", "server", "expires_at"}


def test_an_unknown_result_is_the_sites_own_404(visitors, stack):
    visitors.expect_errors("404")
    page = visitors.open(stack.url + "/r/nosuchresult/", viewport=PHONE)
    expect(page.locator("h1")).to_have_text("No such result")
    check_page(page, "result-missing", "light")

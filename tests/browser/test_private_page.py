"""/private/ in real Chromium through the whole stack: figures, charts, controls, downloads,
and reconnection after the Daphne workers restart."""

import csv
import json
import re

import pytest
from playwright.sync_api import Page, expect

from deploy.stack import WS_WORKERS

pytestmark = pytest.mark.browser

FIGURES = ["stat-min", "stat-median", "stat-max"]


def samples(page: Page) -> int:
    return int(page.locator("#stat-samples").inner_text())


def wait_for_samples(page: Page, at_least: int) -> None:
    expect(page.locator("#stat-samples")).to_have_text(re.compile(r"\d+"))
    page.wait_for_timeout(100)
    for _ in range(100):
        if samples(page) >= at_least:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"only {samples(page)} samples, wanted {at_least}")


def open_fast_private_page(visitors, stack) -> Page:
    page = visitors.open(stack.url + "/private/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.select_option("#interval", "250")
    return page


def test_the_page_shows_live_delay_figures_in_order(visitors, stack):
    """After a few pings min <= median <= max are numbers; p95 and p99 wait for 20 and 100
    samples, saying how many more; from 20 samples p95 shows, in order."""
    page = open_fast_private_page(visitors, stack)
    wait_for_samples(page, 6)
    page.click("#pause")
    page.wait_for_timeout(400)
    values = [float(page.locator(f"#{name}").inner_text()) for name in FIGURES]
    assert values == sorted(values)
    count = samples(page)
    for name, needed in (("p95", 20), ("p99", 100)):
        expect(page.locator(f"#stat-{name}")).to_have_text("—")
        expect(page.locator(f"#stat-{name}-need")).to_have_text(f"{needed - count} more samples")
    page.click("#pause")
    wait_for_samples(page, 20)
    expect(page.locator("#stat-p95-need")).to_be_hidden()
    p95 = float(page.locator("#stat-p95").inner_text())
    assert float(page.locator("#stat-median").inner_text()) <= p95 <= float(page.locator("#stat-max").inner_text())
    assert 0 < values[0] < 1000
    assert float(page.locator("#current").inner_text()) > 0
    assert float(page.locator("#stat-jitter").inner_text()) >= 0
    assert page.locator("#stat-lost").inner_text() == "0"


def test_both_charts_are_drawn_on_canvases(visitors, stack):
    """uPlot draws the time series and the histogram (their canvases hold non-blank pixels)."""
    page = open_fast_private_page(visitors, stack)
    wait_for_samples(page, 4)
    for chart in ("#chart-delay", "#chart-histogram"):
        canvas = page.locator(f"{chart} canvas").first
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box["width"] > 200
        assert box["height"] > 100
        shot = canvas.screenshot()
        assert len(set(shot)) > 50, f"{chart} looks blank"


def test_pause_stops_pinging_and_resume_starts_again(visitors, stack):
    """While paused the sample count stays put; after resume it grows."""
    page = open_fast_private_page(visitors, stack)
    wait_for_samples(page, 2)
    page.click("#pause")
    expect(page.locator("#pause")).to_have_text("Resume")
    page.wait_for_timeout(400)  # a ping in flight at the click may still land
    paused_at = samples(page)
    page.wait_for_timeout(1200)
    assert samples(page) == paused_at
    page.click("#pause")
    wait_for_samples(page, paused_at + 2)


def test_the_samples_download_as_csv_and_json(visitors, stack):
    """The CSV has a header and one row per ping; the JSON holds the same samples."""
    page = open_fast_private_page(visitors, stack)
    wait_for_samples(page, 4)
    page.click("#pause")
    page.wait_for_timeout(400)
    with page.expect_download() as csv_download:
        page.click("#download-csv")
    rows = list(csv.DictReader(csv_download.value.path().read_text().splitlines()))
    assert csv_download.value.suggested_filename.endswith(".csv")
    assert len(rows) >= samples(page)
    assert [row["status"] for row in rows][:2] == ["warmup", "ok"]  # the first ping warms up
    assert {row["status"] for row in rows[1:]} == {"ok"}
    assert all(float(row["delay_ms"]) > 0 for row in rows)
    assert sum(row["status"] == "ok" for row in rows) == samples(page)
    assert [int(row["seq"]) for row in rows] == sorted(int(row["seq"]) for row in rows)
    with page.expect_download() as json_download:
        page.click("#download-json")
    exported = json.loads(json_download.value.path().read_text())
    assert [s["seq"] for s in exported["samples"]] == [int(row["seq"]) for row in rows]
    assert exported["summary"]["count"] == samples(page)
    assert (exported["summary"]["warmup"], exported["summary"]["outages"], exported["outages"]) == (1, 0, [])


def test_the_page_reconnects_by_itself_after_the_daphne_workers_restart(visitors, stack):
    """Both workers restart (new pids); the page shows the outage, reconnects and keeps measuring."""
    visitors.expect_errors(r"WebSocket connection to .* failed")
    page = open_fast_private_page(visitors, stack)
    wait_for_samples(page, 3)
    pids = {stack.pid_of(f"ws:ws-{n}") for n in WS_WORKERS}
    try:
        # Stopped, then started: a restart drains (1012) and the page is back before it returns.
        stack.ctl("stop", "ws:*")
        expect(page.locator("#conn-state")).not_to_have_attribute("data-state", "open", timeout=10_000)
        before = samples(page)
        stack.ctl("start", "ws:*")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=30_000)
        wait_for_samples(page, before + 3)
    finally:
        stack.wait_until_ready(30)
    assert pids.isdisjoint(stack.pid_of(f"ws:ws-{n}") for n in WS_WORKERS)

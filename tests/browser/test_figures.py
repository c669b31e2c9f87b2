"""Numbers you can trust, in real Chromium: a stalled page records no phantom delay, an outage
is visible and exported, and the median /private/ shows through a delay-injecting proxy equals
a reference Python client's through the same proxy."""

import asyncio
import json
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from shared.roundtrip import LOST_AFTER_MS
from tests.delayproxy import DelayProxy
from tests.helpers import connect

pytestmark = pytest.mark.browser

# Patches the page's WebSocket so that, once armed, the next ping sent is followed by a busy
# main thread for `ms`: "a busy, throttled or frozen tab" right after a ping, as in the issue.
STALL_AFTER_NEXT_PING = """(ms) => {
  if (!window.__stallPatched) {
    window.__stallPatched = true;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      send.call(this, data);
      if (window.__stallMs && String(data).includes('"type":"ping"')) {
        const until = performance.now() + window.__stallMs;
        window.__stallMs = 0;
        while (performance.now() < until) { /* busy */ }
      }
    };
  }
  window.__stallMs = ms;
}"""


def figure(page: Page, name: str) -> str:
    return page.locator(f"#{name}").inner_text()


def wait_for(page: Page, name: str, condition, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while not condition(text := figure(page, name)):
        assert time.monotonic() < deadline, f"#{name} is still {text!r}"
        page.wait_for_timeout(100)
    return text


def exported(page: Page, kind: str):
    with page.expect_download() as download:
        page.click(f"#download-{kind}")
    return download.value.path().read_text()


def test_a_7_s_stall_right_after_a_ping_is_one_lost_ping_never_a_7_s_sample(visitors, stack):
    """/private/: max stays under the lost limit, lost goes up by one, no sample over the limit."""
    page = visitors.open(stack.url + "/private/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.select_option("#interval", "250")
    wait_for(page, "stat-samples", lambda t: int(t) >= 3)
    assert figure(page, "stat-lost") == "0"
    page.evaluate(STALL_AFTER_NEXT_PING, 7000)
    wait_for(page, "stat-lost", lambda t: t == "1", timeout_s=20)
    samples = int(figure(page, "stat-samples"))
    wait_for(page, "stat-samples", lambda t: int(t) >= samples + 3)  # and it goes on measuring
    assert float(figure(page, "stat-max")) < LOST_AFTER_MS
    assert figure(page, "stat-lost") == "1"
    page.click("#pause")
    page.wait_for_timeout(400)
    delays = [s["delay_ms"] for s in json.loads(exported(page, "json"))["samples"] if s["delay_ms"] is not None]
    assert max(delays) < LOST_AFTER_MS


def test_a_7_s_stall_on_the_board_page_sends_no_delay_over_the_limit(visitors, stack):
    """/public/: the stalled ping is never reported; reports go on after it."""
    page = visitors.open(stack.url + "/public/")
    sent: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    page.reload()
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    deadline = time.monotonic() + 10
    while not any(frame["type"] == "delay" for frame in sent):
        assert time.monotonic() < deadline, "no delay report"
        page.wait_for_timeout(100)
    page.evaluate(STALL_AFTER_NEXT_PING, 7000)
    page.wait_for_timeout(10_000)
    reports = [frame for frame in sent if frame["type"] == "delay"]
    after_stall = [frame for frame in reports if frame["seq"] > reports[0]["seq"] + 1]
    assert after_stall, "reporting stopped after the stall"
    assert max(frame["delay_ms"] for frame in reports) < LOST_AFTER_MS
    pings = [frame["seq"] for frame in sent if frame["type"] == "ping"]
    assert len(reports) < len(pings) - 1  # the warm-up and the stalled ping went unreported


def test_an_outage_is_marked_stale_drawn_as_a_gap_counted_and_exported(visitors, stack):
    """While the workers restart the figures are marked stale; after it one outage is counted,
    with its length, in the page and in both downloads; the next ping after it warms up again."""
    visitors.expect_errors(r"WebSocket connection to .* failed")
    page = visitors.open(stack.url + "/private/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.select_option("#interval", "250")
    wait_for(page, "stat-samples", lambda t: int(t) >= 3)
    assert page.locator("#stale-note").is_hidden()
    expect(page.locator("#chart-delay")).to_have_attribute("data-gaps", "0")
    try:
        # Stopped, then started: a restart drains (1012) and the page is back before it returns.
        stack.ctl("stop", "ws:*")
        expect(page.locator("#conn-state")).not_to_have_attribute("data-state", "open", timeout=10_000)
        expect(page.locator("#stale-note")).to_be_visible()
        expect(page.locator("#stale-note")).to_contain_text("Disconnected since")
        expect(page.locator("section[data-figures].is-stale")).to_have_count(2)
        stack.ctl("start", "ws:*")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=30_000)
    finally:
        stack.wait_until_ready(30)
    expect(page.locator("#stale-note")).to_be_hidden()
    expect(page.locator("section[data-figures].is-stale")).to_have_count(0)
    expect(page.locator("#stat-outages")).to_have_text("1")
    expect(page.locator("#chart-delay")).not_to_have_attribute("data-gaps", "0")  # the line breaks
    assert float(figure(page, "stat-outage-time")) > 0
    samples = int(figure(page, "stat-samples"))
    wait_for(page, "stat-samples", lambda t: int(t) >= samples + 2)
    page.click("#pause")
    page.wait_for_timeout(400)
    document = json.loads(exported(page, "json"))
    (outage,) = document["outages"]
    assert outage["duration_ms"] > 0
    assert outage["ended_at_ms"] == pytest.approx(outage["started_at_ms"] + outage["duration_ms"], abs=0.01)
    assert (document["summary"]["outages"], document["summary"]["warmup"]) == (1, 2)
    statuses = [s["status"] for s in document["samples"]]
    assert statuses.count("warmup") == 2
    rows = exported(page, "csv").splitlines()
    (outage_row,) = [row for row in rows if ",outage," in row]
    assert outage_row.endswith(f",{outage['duration_ms']:.0f}")


SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_a_hidden_page_sends_no_pings_and_pings_at_once_when_shown(visitors, stack):
    """Hidden: no ping for longer than the interval. Shown again: a fresh ping at once, well
    before the interval would have sent one."""
    page = visitors.open(stack.url + "/private/")
    pings: list[float] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda payload: '"ping"' in payload and pings.append(time.monotonic())),
    )
    page.reload()
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.select_option("#interval", "2000")
    wait_for(page, "stat-samples", lambda t: int(t) >= 1)
    page.evaluate(SET_VISIBILITY, "hidden")
    hidden_at = len(pings)
    page.wait_for_timeout(4500)
    assert len(pings) == hidden_at, "pinged while hidden"
    shown = time.monotonic()
    page.evaluate(SET_VISIBILITY, "visible")
    page.wait_for_timeout(1000)
    assert len(pings) == hidden_at + 1
    assert pings[-1] - shown < 1.0


async def far_client_claiming(ws_url: str, claimed_ms: float, stop: threading.Event) -> None:
    """A client that waits 40 ms after each pong, then claims `claimed_ms`, until told to stop."""
    async with connect(ws_url, "/ws/public/") as socket:
        seq = 0
        while not stop.is_set():
            seq += 1
            await socket.send(json.dumps({"type": "ping", "seq": seq}))
            while (frame := json.loads(await socket.recv())).get("type") != "pong" or frame["seq"] != seq:
                pass
            await asyncio.sleep(0.04)
            await socket.send(
                json.dumps({"type": "delay", "delay_ms": claimed_ms, "seq": seq, "token": frame["token"]})
            )
            await asyncio.sleep(0.3)


def test_the_board_shows_the_servers_timing_and_flags_a_far_off_claim(visitors, stack):
    """A client claiming 0.01 ms while the server times 40+ ms shows 40+ as Current, with its
    claim beside it marked suspect."""
    page = visitors.open(stack.url + "/public/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    stop = threading.Event()
    with ThreadPoolExecutor(1) as thread:
        faker = thread.submit(lambda: asyncio.run(far_client_claiming(stack.ws_url, 0.01, stop)))
        try:
            # The far client's row; under load the page's own first reports can be far off too.
            row = page.locator("#board-rows tr:not(.row--you)", has=page.locator("td.claim--suspect"))
            expect(row).to_have_count(1, timeout=10_000)
            expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\d+\.\d$"))
            assert float(row.locator("td").nth(1).inner_text()) >= 40
            expect(row.locator("td.claim--suspect")).to_have_text("0.0 (suspect)")
        finally:
            stop.set()
            faker.result(timeout=10)
    # My delay is my own row's Current: one figure, the server's timing, wherever it shows.
    mine = page.locator("#board-rows tr.row--you td").nth(1)
    expect(mine).to_have_text(re.compile(r"^\d+\.\d$"))
    both = """() => [
      document.getElementById('my-delay').textContent,
      document.querySelector('tr.row--you td:nth-child(2)').textContent,
    ]"""
    my_delay, my_row = page.evaluate(both)  # read in one go: an answer cannot fall in between
    assert my_delay == my_row
    expect(page.locator("thead")).to_contain_text("Current (ms)")
    expect(page.locator("thead")).to_contain_text("Median, last 300 (ms)")
    expect(page.get_by_text("across clients' current delays")).to_be_visible()


def test_the_board_page_marks_its_figures_stale_while_disconnected(visitors, stack):
    """The summary, the distribution and the rows are marked stale (class and text) until the
    socket is back."""
    visitors.expect_errors(r"WebSocket connection to .* failed")
    page = visitors.open(stack.url + "/public/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    expect(page.locator("#stale-note")).to_be_hidden()
    try:
        # Stopped, then started: a restart drains (1012) and the page is back before it returns.
        stack.ctl("stop", "ws:*")
        expect(page.locator("#conn-state")).not_to_have_attribute("data-state", "open", timeout=10_000)
        expect(page.locator("#stale-note")).to_contain_text("Disconnected since")
        expect(page.locator("[data-figures].is-stale")).to_have_count(3)
        stack.ctl("start", "ws:*")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=30_000)
    finally:
        stack.wait_until_ready(30)
    expect(page.locator("#stale-note")).to_be_hidden()
    expect(page.locator("[data-figures].is-stale")).to_have_count(0)


# ---------------------------------------------------------------- the truth of the median

SAMPLES = 100
INTERVAL_S = 0.25
PROXY_DELAY_S = 0.010

# The page's way of timing (one ping in flight, the next INTERVAL after the last send, timed
# with performance.now() where the socket lives), bare: in a dedicated Worker with no page
# around it. The other way the page could own its socket and clock; and what this browser's
# own network stack costs, whatever the page does.
WORKER_PINGER = """async ([wsUrl, count, intervalMs]) => {
  const source = `
    onmessage = ({ data: [url, count, intervalMs] }) => {
      const ws = new WebSocket(url);
      const delays = [];
      let seq = 0, sentAt = 0;
      const ping = () => {
        seq += 1;
        sentAt = performance.now();
        ws.send(JSON.stringify({ type: 'ping', seq, sent_at: null }));
      };
      ws.onopen = ping;
      ws.onmessage = (event) => {
        const now = performance.now();
        const message = JSON.parse(event.data);
        if (message.type !== 'pong' || message.seq !== seq) return;
        if (seq > 1) delays.push(now - sentAt);  // the first is a warm-up, as on the page
        if (delays.length >= count) { ws.close(); postMessage(delays); return; }
        setTimeout(ping, Math.max(0, sentAt + intervalMs - performance.now()));
      };
    };`;
  const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
  return await new Promise((resolve) => {
    worker.onmessage = ({ data }) => resolve(data);
    worker.postMessage([wsUrl, count, intervalMs]);
  });
}"""


async def reference_delays(ws_url: str, count: int) -> list[float]:
    """A reference client in Python: the same schedule, timed with perf_counter around the socket."""
    delays: list[float] = []
    async with connect(ws_url, "/ws/ping/") as socket:
        for seq in range(1, count + 2):
            started = time.perf_counter()
            await socket.send(json.dumps({"type": "ping", "seq": seq}))
            while json.loads(await socket.recv())["seq"] != seq:
                pass
            if seq > 1:
                delays.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(max(0.0, started + INTERVAL_S - time.perf_counter()))
    return delays


def test_through_a_20_ms_proxy_the_private_median_is_as_true_as_the_browser_allows(
    visitors, browser, stack, record_property
):
    """The proxy delays each direction by 10 ms; the page is loaded through it, so its socket
    goes through it too. At the same time, through the same proxy: a reference Python client,
    and the page's way of timing run bare in a Worker. The median /private/ shows is never below
    the reference client's by more than 0.5 ms, and never above the larger of the reference's
    and the bare Worker's by more than 1 ms (their spread under load): the page, its rendering and its main thread add
    nothing that this browser does not add to any page.

    Measured on this 2-core machine: both browser ways are 1.1-1.3 ms above the Python client,
    directly to nginx as well as through the proxy: that is Chromium's own hop from its network
    process to the page (0.4 ms for a Worker with --single-process), not the page's doing."""
    with DelayProxy(stack.port, PROXY_DELAY_S) as proxy:
        origin = f"127.0.0.1:{proxy.port}"
        page = visitors.open(f"http://{origin}/private/")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
        page.select_option("#interval", str(int(INTERVAL_S * 1000)))
        context = browser.new_context(bypass_csp=True)  # a blob: Worker is not allowed by our CSP
        # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
        with ThreadPoolExecutor(1) as thread:
            reference_run = thread.submit(lambda: asyncio.run(reference_delays(f"ws://{origin}", SAMPLES)))
            try:
                probe = context.new_page()
                probe.goto(f"http://{origin}/")
                interval_ms = int(INTERVAL_S * 1000)
                bare = probe.evaluate(WORKER_PINGER, [f"ws://{origin}/ws/ping/", SAMPLES, interval_ms])
                worker = statistics.median(bare)
            finally:
                context.close()
            reference = statistics.median(reference_run.result())
        page.click("#pause")
        page.wait_for_timeout(400)
        document = json.loads(exported(page, "json"))
        shown = figure(page, "stat-median")
        page.close()  # before the proxy goes: its reconnects would fail loudly
    main_thread = document["summary"]["median"]
    numbers = {"page": main_thread, "bare_worker": round(worker, 3), "reference_python": round(reference, 3)}
    record_property("medians_ms", numbers)
    print(f"\nmedians through a 10 ms-each-way proxy: {numbers}")
    assert document["summary"]["count"] >= SAMPLES
    assert main_thread >= 2 * PROXY_DELAY_S * 1000
    # Above: 1 ms, not 0.5: the page and the bare Worker share one renderer and two cores with the
    # stack, so under the suite's load their medians wander apart by up to ~1 ms (seen: 0.55).
    assert reference - 0.5 <= main_thread <= max(reference, worker) + 1.0, numbers
    assert re.fullmatch(r"\d+\.\d", shown)

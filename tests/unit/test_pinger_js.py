"""The pinger's rules (web/static/js/pinger.js, run under node with a fake socket and clock):
warm-up, lost, late and stalled pongs, hidden pages. No result is ever a phantom sample."""

import json

from tests.helpers import run_node, static_js

PINGER_JS = static_js("pinger.js")

# A harness: a socket that records what is sent and passes on what the test feeds it (state
# changes, pongs) the way LiveSocket does (socket.on), a clock the test sets, real timers. The
# interval is huge on the fake clock, so a ping goes only when the test says: at open() (at
# once, as on every connect) or at sendAt(t).
HARNESS = """
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let clock = 0;
const sent = [];
const results = [];
function fakeSocket() {
  const handlers = {};
  return {
    isOpen: true,
    on(type, handler) { (handlers[type] ??= []).push(handler); },
    emit(type, ...args) { for (const handler of handlers[type] ?? []) handler(...args); },
    send(frame) { if (!this.isOpen) return false; sent.push(frame); return true; },
  };
}
const socket = fakeSocket();
const pinger = new pinger_.Pinger(socket, {
  intervalMs: 1e9, lostAfterMs: 5000, now: () => clock, onResult: (r) => results.push({ ...r, pong: undefined }),
});
async function open() { socket.isOpen = true; socket.emit('statechange', { name: 'open' }); await sleep(10); }
async function sendAt(t) { clock = t; pinger.setInterval(0); await sleep(10); pinger.setInterval(1e9); }
async function answer(at) { socket.emit('pong', { type: 'pong', seq: sent.at(-1).seq }, at); await sleep(10); }
"""


def run_pinger(body: str) -> dict:
    return run_node(f"import * as pinger_ from {json.dumps(PINGER_JS)};\n{HARNESS}\n{body}\n")


def statuses(out: dict) -> list[tuple[str, float | None]]:
    return [(r["status"], r["delayMs"]) for r in out["results"]]


def test_the_first_answer_after_each_connect_is_a_warm_up_and_later_ones_are_samples():
    """Shown with its delay, not counted; after a reconnect the next first answer is one again."""
    out = run_pinger(
        """
        await open();
        await answer(12);
        await sendAt(20); await answer(21.5);
        socket.isOpen = false; socket.emit('statechange', { name: 'reconnecting' });
        clock = 30; await open();
        await answer(43);
        await sendAt(50); await answer(51);
        pinger.setPaused(true);
        console.log(JSON.stringify({ results, sent }));
        """
    )
    assert statuses(out) == [("warmup", 12), ("ok", 1.5), ("warmup", 13), ("ok", 1)]
    assert [frame["seq"] for frame in out["sent"]] == [1, 2, 3, 4]


def test_a_pong_handled_after_the_lost_limit_is_lost_once_never_a_sample():
    """A 7 s stall right after a ping: the pong handled at 7 s is lost, with no delay; a second
    pong for it (or the lost timer) changes nothing."""
    out = run_pinger(
        """
        await open();
        await answer(1);
        await sendAt(100);
        const seq = sent.at(-1).seq;
        clock = 7100;
        socket.emit('pong', { type: 'pong', seq }, 7100);
        socket.emit('pong', { type: 'pong', seq }, 7101);
        await sleep(15);
        pinger.setPaused(true);
        console.log(JSON.stringify({ results }));
        """
    )
    assert statuses(out) == [("warmup", 1), ("lost", None)]


def test_a_ping_with_no_pong_is_lost_when_its_timer_fires_or_its_socket_drops():
    """Lost after lostAfterMs without a pong (here 30 ms), and at once when the socket drops."""
    out = run_pinger(
        """
        const own = fakeSocket();
        const quick = new pinger_.Pinger(own, {
          intervalMs: 1e9, lostAfterMs: 30, now: () => clock, onResult: (r) => results.push(r),
        });
        own.emit('statechange', { name: 'open' });
        await sleep(60);
        const byTimer = results.length;
        quick.setInterval(0); await sleep(5); quick.setInterval(1e9);
        own.isOpen = false; own.emit('statechange', { name: 'reconnecting' });
        const byDrop = results.length - byTimer;
        console.log(JSON.stringify({ results: results.map((r) => ({ ...r, pong: undefined })), byTimer, byDrop }));
        """
    )
    assert statuses(out) == [("lost", None), ("lost", None)]
    assert (out["byTimer"], out["byDrop"]) == (1, 1)


def test_a_pong_whose_handler_ran_late_or_after_a_stalled_timer_is_discarded():
    """Handled 300 ms after the watchdog's last beat (the page was busy): discarded, not a
    300 ms sample and not lost. A watchdog beat that came late marks the ping too."""
    out = run_pinger(
        """
        await open();
        await answer(1);
        await sendAt(100);
        await answer(400);
        await sendAt(500);
        clock = 900; await sleep(70);
        await answer(905);
        await sendAt(1010);
        await answer(1012);
        pinger.setPaused(true);
        console.log(JSON.stringify({ results }));
        """
    )
    assert statuses(out) == [("warmup", 1), ("discarded", None), ("discarded", None), ("ok", 2)]


def test_a_hidden_page_sends_no_pings_discards_the_one_in_flight_and_pings_at_once_when_shown():
    out = run_pinger(
        """
        await open();
        await answer(1);
        await sendAt(20);
        const before = sent.length;
        pinger.setHidden(true);
        await sleep(60);
        const whileHidden = sent.length - before;
        socket.emit('pong', { type: 'pong', seq: sent.at(-1).seq }, 25);  // its late answer: ignored
        clock = 5000;
        pinger.setHidden(false);
        await sleep(5);
        const afterShown = sent.length - before;
        await answer(5003);
        pinger.setPaused(true);
        console.log(JSON.stringify({ results, whileHidden, afterShown }));
        """
    )
    assert statuses(out) == [("warmup", 1), ("discarded", None), ("ok", 3)]
    assert out["whileHidden"] == 0
    assert out["afterShown"] == 1  # the discarded ping was sent before `before`: one new


def test_the_next_ping_waits_for_the_answer_and_the_interval_and_none_goes_while_paused_or_closed():
    """One ping in flight at a time; the next goes `intervalMs` after the previous send (here
    100 ms on the test's clock); none while paused or while the socket is not open."""
    out = run_pinger(
        """
        const own = fakeSocket();
        const every100 = new pinger_.Pinger(own, {
          intervalMs: 100, lostAfterMs: 5000, now: () => clock, onResult: (r) => results.push({ ...r, pong: null }),
        });
        const counts = {};
        own.emit('statechange', { name: 'open' }); await sleep(10);
        counts.atOpen = sent.length;
        clock = 40; own.emit('pong', { type: 'pong', seq: 1 }, 40);  // sent at 0: the next is due at 100
        await sleep(10);
        counts.beforeDue = sent.length;
        await sleep(80);
        counts.due = sent.length;
        clock = 180; every100.setInterval(100); await sleep(10);  // the next is due, but this one is unanswered
        counts.unanswered = sent.length;
        every100.setPaused(true);
        own.emit('pong', { type: 'pong', seq: 2 }, 182);
        clock = 1000; every100.setInterval(100); await sleep(10);
        counts.paused = sent.length;
        every100.setPaused(false); await sleep(10);
        counts.resumed = sent.length;
        own.isOpen = false; own.emit('statechange', { name: 'reconnecting' });
        clock = 2000; every100.setInterval(100); await sleep(10);
        counts.closed = sent.length;
        console.log(JSON.stringify({ results, counts }));
        """
    )
    assert out["counts"] == {
        "atOpen": 1,
        "beforeDue": 1,
        "due": 2,
        "unanswered": 2,
        "paused": 2,
        "resumed": 3,
        "closed": 3,
    }
    assert [r["status"] for r in out["results"]] == ["warmup", "ok", "lost"]

"""The pages' socket (web/static/js/socket.js, run under node with a stand-in WebSocket): the
back-off schedule (a pure function), which closes it retries and how soon, the waits that end at
once (tab visible again, `online`, "Reconnect now"), and how a page listens. The close codes are
the ones every page is served with (web/views/pageconfig.py)."""

import json

import pytest

from shared.protocol import (
    CLOSE_RATE_LIMITED,
    CLOSE_SERVICE_RESTART,
    CLOSE_SIGN_IN_REQUIRED,
    CLOSE_TOO_SLOW,
    CLOSE_UNAVAILABLE,
    CLOSE_UNKNOWN_ROOM,
)
from tests.helpers import run_node, static_js
from web.views.pageconfig import CLOSE_CODES

SOCKET_JS = static_js("socket.js")

# A browser-like global: window events, a document with a visibility state, and a WebSocket
# whose every attempt is recorded; the test opens, feeds and drops them by hand.
PRELUDE = """
const target = new EventTarget();
globalThis.addEventListener = target.addEventListener.bind(target);
globalThis.dispatchEvent = target.dispatchEvent.bind(target);
const doc = new EventTarget();
doc.visibilityState = 'visible';
globalThis.document = doc;
globalThis.location = {protocol: 'http:', host: 'example.test'};
const attempts = [];
globalThis.WebSocket = class extends EventTarget {
  static OPEN = 1;
  constructor(url) { super(); this.url = url; this.readyState = 0; attempts.push(this); }
  open() { this.readyState = 1; this.dispatchEvent(new Event('open')); }
  receive(data) { this.dispatchEvent(Object.assign(new Event('message'), {data})); }
  drop(code) { this.readyState = 3; this.dispatchEvent(Object.assign(new Event('close'), {code})); }
  close() {}
};
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
"""


def run_js(body: str) -> object:
    """Run `body` as an ES module with socket.js as `s` and the close codes as `codes`; return
    what it prints, as JSON."""
    return run_node(
        f"{PRELUDE}\nconst s = await import({json.dumps(SOCKET_JS)});\n"
        f"const codes = {json.dumps(CLOSE_CODES)};\n{body}\nprocess.exit(0);\n"
    )


# ---------------------------------------------------------------- the back-off, a pure function


def delays(calls: list[tuple[int, int, bool, float]]) -> list[float | None]:
    """reconnectDelayMs for each (attempt, code, guestAllowed, random())."""
    return run_js(
        f"""
        const calls = {json.dumps(calls)};
        const out = calls.map(([attempt, code, guestAllowed, r]) =>
          s.reconnectDelayMs(attempt, code, {{codes, guestAllowed}}, () => r));
        console.log(JSON.stringify(out));
        """
    )


@pytest.mark.parametrize("code", [1006, 1011, CLOSE_RATE_LIMITED, CLOSE_TOO_SLOW, CLOSE_UNAVAILABLE])
def test_the_back_off_is_full_jitter_doubling_from_250_ms_to_a_2_s_cap(code):
    """The longest wait of each attempt, then the shortest (0: full jitter)."""
    attempts = [0, 1, 2, 3, 4, 10, 50]
    longest = delays([(n, code, False, 0.999999) for n in attempts])
    assert longest == pytest.approx([250, 500, 1000, 2000, 2000, 2000, 2000], abs=0.01)
    assert delays([(20, code, False, 0)]) == [0]


def test_a_service_restart_is_retried_within_1_s_whatever_the_attempt():
    assert CLOSE_SERVICE_RESTART == 1012
    waits = delays([(n, CLOSE_SERVICE_RESTART, False, 0.999) for n in (0, 3, 10)])
    assert all(990 < wait < 1000 for wait in waits)
    assert delays([(10, CLOSE_SERVICE_RESTART, False, 0)]) == [0]


def test_an_ended_session_stops_a_page_for_members_and_a_page_that_serves_guests_goes_on_at_once():
    """/private/ and /public/ serve guests: after a 4401 (signed out in another tab) they
    reconnect at once, as a guest; the users page and chat stop."""
    assert delays([(3, CLOSE_SIGN_IN_REQUIRED, False, 0.5), (3, CLOSE_SIGN_IN_REQUIRED, True, 0.5)]) == [None, 0]


def test_an_unknown_room_stops_the_page_whoever_it_serves():
    assert delays([(0, CLOSE_UNKNOWN_ROOM, False, 0.5), (0, CLOSE_UNKNOWN_ROOM, True, 0.5)]) == [None, None]


# ---------------------------------------------------------------- LiveSocket


def state_after_close(code: int, guest_allowed: bool = False) -> str:
    return run_js(
        f"""
        const live = new s.LiveSocket('/ws/public/', {{codes, guestAllowed: {json.dumps(guest_allowed)}}});
        await tick();
        attempts[0].open();
        attempts[0].drop({code});
        console.log(JSON.stringify(live.state.name));
        """
    )


@pytest.mark.parametrize(
    "code", [CLOSE_TOO_SLOW, CLOSE_RATE_LIMITED, CLOSE_UNAVAILABLE, CLOSE_SERVICE_RESTART, 1006, 1011]
)
def test_the_page_reconnects_after_a_close_that_retrying_can_mend(code):
    """4009 (too slow) among them: the next connection may well keep up."""
    assert state_after_close(code) == "reconnecting"


@pytest.mark.parametrize("code", [CLOSE_SIGN_IN_REQUIRED, CLOSE_UNKNOWN_ROOM])
def test_the_page_stops_after_a_close_that_retrying_cannot_mend(code):
    assert state_after_close(code) == "closed"


def test_a_page_that_serves_guests_goes_on_as_a_guest_when_its_session_ends():
    assert state_after_close(CLOSE_SIGN_IN_REQUIRED, guest_allowed=True) == "reconnecting"
    assert state_after_close(CLOSE_UNKNOWN_ROOM, guest_allowed=True) == "closed"


def test_a_page_reconnects_at_once_after_1012_and_its_back_off_starts_over():
    """Four abnormal closes grow the back-off; then a 1012 means a reconnect within 1 s, and the
    abnormal close after it starts again from the first step (RETRY_BASE_MS)."""
    waits = run_js(
        """
        Math.random = () => 0.999;  // the longest wait of each step, so the steps can be told apart
        const live = new s.LiveSocket('/ws/public/', {codes});
        await tick();
        const waits = [];
        for (const code of [1006, 1006, 1006, 1006, 1012, 1006]) {
          attempts.at(-1).drop(code);
          waits.push({code, wait: live.state.retryAt - performance.now(), state: live.state.name});
          await new Promise((resolve) => setTimeout(resolve, live.state.retryAt - performance.now() + 5));
        }
        live.close();
        console.log(JSON.stringify({waits, opened: attempts.length, base: s.RETRY_BASE_MS, cap: s.RETRY_CAP_MS}));
        """
    )
    assert [w["state"] for w in waits["waits"]] == ["reconnecting"] * 6
    restart = waits["waits"][4]
    assert restart["code"] == 1012
    assert restart["wait"] <= 1000
    steps = [min(waits["cap"], waits["base"] * 2**attempt) for attempt in range(4)]
    assert [round(w["wait"] / 10) for w in waits["waits"][:4]] == [round(step / 10) for step in steps]
    assert waits["waits"][5]["wait"] <= waits["base"]  # the back-off started over (not the capped 5th step)
    assert waits["opened"] == 7  # one socket per attempt, and one more after the last close


@pytest.mark.parametrize(
    "trigger",
    [
        "globalThis.dispatchEvent(new Event('online'))",
        "doc.dispatchEvent(new Event('visibilitychange'))",
        "globalThis.dispatchEvent(new Event(s.RECONNECT_NOW_EVENT))",
    ],
)
def test_a_waiting_socket_tries_at_once_when_told(trigger):
    """Each trigger starts a new attempt without waiting for the timer; an open socket ignores it."""
    seen = run_js(
        f"""
        const live = new s.LiveSocket('/ws/ping/', {{codes}});
        await tick();
        attempts[0].drop(1006);
        const waiting = live.state.name;
        const before = attempts.length;
        {trigger};
        const after = attempts.length;
        attempts.at(-1).open();  // now open: the same trigger does nothing
        {trigger};
        console.log(JSON.stringify({{waiting, before, after, whenOpen: attempts.length, state: live.state.name}}));
        live.close();
        """
    )
    assert seen["waiting"] == "reconnecting"
    assert (seen["before"], seen["after"]) == (1, 2)
    assert seen["whenOpen"] == 2
    assert seen["state"] == "open"


def test_a_page_listens_with_on_to_frames_by_type_and_to_state_changes():
    """Handlers added right after the socket is made see every state from the first; a frame
    goes to its type's handlers with the time it arrived; one that is not JSON goes nowhere."""
    seen = run_js(
        """
        const live = new s.LiveSocket('/ws/public/', {codes});
        const got = [];
        live.on('statechange', (state) => got.push(['state', state.name]));
        live.on('pong', (frame, receivedAt) => got.push(['pong', frame.seq, typeof receivedAt]));
        live.on('pong', (frame) => got.push(['pong again', frame.seq]));
        live.on('error', (frame) => got.push(['error', frame.code]));
        console.warn = () => {};  // the not-JSON frame's warning
        await tick();
        attempts[0].open();
        attempts[0].receive('{"type": "pong", "seq": 7}');
        attempts[0].receive('not json');
        attempts[0].receive('{"type": "welcome"}');
        attempts[0].receive('{"type": "error", "code": "bad_message"}');
        live.close();
        console.log(JSON.stringify(got));
        """
    )
    assert seen == [
        ["state", "connecting"],
        ["state", "open"],
        ["pong", 7, "number"],
        ["pong again", 7],
        ["error", "bad_message"],
        ["state", "closed"],
    ]

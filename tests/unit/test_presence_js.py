"""The users page's rules (web/static/js/presence.js, run under node): statuses by version, and
how "last seen" reads."""

import json

import pytest

from tests.helpers import run_node, static_js

PRESENCE_JS = static_js("presence.js")


def run_js(body: str) -> object:
    """Run `body` as an ES module with presence.js imported; return what it prints as JSON."""
    return run_node(f"import * as presence from {json.dumps(PRESENCE_JS)};\n{body}\n")


def test_a_late_or_repeated_status_never_replaces_a_newer_one():
    """Only a strictly newer version counts, whatever order frames arrive in."""
    applied = run_js(
        """
        const statuses = new presence.Statuses();
        const s = (online, version) => ({username: 'bob', online, last_seen: null, version});
        const results = [s(true, 5), s(false, 4), s(true, 5), s(false, 6), s(true, 5)].map((x) => statuses.apply(x));
        console.log(JSON.stringify({results, now: statuses.get('bob'), online: statuses.onlineCount}));
        """
    )
    assert applied["results"] == [True, False, False, True, False]
    assert (applied["now"]["online"], applied["now"]["version"]) == (False, 6)
    assert applied["online"] == 0


def test_the_online_count_covers_every_user_once():
    """Two users online, one offline: 2."""
    count = run_js(
        """
        const statuses = new presence.Statuses();
        for (const [username, online] of [['a', true], ['b', true], ['c', false], ['a', true]]) {
          statuses.apply({username, online, last_seen: null, version: 1});
        }
        console.log(JSON.stringify(statuses.onlineCount));
        """
    )
    assert count == 2


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ({"online": True, "last_seen": 0}, "Online"),
        ({"online": False, "last_seen": None}, "Offline · never seen"),
        ({"online": False, "last_seen": 1_000_000 - 10_000}, "Offline · last seen just now"),
        ({"online": False, "last_seen": 1_000_000 - 5 * 60_000}, "Offline · last seen 5 min ago"),
        ({"online": False, "last_seen": 1_000_000 - 3 * 3_600_000}, "Offline · last seen 3 h ago"),
    ],
)
def test_a_status_reads_as_online_or_as_when_the_user_was_last_seen(status, text):
    """statusText at a fixed `now` of 1,000,000 ms."""
    shown = run_js(f"console.log(JSON.stringify(presence.statusText({json.dumps(status)}, 1000000)));")
    assert shown == text

"""web/static/js/chartaxes.js under node: clock ticks to the second, whole-number counts."""

import json

from tests.helpers import run_node, static_js

AXES_JS = static_js("chartaxes.js")


def run_js(body: str) -> object:
    script = f"import * as axes from {json.dumps(AXES_JS)};\n{body}\n"
    return run_node(script, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})


def test_time_ticks_are_clock_times_to_the_second_at_whole_second_steps():
    seen = run_js(
        """
        const t = Date.UTC(2026, 11, 2, 14, 3, 5) / 1000;
        console.log(JSON.stringify({
          labels: axes.timeAxis.values(null, [t, t + 1, t + 60, null]),
          incrs: axes.timeAxis.incrs,
        }));
        """
    )
    assert seen["labels"] == ["14:03:05", "14:03:06", "14:04:05", ""]
    assert all(isinstance(step, int) and step >= 1 for step in seen["incrs"])


def test_count_ticks_are_whole_numbers_only():
    seen = run_js(
        """
        console.log(JSON.stringify({
          labels: axes.countAxis.values(null, [0, 0.25, 0.5, 1, 2, 1000]),
          incrs: axes.countAxis.incrs,
        }));
        """
    )
    assert seen["labels"] == ["0", "", "", "1", "2", "1000"]
    assert all(step >= 1 and step == int(step) for step in seen["incrs"])

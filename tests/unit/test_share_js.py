"""web/static/js/share.js under node: what "Share this result" sends."""

import json

from tests.helpers import run_node, static_js

SHARE_JS = static_js("share.js")


def share_body(records: list[dict], max_samples: int) -> object:
    script = (
        f"import {{ shareBody }} from {json.dumps(SHARE_JS)};\n"
        f"console.log(JSON.stringify(shareBody({json.dumps(records)}, {max_samples})));\n"
    )
    return run_node(script)


def record(at: float, delay: float | None, status: str | None = None) -> dict:
    return {"sentAtMs": at, "delayMs": delay, "status": status or ("lost" if delay is None else "ok")}


def test_the_body_has_the_delays_in_order_the_lost_count_and_the_time_range():
    start = 1_796_000_000_000.0
    body = share_body([record(start, 3.14159), record(start + 1000, None), record(start + 2000, 2.5)], 100)
    assert body == {"delays_ms": [3.142, 2.5], "lost": 1, "started_at_ms": start, "ended_at_ms": start + 2002.5}


def test_warm_up_and_discarded_pings_are_not_counted_as_on_the_page():
    start = 1_796_000_000_000.0
    records = [record(start, 9.0, "warmup"), record(start + 1, 2.0), record(start + 2, None, "discarded")]
    body = share_body(records, 100)
    assert body["delays_ms"] == [2.0]
    assert body["lost"] == 0


def test_only_the_latest_records_up_to_the_limit_are_sent():
    records = [record(1_796_000_000_000.0 + i, float(i)) for i in range(10)]
    body = share_body(records, 4)
    assert body["delays_ms"] == [6.0, 7.0, 8.0, 9.0]
    assert body["started_at_ms"] == 1_796_000_000_006.0


def test_nothing_measured_is_nothing_to_share():
    assert share_body([], 100) is None
    assert share_body([record(1_796_000_000_000.0, None)], 100) is None

"""The page's decoding of board rows (web/static/js/boardrows.js, run under node): a row sent as
an array of values comes back as the very row the server encoded (shared/protocol.py), so the
page shows the same numbers as when rows were sent as objects."""

import json

import pytest

from shared.protocol import delays_frame, encode_figures, encode_row, rows_json, welcome_frame
from tests.helpers import run_node, static_js

BOARDROWS_JS = static_js("boardrows.js")

ROWS = [
    {
        "id": "k3Jd9aQx",
        "name": 'Ada "the" <b>😀</b>',
        "guest": True,
        "delay_ms": 12.3,
        "median_ms": 0.1,
        "jitter_ms": 1500.0,
        "claimed_ms": 0.0,
        "suspect": True,
        "connected_at": 1764650000123,
    },
    {
        "id": "-_b7",
        "name": "alice",
        "guest": False,
        "delay_ms": None,
        "median_ms": None,
        "jitter_ms": None,
        "claimed_ms": None,
        "suspect": False,
        "connected_at": 1764650000000,
    },
]
FIGURES = encode_figures(
    {"count": 1, "min_ms": 12.3, "median_ms": 12.3, "p95_ms": 12.3, "max_ms": 12.3},
    {"edges_ms": [0, 1, 2, 5], "counts": [0, 0, 0, 1]},
)


def decoded_in_js(frame_text: str) -> dict:
    return run_node(
        f"import {{ withRowObjects }} from {json.dumps(BOARDROWS_JS)};\n"
        f"console.log(JSON.stringify(withRowObjects(JSON.parse({json.dumps(frame_text)}))));\n"
    )


def test_an_answers_rows_decode_to_the_rows_the_server_encoded():
    """Every column, numbers, nulls, booleans and names alike; the rest of the frame untouched."""
    text = delays_frame(rows_json(encode_row(row) for row in ROWS), 2, FIGURES)
    decoded = decoded_in_js(text)
    assert decoded["clients"] == ROWS
    assert {k: v for k, v in decoded.items() if k != "clients"} == {
        k: v for k, v in json.loads(text).items() if k != "clients"
    }


def test_a_welcomes_rows_decode_too():
    you = {"id": "-_b7", "name": "alice", "guest": False, "connected_at": 1764650000000}
    decoded = decoded_in_js(welcome_frame(you, rows_json(encode_row(row) for row in ROWS), 2))
    assert decoded["clients"] == ROWS
    assert decoded["you"] == {"id": "-_b7", "name": "alice", "guest": False}


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "pong", "seq": 1, "sent_at": None, "server_time": 5.0},
        {"type": "connect", "clients": [{"id": "a", "name": "n", "guest": True, "connected_at": 1}]},
    ],
    ids=["pong", "connect"],
)
def test_frames_without_columns_pass_as_they_are(frame):
    """A `connect` names its arrivals with objects: only board rows are arrays."""
    assert decoded_in_js(json.dumps(frame)) == frame


def test_a_row_stored_as_an_object_by_an_older_worker_still_shows():
    """During a rolling deploy, Redis may still hold rows an older worker wrote as objects:
    they pass as they are, beside the arrays."""
    old = json.dumps(ROWS[0])
    text = delays_frame(rows_json([old, encode_row(ROWS[1])]), 2, FIGURES)
    assert decoded_in_js(text)["clients"] == ROWS

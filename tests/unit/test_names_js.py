"""The pages' counting (web/static/js/names.js, run under node) agrees with the server's
(shared/protocol.py): code points after the same trimming, with a message that says why."""

import json

from shared.protocol import NAME_MAX_CHARS, ProtocolError, clean_name, trim
from tests.helpers import run_node, static_js

NAMES_JS = static_js("names.js")

SAMPLES = [
    "Ada",
    "😀" * 20,  # 20 code points, 40 UTF-16 units
    "😀" * 32,
    "😀" * 33,
    "👩\u200d💻" * 10,  # 3 code points each
    "\u3000\ufeff  padded\u00a0\n",
    "e\u0301" * 16,
    "x" * 33,
    "",
    "   ",
]


def run_js(body: str, payload: object) -> object:
    script = (
        f"import * as names from {json.dumps(NAMES_JS)};\n"
        f"const input = JSON.parse({json.dumps(json.dumps(payload))});\n"
        f"{body}\n"
    )
    return run_node(script)


def server_accepts_length(text: str) -> bool:
    try:
        clean_name(text)
    except ProtocolError as error:
        return "1 to" not in error.detail
    return True


def test_the_page_counts_and_refuses_exactly_what_the_server_does():
    """For each sample: the page's count after trim() is the server's, and the page refuses a
    name for its length exactly when the server would."""
    body = (
        "console.log(JSON.stringify(input.samples.map((s) => "
        "({ count: names.codePoints(s.trim()), problem: names.lengthProblem(s.trim(), input.max, 'A name') }))));"
    )
    results = run_js(body, {"samples": SAMPLES, "max": NAME_MAX_CHARS})
    for sample, js in zip(SAMPLES, results, strict=True):
        assert js["count"] == len(trim(sample)), sample
        assert (js["problem"] is None) == server_accepts_length(sample), sample


def test_a_33_code_point_name_gets_a_message_with_the_limit_and_the_count():
    """Clear: what the limit is, and how many characters this one has."""
    (message,) = run_js("console.log(JSON.stringify([names.lengthProblem(input, 32, 'A name')]));", "😀" * 33)
    assert message == "A name is 1 to 32 characters; this one has 33."

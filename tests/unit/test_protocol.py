"""The wire protocol module: what it accepts, what it refuses and how, what it sends."""

import json

import pytest

from shared.protocol import (
    MAX_SAFE_INTEGER,
    PING_ENDPOINT,
    Ping,
    ProtocolError,
    error_frame,
    parse_client_frame,
    pong_frame,
)

LIMIT = 1024


def parse(text):
    return parse_client_frame(text, PING_ENDPOINT, LIMIT)


def refusal(text) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse(text)
    return caught.value


def test_a_ping_with_seq_and_sent_at_is_parsed():
    """A well-formed ping comes back as a Ping with both fields."""
    assert parse('{"type":"ping","seq":7,"sent_at":1700000000000.5}') == Ping(seq=7, sent_at=1700000000000.5)


def test_sent_at_is_optional_and_unknown_fields_are_ignored():
    """Only seq is required; extra fields do not break older servers."""
    assert parse('{"type":"ping","seq":0,"extra":[1]}') == Ping(seq=0, sent_at=None)


@pytest.mark.parametrize("text", ["", "{", "ping", '{"type":"ping","seq":1', "NaN", '{"type":"ping","seq":NaN}'])
def test_text_that_is_not_json_is_bad_json(text):
    """Broken JSON, and NaN which Python would otherwise accept, are bad_json."""
    assert refusal(text).code == "bad_json"


@pytest.mark.parametrize("text", ["[]", "1", '"ping"', "null", "{}", '{"type":7}', '{"type":null}'])
def test_json_that_is_not_a_typed_object_is_bad_message(text):
    """A frame must be an object with a string type."""
    assert refusal(text).code == "bad_message"


def test_a_type_this_endpoint_does_not_speak_is_unknown_type():
    """The error names what the endpoint does accept."""
    error = refusal('{"type":"chat","text":"hi"}')
    assert error.code == "unknown_type"
    assert "ping" in error.detail


@pytest.mark.parametrize("seq", ["1", 1.5, -1, True, None, MAX_SAFE_INTEGER + 1, [1]], ids=lambda v: f"seq={v!r}")
def test_seq_must_be_a_safe_non_negative_integer(seq):
    """Strings, floats, booleans, negatives and unsafe integers are refused."""
    error = refusal(json.dumps({"type": "ping", "seq": seq}))
    assert error.code == "bad_message"
    assert '"seq"' in error.detail


@pytest.mark.parametrize("sent_at", ["now", True, -5, 1e16, {}], ids=lambda v: f"sent_at={v!r}")
def test_sent_at_when_present_must_be_a_plausible_number(sent_at):
    """sent_at is echoed back, so it must be a finite number in range."""
    assert refusal(json.dumps({"type": "ping", "seq": 1, "sent_at": sent_at})).code == "bad_message"


def test_a_frame_over_the_limit_is_too_large_counted_in_utf8_bytes():
    """The limit counts bytes on the wire, not characters."""
    text = json.dumps({"type": "ping", "seq": 1, "pad": "é" * 600}, ensure_ascii=False)
    assert len(text) < LIMIT < len(text.encode())
    assert refusal(text).code == "too_large"


def test_a_binary_frame_is_bad_message():
    """Binary frames arrive as text=None and are refused with a hint."""
    error = refusal(None)
    assert error.code == "bad_message"
    assert "text" in error.detail


def test_pong_echoes_seq_and_sent_at_and_adds_server_time():
    """The pong carries exactly what the client needs to match it."""
    frame = json.loads(pong_frame(Ping(seq=3, sent_at=12.5), server_time=99.0))
    assert frame == {"type": "pong", "seq": 3, "sent_at": 12.5, "server_time": 99.0}


def test_error_frame_has_type_code_and_detail():
    """Error frames follow the shape every endpoint shares."""
    assert json.loads(error_frame("bad_json", "nope")) == {"type": "error", "code": "bad_json", "detail": "nope"}


# ---------------------------------------------------------------- public board, chat, presence

from shared.protocol import (  # noqa: E402 - grouped with the tests that use them
    CHAT_ENDPOINT,
    PRESENCE_ENDPOINT,
    PUBLIC_ENDPOINT,
    ChatMessage,
    Delay,
    Rename,
    is_valid_room,
)


def parse_on(accepts, frame):
    return parse_client_frame(json.dumps(frame), accepts, 64 * 1024)


def refusal_on(accepts, frame) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_on(accepts, frame)
    return caught.value


ON_PONG = {"seq": 4, "token": "k3Jd9aQx"}


@pytest.mark.parametrize("delay", [0, 0.25, 60000])
def test_a_delay_report_in_range_is_accepted(delay):
    """0 to 60000 ms inclusive, on the pong it answers."""
    frame = {"type": "delay", "delay_ms": delay, **ON_PONG}
    assert parse_on(PUBLIC_ENDPOINT, frame) == Delay(delay_ms=delay, seq=4, token="k3Jd9aQx")


@pytest.mark.parametrize("delay", [None, -0.1, 60000.5, "12", True])
def test_a_delay_report_out_of_range_or_of_the_wrong_type_is_bad_message(delay):
    """Missing, negative, over a minute or not a number."""
    assert refusal_on(PUBLIC_ENDPOINT, {"type": "delay", "delay_ms": delay, **ON_PONG}).code == "bad_message"


@pytest.mark.parametrize(
    "fields",
    [{}, {"seq": 4}, {"token": "k3Jd9aQx"}, {"seq": -1, "token": "a"}, {"seq": 4, "token": ""}, {"seq": 4, "token": 5}],
    ids=["neither", "no_token", "no_seq", "negative_seq", "empty_token", "token_not_a_string"],
)
def test_a_delay_report_must_name_the_pong_it_answers(fields):
    """seq and token are required: the board counts only delays the server timed itself."""
    refusal = refusal_on(PUBLIC_ENDPOINT, {"type": "delay", "delay_ms": 5, **fields})
    assert refusal.code == "bad_message"
    assert "seq" in refusal.detail or "token" in refusal.detail


def test_a_rename_is_trimmed():
    """Surrounding spaces are not part of a name."""
    assert parse_on(PUBLIC_ENDPOINT, {"type": "rename", "name": "  Ada  "}) == Rename(name="Ada")


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "a\nb", "nul\x00", 5, None])
def test_a_name_that_is_empty_too_long_or_has_control_characters_is_refused(name):
    """1-32 characters after trimming, printable only."""
    assert refusal_on(PUBLIC_ENDPOINT, {"type": "rename", "name": name}).code == "bad_message"


def test_a_name_of_32_characters_with_markup_is_kept_as_text():
    """Markup is not refused here: it is escaped wherever it is shown."""
    name = "<script>alert(1)</script>" + "x" * 7
    assert parse_on(PUBLIC_ENDPOINT, {"type": "rename", "name": name}).name == name


def test_a_chat_message_keeps_its_line_breaks_but_not_its_outer_spaces():
    """Multi-line messages are fine; trimming still applies."""
    assert parse_on(CHAT_ENDPOINT, {"type": "message", "text": " a\nb "}) == ChatMessage(text="a\nb")


@pytest.mark.parametrize("text", ["", " \n\t ", "x" * 2001, "bell\x07", "nul\x00", ["hi"]])
def test_an_empty_overlong_or_control_laden_chat_message_is_bad_message(text):
    """1-2000 characters after trimming, no control characters but line breaks and tabs."""
    assert refusal_on(CHAT_ENDPOINT, {"type": "message", "text": text}).code == "bad_message"


def test_a_2000_character_message_in_four_byte_characters_fits_the_default_frame_limit():
    """The largest honest chat frame stays under WS_MAX_FRAME_BYTES (16 KiB)."""
    text = "😀" * 2000
    frame = json.dumps({"type": "message", "text": text}, ensure_ascii=False)
    assert parse_client_frame(frame, CHAT_ENDPOINT, 16 * 1024).text == text


def test_the_presence_endpoint_accepts_no_messages_and_says_so():
    """Presence only sends; anything a client sends is unknown_type."""
    error = refusal_on(PRESENCE_ENDPOINT, {"type": "ping", "seq": 1})
    assert error.code == "unknown_type"
    assert "only sends" in error.detail


@pytest.mark.parametrize("room", ["lobby", "a", "team-7_x", "z" * 64])
def test_room_names_of_lowercase_ascii_digits_dash_and_underscore_are_valid(room):
    """The room alphabet of docs/protocol.md: [a-z0-9_-]{1,64}."""
    assert is_valid_room(room)


@pytest.mark.parametrize("room", ["", "Lobby", "a b", "z" * 65, "café", "\uff4cobby", "lobby\n", "../x", "١٢"])
def test_other_room_names_are_invalid_including_unicode_lookalikes(room):
    """Uppercase, spaces, over 64, non-ASCII letters and digits, trailing newline."""
    assert not is_valid_room(room)


@pytest.mark.parametrize("text", ['{"type":"rename","name":"a\\ud800b"}', '{"type":"message","text":"x\\udfff"}'])
def test_a_lone_surrogate_is_bad_message_because_it_cannot_be_stored_or_sent(text):
    """JSON can spell a half of a UTF-16 pair that no UTF-8 write (Redis, SQL, wire) accepts."""
    accepts = PUBLIC_ENDPOINT | CHAT_ENDPOINT
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(text, accepts, 64 * 1024)
    assert caught.value.code == "bad_message"
    assert "surrogate" in caught.value.detail


def test_a_properly_paired_surrogate_is_an_ordinary_character():
    """An escaped emoji (a valid pair) is accepted and decoded."""
    frame = '{"type":"rename","name":"\\ud83d\\ude00 Ada"}'
    assert parse_client_frame(frame, PUBLIC_ENDPOINT, 1024).name == "😀 Ada"


def test_deeply_nested_json_is_bad_json_not_a_crash():
    """Thousands of brackets fit in a small frame and would exhaust the parser's recursion."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame("[" * 5000, PING_ENDPOINT, 16 * 1024)
    assert caught.value.code == "bad_json"


# ---------------------------------------------------------------- hostile values in every field
#
# Whatever a client puts in any field of any frame, parsing ends in a ProtocolError (an `error`
# frame), never in another exception (which would close the socket with 1011).

HUGE_INT = "1" + "0" * 400  # a JSON integer Python parses exactly, and no float can hold
HOSTILE_VALUES = [
    HUGE_INT,
    "-" + HUGE_INT,
    "1e400",  # parses as inf
    "-1e400",
    "1e-400",  # parses as 0.0
    "2.5e308",
    str(2**63),
    str(2**1024),
    "1.0",
    "-0",
    "true",
    "null",
    '"1"',
    '"\\ud800"',
    '"\\u0000"',
    "[]",
    "[1]",
    "{}",
    '{"$gt":0}',
    "[[[[[[[[1]]]]]]]]",
]
FIELDS = [
    (PING_ENDPOINT, "ping", "seq", {}),
    (PING_ENDPOINT, "ping", "sent_at", {"seq": 1}),
    (PUBLIC_ENDPOINT, "ping", "sent_at", {"seq": 1}),
    (PUBLIC_ENDPOINT, "delay", "delay_ms", {}),
    (PUBLIC_ENDPOINT, "rename", "name", {}),
    (CHAT_ENDPOINT, "message", "text", {}),
]


def frame_with(kind: str, field: str, raw_value: str, others: dict) -> str:
    """A frame whose `field` holds `raw_value` spelled exactly as given (json.dumps would not)."""
    rest = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in others.items())
    return f'{{"type":"{kind}"{rest},"{field}":{raw_value}}}'


@pytest.mark.parametrize(("accepts", "kind", "field", "others"), FIELDS, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("raw_value", HOSTILE_VALUES)
def test_no_value_in_any_field_raises_anything_but_a_protocol_error(accepts, kind, field, others, raw_value):
    """Each field gets the table of hostile values; each frame is parsed or refused cleanly."""
    assert outcome(frame_with(kind, field, raw_value, others), accepts) in {"parsed", "bad_json", "bad_message"}


def outcome(text: str, accepts: frozenset[str]) -> str:
    """ "parsed", or the code of the ProtocolError; any other exception fails the test."""
    try:
        parse_client_frame(text, accepts, 64 * 1024)
    except ProtocolError as error:
        return error.code
    return "parsed"


@pytest.mark.parametrize("raw_value", [HUGE_INT, "-" + HUGE_INT, "1e400", str(2**1024)])
@pytest.mark.parametrize(
    ("accepts", "kind", "field", "others"), [FIELDS[0], FIELDS[1], FIELDS[3]], ids=["seq", "sent_at", "delay_ms"]
)
def test_numbers_past_any_range_are_bad_message(accepts, kind, field, others, raw_value):
    """The issue's example (1 followed by 400 zeros in sent_at or delay_ms) and its kin."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(frame_with(kind, field, raw_value, others), accepts, 64 * 1024)
    assert caught.value.code == "bad_message"
    assert f'"{field}"' in caught.value.detail


@pytest.mark.parametrize("raw_type", [HUGE_INT, "1e400", "[]", "{}", "true", "null", '"\\ud800"', '"ping\\u0000"'])
def test_a_hostile_type_is_refused_cleanly(raw_type):
    """The type field itself: not a string, or a string no endpoint speaks."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(f'{{"type":{raw_type},"seq":1}}', PING_ENDPOINT | PUBLIC_ENDPOINT, 1024)
    assert caught.value.code in {"bad_message", "unknown_type"}


def test_an_integer_too_long_for_python_to_parse_is_bad_json():
    """Past 4300 digits Python refuses to convert the integer at all; that is a bad frame too."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame('{"type":"ping","seq":' + "9" * 5000 + "}", PING_ENDPOINT, 16 * 1024)
    assert caught.value.code == "bad_json"


def test_a_frame_with_a_lone_surrogate_outside_json_is_measured_not_crashed_on():
    """Counting a frame's UTF-8 bytes must not raise on text no UTF-8 encoder accepts."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame('{"type":"ping","seq":1}\ud800', PING_ENDPOINT, 1024)
    assert caught.value.code == "bad_json"


# ---------------------------------------------------------------- board frames from encoded parts

from shared.protocol import (  # noqa: E402 - grouped with the tests that use them
    ROW_COLUMNS,
    BoardRow,
    decode_row,
    delays_frame,
    encode,
    encode_figures,
    encode_row,
    rows_json,
    welcome_frame,
)

ROWS = [
    {
        "id": "k3Jd9aQx",
        "name": 'Ada "the" <b>😀</b>',
        "guest": True,
        "delay_ms": 12.3,
        "median_ms": 11.0,
        "jitter_ms": None,
        "claimed_ms": 0.1,
        "suspect": True,
        "connected_at": 1733140000000,
    },
    {
        "id": "b7",
        "name": "alice",
        "guest": False,
        "delay_ms": None,
        "median_ms": None,
        "jitter_ms": None,
        "claimed_ms": None,
        "suspect": False,
        "connected_at": 1733140000001,
    },
]
SUMMARY = {"count": 1, "min_ms": 12.3, "median_ms": 12.3, "p95_ms": 12.3, "max_ms": 12.3}
HISTOGRAM = {"edges_ms": [0, 1, 2, 5], "counts": [0, 0, 0, 1]}
COLUMNS = list(ROW_COLUMNS)


def compact(rows: list[dict]) -> list[list]:
    return [[row[column] for column in COLUMNS] for row in rows]


@pytest.mark.parametrize("rows", [ROWS, ROWS[:1], []], ids=["two", "one", "none"])
def test_a_delays_frame_from_encoded_parts_is_the_encoding_of_the_whole_frame(rows):
    """Assembled by concatenating encoded rows and figures, byte for byte what encoding the
    equivalent object gives: valid JSON, whatever the names hold."""
    frame = delays_frame(rows_json(encode_row(row) for row in rows), 7, encode_figures(SUMMARY, HISTOGRAM))
    whole = {
        "type": "delays",
        "columns": COLUMNS,
        "clients": compact(rows),
        "total": 7,
        "summary": SUMMARY,
        "histogram": HISTOGRAM,
    }
    assert frame == encode(whole)
    assert json.loads(frame) == whole


@pytest.mark.parametrize("rows", [ROWS, []], ids=["two", "none"])
def test_a_welcome_from_encoded_rows_is_the_encoding_of_the_whole_frame(rows):
    """The arrival's connected_at is not part of `you`."""
    you = {"id": "k3Jd9aQx", "name": "Ada", "guest": True, "connected_at": 1733140000000}
    frame = welcome_frame(you, rows_json(encode_row(row) for row in rows), 2)
    you_shown = {"id": "k3Jd9aQx", "name": "Ada", "guest": True}
    whole = {"type": "welcome", "you": you_shown, "columns": COLUMNS, "clients": compact(rows), "total": 2}
    assert frame == encode(whole)
    assert json.loads(frame) == whole


def test_a_row_decodes_by_the_frames_columns_to_the_row_it_was():
    """Every column of BoardRow is on the wire, in ROW_COLUMNS order; decoding by a frame's
    "columns" gives the row back, values and types alike."""
    assert set(ROW_COLUMNS) == set(BoardRow.__annotations__)
    frame = json.loads(delays_frame(rows_json(encode_row(row) for row in ROWS), 2, encode_figures(SUMMARY, HISTOGRAM)))
    assert [decode_row(values, frame["columns"]) for values in frame["clients"]] == ROWS


def test_a_row_an_older_worker_stored_as_an_object_decodes_as_it_is():
    """During a rolling deploy Redis may hold rows written as objects: /api/public/ still shows them."""
    assert decode_row(dict(ROWS[0])) == ROWS[0]

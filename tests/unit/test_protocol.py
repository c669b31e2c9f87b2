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

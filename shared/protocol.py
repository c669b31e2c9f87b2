"""The wire protocol: parse and validate what clients send, build what the server sends.

The single source of truth for frame shapes; docs/protocol.md is written from this module,
and the consumers and the tests both use it. Every frame is a JSON object with a "type".
"""

import json
import math
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

# Close codes (RFC 6455 1009; 4000-4999 are ours).
CLOSE_TOO_LARGE = 1009  # sent by Daphne itself for a frame over its cap (ws/start)
CLOSE_RATE_LIMITED = 4008
CLOSE_SIGN_IN_REQUIRED = 4401
CLOSE_UNKNOWN_ROOM = 4404

ErrorCode = Literal["bad_json", "bad_message", "unknown_type", "too_large", "rate_limited"]

# Integers a browser can hold exactly (Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1


class ProtocolError(ValueError):
    """A client frame the server refuses; becomes an `error` frame, the socket stays open."""

    def __init__(self, code: ErrorCode, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


# ---------------------------------------------------------------- client → server


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int
    sent_at: float | None
    type: str = "ping"


ClientMessage = Ping

# Message types an endpoint accepts; the consumer dispatches each to `on_<type>`.
PING_ENDPOINT = frozenset({"ping"})


def parse_client_frame(text: str | None, accepts: frozenset[str], max_bytes: int) -> ClientMessage:
    """Validate one text frame against the types an endpoint accepts, or raise ProtocolError."""
    if text is None:
        raise ProtocolError("bad_message", "binary frames are not part of this protocol; send JSON text")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise ProtocolError("too_large", f"frame of {size} bytes is over the {max_bytes}-byte limit")
    frame = _decode_json(text)
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", 'every frame needs a "type" string')
    if kind not in accepts:
        expected = ", ".join(sorted(accepts))
        raise ProtocolError("unknown_type", f"{kind[:40]!r} is not a message type here; expected: {expected}")
    return _PARSERS[kind](frame)


def _decode_json(text: str) -> dict[str, Any]:
    try:
        frame = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:  # JSONDecodeError and the NaN/Infinity refusal
        raise ProtocolError("bad_json", f"frame is not valid JSON: {error}") from None
    if not isinstance(frame, dict):
        raise ProtocolError("bad_message", "a frame must be a JSON object")
    return frame


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _parse_ping(frame: dict[str, Any]) -> Ping:
    return Ping(
        seq=_integer(frame, "seq", 0, MAX_SAFE_INTEGER),
        sent_at=_optional_number(frame, "sent_at", 0, 1e15),
    )


_PARSERS = {"ping": _parse_ping}


def _integer(frame: dict[str, Any], field: str, low: int, high: int) -> int:
    value = frame.get(field)
    # bool is a subclass of int in Python, but `true` is not a number on the wire.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError("bad_message", f'"{field}" must be an integer from {low} to {high}')
    return value


def _optional_number(frame: dict[str, Any], field: str, low: float, high: float) -> float | None:
    value = frame.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError("bad_message", f'"{field}" must be a number')
    if not low <= value <= high:
        raise ProtocolError("bad_message", f'"{field}" must be from {low:g} to {high:g}')
    return value


# ---------------------------------------------------------------- server → client


class PongFrame(TypedDict):
    type: Literal["pong"]
    seq: int
    sent_at: float | None
    server_time: float


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: ErrorCode
    detail: str


def encode(frame: dict[str, Any]) -> str:
    """Compact JSON text for the wire."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def pong_frame(ping: Ping, server_time: float) -> str:
    frame: PongFrame = {"type": "pong", "seq": ping.seq, "sent_at": ping.sent_at, "server_time": server_time}
    return encode(frame)


def error_frame(code: ErrorCode, detail: str) -> str:
    frame: ErrorFrame = {"type": "error", "code": code, "detail": detail}
    return encode(frame)

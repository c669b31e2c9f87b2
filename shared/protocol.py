"""The wire protocol: parse and validate what clients send, build what the server sends.

The single source of truth for frame shapes; docs/protocol.md is written from this module,
and the consumers and the tests both use it. Every frame is a JSON object with a "type".
"""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

# Close codes (RFC 6455 1009; 4000-4999 are ours).
CLOSE_ABNORMAL = 1006  # no close frame: the peer vanished, or the consumer died
CLOSE_TOO_LARGE = 1009  # sent by Daphne itself for a frame over its cap (ws/start)
CLOSE_SERVER_ERROR = 1011  # a chat room's database is unavailable; the client retries with backoff
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

NAME_MAX_CHARS = 32
CHAT_TEXT_MAX_CHARS = 2000
DELAY_MAX_MS = 60_000
TOKEN_MAX_CHARS = 32
ROOM_PATTERN = re.compile(r"[a-z0-9_-]{1,64}", re.ASCII)
# C0 controls and DEL are invisible, and NUL cannot even be stored in PostgreSQL text. Lone
# UTF-16 surrogates (JSON's "\ud800") are not text at all: they cannot be encoded as UTF-8 for
# Redis, the database or the wire, so one would break every write that carries it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int
    sent_at: float | None
    type: str = "ping"


@dataclass(frozen=True, slots=True)
class Delay:
    """A client's claimed delay, on the pong it answers (seq and that pong's token)."""

    delay_ms: float
    seq: int
    token: str
    type: str = "delay"


@dataclass(frozen=True, slots=True)
class Rename:
    name: str
    type: str = "rename"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    text: str
    type: str = "message"


ClientMessage = Ping | Delay | Rename | ChatMessage

# Message types each endpoint accepts; its consumer dispatches each to `on_<type>`.
PING_ENDPOINT = frozenset({"ping"})
PUBLIC_ENDPOINT = frozenset({"ping", "delay", "rename"})
CHAT_ENDPOINT = frozenset({"message"})
PRESENCE_ENDPOINT: frozenset[str] = frozenset()


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
        expected = ", ".join(sorted(accepts)) or "nothing (this endpoint only sends)"
        raise ProtocolError("unknown_type", f"{kind[:40]!r} is not a message type here; expected: {expected}")
    return _PARSERS[kind](frame)


def is_valid_room(name: str) -> bool:
    """Room names are [a-z0-9_-]{1,64}: safe in URLs, group names and Redis keys."""
    return ROOM_PATTERN.fullmatch(name) is not None


def clean_name(raw: object) -> str:
    """A display name as stored and shown: trimmed, 1-32 characters, no control characters."""
    return _text(raw, "name", NAME_MAX_CHARS, _CONTROL)


def _decode_json(text: str) -> dict[str, Any]:
    try:
        frame = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:  # JSONDecodeError and the NaN/Infinity refusal
        raise ProtocolError("bad_json", f"frame is not valid JSON: {error}") from None
    except RecursionError:  # "[[[[…" a few thousand deep fits in a small frame
        raise ProtocolError("bad_json", "frame is nested too deeply") from None
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


def _parse_delay(frame: dict[str, Any]) -> Delay:
    delay = _optional_number(frame, "delay_ms", 0, DELAY_MAX_MS)
    if delay is None:
        raise ProtocolError("bad_message", f'"delay_ms" must be a number from 0 to {DELAY_MAX_MS}')
    seq = _integer(frame, "seq", 0, MAX_SAFE_INTEGER)
    token = frame.get("token")
    if not isinstance(token, str) or not 1 <= len(token) <= TOKEN_MAX_CHARS:
        raise ProtocolError("bad_message", '"token" must be the string the pong for "seq" carried')
    return Delay(delay_ms=delay, seq=seq, token=token)


def _parse_rename(frame: dict[str, Any]) -> Rename:
    return Rename(name=clean_name(frame.get("name")))


def _parse_chat_message(frame: dict[str, Any]) -> ChatMessage:
    return ChatMessage(text=_text(frame.get("text"), "text", CHAT_TEXT_MAX_CHARS, _CONTROL_BUT_LINES))


_PARSERS = {"ping": _parse_ping, "delay": _parse_delay, "rename": _parse_rename, "message": _parse_chat_message}


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


def _text(value: object, field: str, max_chars: int, forbidden: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise ProtocolError("bad_message", f'"{field}" must be a string')
    text = value.strip()
    if not 1 <= len(text) <= max_chars:
        raise ProtocolError("bad_message", f'"{field}" must be 1 to {max_chars} characters after trimming')
    if forbidden.search(text):
        raise ProtocolError("bad_message", f'"{field}" must not contain control characters or lone surrogates')
    return text


# ---------------------------------------------------------------- server → client


class PongFrame(TypedDict, total=False):
    type: Literal["pong"]
    seq: int
    sent_at: float | None
    server_time: float
    # /ws/public/ only: a report on this pong must carry it (shared/roundtrip.py).
    token: str


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: ErrorCode
    detail: str


class BoardRow(TypedDict):
    """One client on the public board."""

    id: str
    name: str
    delay_ms: float | None
    median_ms: float | None
    jitter_ms: float | None
    # The server's own timing is delay_ms (shared/roundtrip.py); the client's claim beside it.
    claimed_ms: float | None
    suspect: bool
    connected_at: float


class Arrival(TypedDict):
    id: str
    name: str
    connected_at: float


class BoardSummary(TypedDict):
    count: int
    min_ms: float | None
    median_ms: float | None
    p95_ms: float | None
    max_ms: float | None


class Histogram(TypedDict):
    """Everyone's current delay in buckets: counts[i] clients had edges_ms[i] <= delay < edges_ms[i+1]
    (the last bucket is open-ended). Lets a page chart the whole board when it shows only 200 rows."""

    edges_ms: list[float]
    counts: list[int]


class ChatMessageShape(TypedDict):
    id: str
    room: str
    author: str
    text: str
    sent_at: float


class UserStatus(TypedDict):
    username: str
    online: bool
    last_seen: float | None
    # Grows with every change of this user's status: a client drops an event whose version
    # is not newer than the one it has, so a late message cannot show a stale status.
    version: int


def encode(frame: Mapping[str, Any]) -> str:
    """Compact JSON text for the wire."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def pong_frame(ping: Ping, server_time: float, token: str | None = None) -> str:
    frame: PongFrame = {"type": "pong", "seq": ping.seq, "sent_at": ping.sent_at, "server_time": server_time}
    if token is not None:
        frame["token"] = token
    return encode(frame)


def error_frame(code: ErrorCode, detail: str) -> str:
    frame: ErrorFrame = {"type": "error", "code": code, "detail": detail}
    return encode(frame)


def welcome_frame(you: Arrival, clients_json: str, total: int) -> str:
    """`clients_json` is the rows as a JSON array, already serialized (see shared/board.py)."""
    you_json = encode({"id": you["id"], "name": you["name"]})
    return f'{{"type":"welcome","you":{you_json},"clients":{clients_json},"total":{total}}}'


def board_figures_json(summary: BoardSummary, histogram: Histogram) -> str:
    """The figures of everyone, serialized once per snapshot for every `delays` answer."""
    return encode({"summary": summary, "histogram": histogram})


def delays_frame(clients_json: str, total: int, figures_json: str) -> str:
    """The board as one client needs it; rows and figures come pre-serialized (see shared/board.py)."""
    return f'{{"type":"delays","clients":{clients_json},"total":{total},{figures_json[1:]}'


def connect_frame(arrivals: list[Arrival]) -> str:
    return encode({"type": "connect", "clients": arrivals})


def disconnect_frame(ids: list[str]) -> str:
    return encode({"type": "disconnect", "ids": ids})


def rename_frame(client_id: str, name: str) -> str:
    return encode({"type": "rename", "id": client_id, "name": name})


def history_frame(room: str, messages: list[ChatMessageShape]) -> str:
    return encode({"type": "history", "room": room, "messages": messages})


def message_frame(message: ChatMessageShape) -> str:
    return encode({"type": "message", "message": message})


def presence_frame(users: list[UserStatus]) -> str:
    return encode({"type": "presence", "users": users})


def status_frame(status: UserStatus) -> str:
    return encode({"type": "status", **status})

"""The wire protocol: parse and validate what clients send, build what the server sends.

The single source of truth for frame shapes; docs/protocol.md is written from this module,
and the consumers and the tests both use it. Every frame is a JSON object with a "type".
"""

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypedDict

# Close codes (RFC 6455 and the IANA WebSocket close code registry below 4000; 4000-4999 are ours).
CLOSE_ABNORMAL = 1006  # no close frame: the peer vanished, or the consumer died
CLOSE_TOO_LARGE = 1009  # sent by Daphne itself for a frame over its cap (ws/start)
# A chat room's database is unavailable; the client retries with backoff. Not RFC 6455's 1011:
# autobahn lets an application close only with 1000 or 3000-4999, and refuses 1011 itself.
CLOSE_UNAVAILABLE = 4503
# IANA's "Service Restart": the worker is draining before it exits (ws/drain.py). The client
# reconnects at once, with a little jitter, and lands on another worker. Sent by the server
# itself (ws/drain.py), which may: autobahn's check binds only what an application sends.
CLOSE_SERVICE_RESTART = 1012
CLOSE_RATE_LIMITED = 4008
CLOSE_TOO_SLOW = 4009  # the peer does not read what it is sent (shared/backlog.py); reconnect
CLOSE_SIGN_IN_REQUIRED = 4401
CLOSE_UNKNOWN_ROOM = 4404

ErrorCode = Literal["bad_json", "bad_message", "unknown_type", "too_large", "rate_limited", "internal_error"]

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
    # "surrogatepass": a lone surrogate (only a test client can send one) is counted, not raised on.
    size = len(text.encode("utf-8", "surrogatepass"))
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


def clean_name(raw: object, field: str = "name") -> str:
    """A name as stored and shown (board names, chat authors, usernames at sign-up), or ProtocolError.

    Trimmed (`trim`), then 1-32 characters (code points), and:
    - no control character (Unicode category Cc: C0, DEL and C1, e.g. U+009B), no line or
      paragraph separator (U+2028, U+2029): a name is one line;
    - no bidi control (U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates, the
      marks U+200E, U+200F, U+061C): a name cannot reorder the text around it;
    - no lone surrogate (JSON's "\\ud800"): not text, and no UTF-8 write (Redis, SQL, the wire)
      accepts it;
    - no space but the ordinary U+0020 (a hair or thin space inside a name looks like none),
      and at most MAX_MARKS_IN_A_ROW combining marks on one letter;
    - at least one visible character (`is_visible`): a name of only U+200B, fillers or spaces
      shows as nothing at all.
    Accents, any script, emoji with their joiners (U+200D), variation selectors and tags stay.
    """
    name = _trimmed_string(raw, field, NAME_MAX_CHARS)
    marks_in_a_row = 0
    for char in name:
        problem = _name_char_problem(char)
        if problem:
            raise ProtocolError("bad_message", f'"{field}" must not contain {problem} ({_code_point(char)})')
        marks_in_a_row = marks_in_a_row + 1 if unicodedata.category(char) in {"Mn", "Me"} else 0
        if marks_in_a_row > MAX_MARKS_IN_A_ROW:
            raise ProtocolError(
                "bad_message", f'"{field}" must not stack more than {MAX_MARKS_IN_A_ROW} combining marks on a letter'
            )
    if not any(is_visible(char) for char in name):
        raise ProtocolError("bad_message", f'"{field}" must have at least one visible character')
    return name


def clean_chat_text(raw: object) -> str:
    """A chat message's text as stored and shown, or ProtocolError: trimmed (`trim`), 1-2000
    characters, no control character but line feed and tab (so no CR, no U+0085), no lone
    surrogate."""
    text = _trimmed_string(raw, "text", CHAT_TEXT_MAX_CHARS)
    found = _FORBIDDEN_IN_TEXT.search(text)  # one C-level scan: 2000 characters in a few µs
    if found is None:
        return text
    char = found.group()
    if unicodedata.category(char) == "Cs":
        raise ProtocolError("bad_message", f'"text" must not contain lone surrogates ({_code_point(char)})')
    raise ProtocolError(
        "bad_message", f'"text" must not contain control characters but line breaks and tabs ({_code_point(char)})'
    )


# Category Cc is exactly U+0000-U+001F and U+007F-U+009F (a Unicode stability guarantee), and
# Cs is U+D800-U+DFFF: chat text keeps TAB (U+0009) and LF (U+000A) of them.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# What ECMAScript's String.prototype.trim removes (its WhiteSpace and LineTerminator: TAB, VT,
# FF, U+FEFF, the Zs space separators, LF, CR, U+2028, U+2029), so that a page's `value.trim()`
# and the server cut exactly the same characters (Python's str.strip() differs: it also cuts
# U+001C-U+001F and U+0085, and keeps U+FEFF).
TRIMMED = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"

# Bidi controls: embeddings and overrides (LRE, RLE, PDF, LRO, RLO), isolates (LRI, RLI, FSI,
# PDI) and the implicit marks (LRM, RLM, ALM). Source: Unicode Standard Annex #9, table 4.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")

# Every Default_Ignorable_Code_Point, assigned or not (a renderer draws an unassigned one of these
# ranges as nothing, whatever this Python's Unicode tables know of it: U+2065, U+FFF0-U+FFF8),
# plus the braille blank, which is not ignorable but shows as blank space. None of them makes a
# name visible, and a name's key leaves them out. Source: Unicode 15.1 DerivedCoreProperties.txt.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
FILLERS = frozenset(chr(c) for low, high in _IGNORABLE_RANGES for c in range(low, high + 1)) | {"\u2800"}
# A letter may carry this many combining marks in a row (Vietnamese and Hebrew with points
# need 2-3); more stack up over the lines around the name ("zalgo" text).
MAX_MARKS_IN_A_ROW = 4

# Categories that never show on their own: format characters (U+200B, U+200D, U+2060, U+FEFF…),
# separators, non-spacing and enclosing marks, controls and surrogates.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Cc", "Cs"})


def trim(text: str) -> str:
    """`text` without the surrounding white space a browser's `String.prototype.trim` cuts."""
    return text.strip(TRIMMED)


def is_visible(char: str) -> bool:
    """True for a character that shows as something: letters, digits, punctuation, symbols,
    spacing marks, private-use and not-yet-assigned code points (a newer emoji than this
    Python's Unicode tables), but not fillers."""
    return unicodedata.category(char) not in _INVISIBLE_CATEGORIES and char not in FILLERS and not char.isspace()


def name_key(name: str) -> str:
    """What a reader sees of a name, for telling whether two names are "the same": NFKC, case
    folded, NFKC again (Unicode's compatibility caseless match, UAX #15 and §3.13), without
    format characters and fillers. "Alice", "ALICE", the full-width "\\uff21LICE" and "Ali\\u200bce" share a key."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", trim(name)).casefold())
    return "".join(char for char in folded if unicodedata.category(char) != "Cf" and char not in FILLERS)


def _name_char_problem(char: str) -> str | None:
    category = unicodedata.category(char)
    if category == "Cs":
        return "lone surrogates"
    if category == "Cc":
        return "control characters"
    if category in {"Zl", "Zp"}:
        return "line breaks"
    if category == "Zs" and char != " ":
        return "spaces other than the ordinary space"  # a hair or thin space hides in a name
    if char in BIDI_CONTROLS:
        return "bidi controls"
    return None


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _decode_json(text: str) -> dict[str, Any]:
    try:
        frame = _DECODER.decode(text)
    except ValueError as error:  # JSONDecodeError and the NaN/Infinity refusal
        raise ProtocolError("bad_json", f"frame is not valid JSON: {error}") from None
    except RecursionError:  # "[[[[…" a few thousand deep fits in a small frame
        raise ProtocolError("bad_json", "frame is nested too deeply") from None
    if not isinstance(frame, dict):
        raise ProtocolError("bad_message", "a frame must be a JSON object")
    return frame


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every frame (json.loads with an option builds a new JSONDecoder per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


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
    return ChatMessage(text=clean_chat_text(frame.get("text")))


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
    # JSON integers have no size limit in Python (10**400 parses); they are compared exactly,
    # never converted to float (math.isfinite(10**400) raises OverflowError). JSON floats past
    # the double range parse as inf (1e400), which is not finite.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad_message", f'"{field}" must be a number')
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError("bad_message", f'"{field}" must be a finite number')
    if not low <= value <= high:
        raise ProtocolError("bad_message", f'"{field}" must be from {low:g} to {high:g}')
    return value


def _trimmed_string(value: object, field: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ProtocolError("bad_message", f'"{field}" must be a string')
    text = trim(value)
    if not 1 <= len(text) <= max_chars:
        raise ProtocolError("bad_message", f'"{field}" must be 1 to {max_chars} characters after trimming')
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
    """One client on the public board (on the wire an array in ROW_COLUMNS order, see encode_row)."""

    id: str
    name: str
    guest: bool  # a visitor without an account (else `name` is the username)
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
    guest: bool
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
    seq: int  # its place in its room: 1, 2, 3, ... in the order delivered (shared/chat.py)
    room: str
    author: str
    guest: bool  # the author is not an account: a display name chosen by a visitor
    text: str
    sent_at: float


class UserStatus(TypedDict):
    username: str
    online: bool
    last_seen: float | None
    # Grows with every change of this user's status: a client drops an event whose version
    # is not newer than the one it has, so a late message cannot show a stale status.
    version: int


# One encoder for every frame: json.dumps with any option builds a new JSONEncoder per call,
# which was a third of what encoding a pong or a board row cost.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(frame: Mapping[str, Any] | list | tuple) -> str:
    """Compact JSON text for the wire."""
    return _ENCODER.encode(frame)


def pong_frame(ping: Ping, server_time: float, token: str | None = None) -> str:
    frame: PongFrame = {"type": "pong", "seq": ping.seq, "sent_at": ping.sent_at, "server_time": server_time}
    if token is not None:
        frame["token"] = token
    return encode(frame)


def error_frame(code: ErrorCode, detail: str) -> str:
    frame: ErrorFrame = {"type": "error", "code": code, "detail": detail}
    return encode(frame)


# The board's frames are the largest the server sends, one per report per second: they are
# assembled from parts encoded once (a row when it changes, the figures once per snapshot) by
# concatenating complete JSON values, never by re-encoding or slicing JSON text.


class EncodedFigures(NamedTuple):
    """The summary and the histogram of everyone, each already a JSON object."""

    summary: str
    histogram: str


# A row on the wire is an array of its values in this order, named once per frame by
# "columns": 200 rows are then ~15 KB of JSON instead of ~33 KB, so an answer and the previous
# one fit deflate's 32 KiB window together (docs/benchmarks.md).
ROW_COLUMNS = ("id", "name", "guest", "delay_ms", "median_ms", "jitter_ms", "claimed_ms", "suspect", "connected_at")
_COLUMNS_JSON = encode(ROW_COLUMNS)


def encode_row(row: BoardRow) -> str:
    """One board row as wire JSON, `[id, name, guest, delay_ms, ...]` in ROW_COLUMNS order:
    encoded once per change, then spliced into every frame (and stored so in Redis)."""
    return encode([row[column] for column in ROW_COLUMNS])


def decode_row(values: list | BoardRow, columns: Iterable[str] = ROW_COLUMNS) -> BoardRow:
    """A row from `encode_row`'s array as an object, by `columns` (a frame's "columns"). A row
    that is an object already (written to Redis by an older worker, during a deploy) stays as
    it is."""
    if isinstance(values, dict):
        return values
    return dict(zip(columns, values, strict=True))


def rows_json(encoded_rows: Iterable[str]) -> str:
    """Rows from `encode_row` as one JSON array."""
    return "[" + ",".join(encoded_rows) + "]"


def encode_figures(summary: BoardSummary, histogram: Histogram) -> EncodedFigures:
    return EncodedFigures(encode(summary), encode(histogram))


def welcome_frame(you: Arrival, rows: str, total: int) -> str:
    """`rows`: a `rows_json` array."""
    you_json = encode({"id": you["id"], "name": you["name"], "guest": you["guest"]})
    return f'{{"type":"welcome","you":{you_json},"columns":{_COLUMNS_JSON},"clients":{rows},"total":{total}}}'


def delays_frame(rows: str, total: int, figures: EncodedFigures) -> str:
    """The answer to a delay report: `rows` a `rows_json` array, `total` everyone on the board."""
    return (
        f'{{"type":"delays","columns":{_COLUMNS_JSON},"clients":{rows},"total":{total},'
        f'"summary":{figures.summary},"histogram":{figures.histogram}}}'
    )


def connect_frame(arrivals: list[Arrival]) -> str:
    return encode({"type": "connect", "clients": arrivals})


def disconnect_frame(ids: list[str]) -> str:
    return encode({"type": "disconnect", "ids": ids})


def rename_frame(client_id: str, name: str) -> str:
    """Only guests rename (a signed-in user appears under their username), so `guest` is true."""
    return encode({"type": "rename", "id": client_id, "name": name, "guest": True})


def history_frame(room: str, messages: list[ChatMessageShape]) -> str:
    return encode({"type": "history", "room": room, "messages": messages})


def message_frame(message: ChatMessageShape) -> str:
    return encode({"type": "message", "message": message})


def presence_frame(users: list[UserStatus]) -> str:
    return encode({"type": "presence", "users": users})


def status_frame(status: UserStatus) -> str:
    return encode({"type": "status", **status})

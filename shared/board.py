"""The public board: every connected client's delay, kept in Redis for all workers and Gunicorn.

Nothing here is O(N) per event: a delay report touches one local row, and a snapshot reads
the first 200 rows and everyone's figures by rank and count (see the Redis section below),
so every client's answer is assembled (shared/protocol.py) from rows encoded once.
"""

import json
import secrets
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import redis
import redis.asyncio

from shared.protocol import (
    Arrival,
    BoardRow,
    BoardSummary,
    EncodedFigures,
    Histogram,
    connect_frame,
    decode_row,
    delays_frame,
    disconnect_frame,
    encode_figures,
    encode_row,
    rename_frame,
    rows_json,
    welcome_frame,
)
from shared.redis import key
from shared.roundtrip import is_suspect
from shared.stats import SlidingWindow

# A `delays` answer lists at most this many rows (the sender's own always among them).
MAX_ROWS = 200
# A client's median and jitter cover its last this-many reports (5 minutes at 1 a second).
CLIENT_WINDOW = 300
# Bucket edges for the distribution of everyone's delay, in ms (roughly 1-2-5 steps).
HISTOGRAM_EDGES_MS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]


def new_client_id() -> str:
    """Opaque, unguessable, short: it is sent to every client on the board."""
    return secrets.token_urlsafe(6)


def now_ms() -> float:
    return round(time.time() * 1000)


# ---------------------------------------------------------------- one client's figures


@dataclass
class ClientDelays:
    """One client's recent delay reports, and the row they make.

    The row and its wire JSON are computed once per change and then shared by the answer to
    the report, the tick that writes it and the heartbeat that keeps it alive: a worker's
    periodic jobs then cost a few microseconds per client, not a median and a jitter each.
    """

    id: str
    name: str
    connected_at: float
    # False only for a signed-in user, shown under their username (renames are for guests).
    guest: bool = True
    # The server-observed delays of the client's last CLIENT_WINDOW reports (shared/roundtrip.py)
    # ... and what the client claimed in them, for comparison only. Lists inside, not deques: an
    # idle viewer's two empty windows cost 0.4 KiB, two empty deques 1.5 KiB (docs/benchmarks.md).
    recent: SlidingWindow = field(default_factory=lambda: SlidingWindow(CLIENT_WINDOW))
    claims: SlidingWindow = field(default_factory=lambda: SlidingWindow(CLIENT_WINDOW))
    # A warm-up report's delay (see shared/roundtrip.RoundTrip): shown until the first counted one.
    warmup_ms: float | None = None
    # The delay last written to Redis (BoardStore.save), or None: what a snapshot most likely
    # holds for this client when the board is too large to keep everyone's (see Snapshot).
    saved_ms: float | None = field(default=None, compare=False)
    _row: BoardRow | None = field(default=None, init=False, repr=False, compare=False)
    _row_json: str | None = field(default=None, init=False, repr=False, compare=False)

    def record(self, delay_ms: float, claimed_ms: float | None = None, warmup: bool = False) -> None:
        """One report: the delay the server observed, and the one the client claimed. A warm-up
        is shown as the current delay until a counted report comes, and counted nowhere."""
        if warmup:
            self.warmup_ms = delay_ms
        else:
            self.recent.append(delay_ms)
            if claimed_ms is not None:
                self.claims.append(claimed_ms)
        self._row = self._row_json = None

    def rename(self, name: str) -> None:
        self.name = name
        self._row = self._row_json = None

    def row(self) -> BoardRow:
        """The current row (shared: read it, do not change it)."""
        if self._row is None:
            recent, claims = self.recent, self.claims
            observed_median = recent.median()
            self._row = {
                "id": self.id,
                "name": self.name,
                "guest": self.guest,
                "delay_ms": _round(recent.values[-1] if recent else self.warmup_ms),
                "median_ms": _round(observed_median),
                "jitter_ms": _round(recent.jitter()),
                "claimed_ms": _round(claims.values[-1]) if claims else None,
                "suspect": bool(claims) and is_suspect(claims.median(), observed_median),
                "connected_at": self.connected_at,
            }
        return self._row

    def board_ms(self) -> float | None:
        """The delay this client counts with in everyone's figures (as written to Redis); None
        before its first counted report."""
        return self.row()["delay_ms"] if self.recent else None

    def row_json(self) -> str:
        if self._row_json is None:
            self._row_json = encode_row(self.row())
        return self._row_json

    def arrival(self) -> Arrival:
        return {"id": self.id, "name": self.name, "guest": self.guest, "connected_at": self.connected_at}


def _round(value: float | None) -> float | None:
    # A tenth of a millisecond is finer than any browser timer shows; shorter rows, fewer bytes.
    return None if value is None else round(value, 1)


# ---------------------------------------------------------------- the board as everyone sees it


@dataclass(frozen=True)
class RankWindow:
    """Consecutive values of everyone's current delay, ascending: `values[m]` has rank `start + m`
    (0 is the fastest); `ids` maps the clients in it to their delay."""

    start: int
    values: tuple[float, ...]
    ids: dict[str, float]

    def patched(self, count: int, own_id: str, old: float | None, new: float) -> tuple[int, list[float]]:
        """The ranks this window shows once one client's delay went from `old` (None: it was not
        counted) to `new`, on a board that counted `count` delays: (first rank, values).

        A change outside the window shifts its ranks by one; a value moved into the gap just
        below or above it is left out, as it cannot be placed exactly. Equal delays are in
        Redis's order, by id, so a window knows which side of it the client's old one was."""
        start, values = self.start, list(self.values)
        if old is not None:
            count -= 1
            at = bisect_left(values, old)
            if own_id in self.ids and at < len(values) and values[at] == old:
                del values[at]
            elif not values or (old, own_id) < (values[0], next(iter(self.ids))):
                start -= 1
        if not values:
            return (0, [new]) if count == 0 else (start, values)
        at = bisect_right(values, new)
        reaches_end = start + len(values) == count
        if 0 < at < len(values) or (at == 0 and start == 0) or (at == len(values) and reaches_end):
            insort(values, new)
        elif at == 0:
            start += 1  # somewhere below: every value here moves up one rank
        return start, values


def _value_at(windows: Iterable[tuple[int, list[float]]], rank: int) -> float | None:
    for start, values in windows:
        if start <= rank < start + len(values):
            return values[rank - start]
    return None


def _summary_of(windows: list[tuple[int, list[float]]], count: int) -> BoardSummary:
    """min, median, p95 and max of `count` delays from windows of them (None where a window
    misses a rank: clients left between the reads)."""
    summary: BoardSummary = {"count": count, "min_ms": None, "median_ms": None, "p95_ms": None, "max_ms": None}
    if count:
        summary["min_ms"] = _value_at(windows, 0)
        summary["max_ms"] = _value_at(windows, count - 1)
    for name, p in PERCENTILES.items():
        low, high, weight = _rank_bounds(max(count, 1), p)
        below, above = _value_at(windows, low), _value_at(windows, high)
        if count and below is not None and above is not None:
            summary[name] = _round(below + (above - below) * weight)
    return summary


def _bucket(delay_ms: float) -> int:
    return max(0, bisect_right(HISTOGRAM_EDGES_MS, delay_ms) - 1)


@dataclass(frozen=True)
class Snapshot:
    """The board at one moment: its first MAX_ROWS rows as wire JSON (straight from Redis, never
    re-encoded), how many clients there are, and the summary and histogram of everyone.

    An answer's figures include the report it answers: `figures_for` patches the shared
    figures with the sender's fresh delay in place of the one the snapshot holds for it. The
    snapshot keeps everyone's delay up to EXACT_FIGURES_UP_TO reporting clients, so the patch is
    exact; above that it keeps a few values around each figure's rank (`windows`), and when the
    sender is not among them it assumes the snapshot holds the delay the sender's worker last
    wrote to Redis (true unless that write was under 0.5 s old): one rank off at worst, among
    more than a thousand clients. An answer's patch moves at most 1000 values in memory (about
    12 µs at 1000 clients) and a few dozen above that, whatever the number of clients."""

    shown_json: list[str]
    shown_at: dict[str, int]
    total: int
    summary: BoardSummary
    histogram: Histogram
    windows: tuple[RankWindow, ...] = ()
    # True when `windows` is one window of everyone's delay (up to EXACT_FIGURES_UP_TO of them).
    holds_everyone: bool = True

    def answer_for(self, own: ClientDelays) -> str:
        """The `delays` frame answering `own`'s report."""
        return delays_frame(self.rows_json_for(own), self.total_with(own.id), self.encoded_figures_for(own))

    def welcome_for(self, own: ClientDelays) -> str:
        """The `welcome` frame for `own`, who just joined."""
        return welcome_frame(own.arrival(), self.rows_json_for(own), self.total_with(own.id))

    def rows_json_for(self, own: ClientDelays) -> str:
        """The shown rows as a JSON array, with `own` (fresh) in place or in the last slot."""
        own_json = own.row_json()
        position = self.shown_at.get(own.id)
        if position is None:
            return rows_json([*self.shown_json[: MAX_ROWS - 1], own_json])
        return rows_json([*self.shown_json[:position], own_json, *self.shown_json[position + 1 :]])

    def total_with(self, own_id: str) -> int:
        """Everyone, counting a client that joined after this snapshot was read: one that is not
        shown while everyone counted is shown must be new (past 200 it is counted already)."""
        is_new = own_id not in self.shown_at and self.total == len(self.shown_at)
        return self.total + is_new

    @cached_property
    def encoded_figures(self) -> EncodedFigures:
        """Everyone's figures as this snapshot read them, encoded once for every answer."""
        return encode_figures(self.summary, self.histogram)

    def held_for(self, own: ClientDelays) -> float | None:
        """The delay this snapshot counts for `own` (None: not counted)."""
        for window in self.windows:
            if own.id in window.ids:
                return window.ids[own.id]
        return None if self.holds_everyone else own.saved_ms

    def figures_for(self, own: ClientDelays) -> tuple[BoardSummary, Histogram]:
        """The summary and histogram of everyone with `own`'s current delay in them."""
        new = own.board_ms()
        old = self.held_for(own)
        if new is None or new == old or not self.windows:
            return self.summary, self.histogram
        count = self.summary["count"]
        windows = [window.patched(count, own.id, old, new) for window in self.windows]
        count += old is None
        counts = list(self.histogram["counts"])
        if old is not None and counts[_bucket(old)] > 0:
            counts[_bucket(old)] -= 1
        counts[_bucket(new)] += 1
        return _summary_of(windows, count), {"edges_ms": HISTOGRAM_EDGES_MS, "counts": counts}

    def encoded_figures_for(self, own: ClientDelays) -> EncodedFigures:
        summary, histogram = self.figures_for(own)
        if summary is self.summary:
            return self.encoded_figures
        return encode_figures(summary, histogram)

    def public_json(self) -> dict:
        """What GET /api/public/ and the page's first render show: rows as objects."""
        return {
            "clients": [decode_row(json.loads(row)) for row in self.shown_json],
            "total": self.total,
            "summary": self.summary,
            "histogram": self.histogram,
        }


EMPTY_SNAPSHOT = Snapshot(
    shown_json=[],
    shown_at={},
    total=0,
    summary={"count": 0, "min_ms": None, "median_ms": None, "p95_ms": None, "max_ms": None},
    histogram={"edges_ms": HISTOGRAM_EDGES_MS, "counts": [0] * len(HISTOGRAM_EDGES_MS)},
    windows=(RankWindow(start=0, values=(), ids={}),),
)


# ---------------------------------------------------------------- joins, leaves, renames


class BoardEvents:
    """Joins, leaves and renames of one worker since its last broadcast, coalesced.

    A client that joins and leaves within one tick is never announced; a rename of a client
    still waiting to be announced just changes the name it is announced with.
    """

    def __init__(self) -> None:
        self.joined: dict[str, Arrival] = {}
        self.renamed: dict[str, str] = {}
        self.left: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.joined or self.renamed or self.left)

    def join(self, arrival: Arrival) -> None:
        self.joined[arrival["id"]] = arrival

    def rename(self, client_id: str, name: str) -> None:
        if client_id in self.joined:
            self.joined[client_id] = {**self.joined[client_id], "name": name}
        else:
            self.renamed[client_id] = name

    def leave(self, client_id: str) -> None:
        self.renamed.pop(client_id, None)
        if self.joined.pop(client_id, None) is None:
            self.left.add(client_id)

    def frames(self) -> list[str]:
        """The broadcasts, in an order that never shows a rename or leave before its join."""
        frames = [connect_frame(list(self.joined.values()))] if self.joined else []
        frames += [rename_frame(client_id, name) for client_id, name in self.renamed.items()]
        if self.left:
            frames.append(disconnect_frame(sorted(self.left)))
        return frames


# ---------------------------------------------------------------- Redis
#
# Four keys, each answering one question without reading the whole board:
#   board:live    ids scored by expiry (as in LiveSet)   - who is still refreshed (sweeps)
#   board:order   sorted set of ids by connected_at      - the first 200, in order: ZRANGE 0 199
#   board:rows    hash of id -> row as wire JSON (array) - those 200 rows, spliced as they are
#   board:delays  sorted set of ids by current delay     - count, min, max and percentiles by
#                                                          rank, histogram by ZCOUNT: O(log N)
# So a snapshot costs O(200 + log N) whatever the number of clients.


def _keys() -> dict[str, str]:
    return {name: key("board", name) for name in ("live", "order", "rows", "delays")}


PERCENTILES = {"median_ms": 50, "p95_ms": 95}
# Up to this many reporting clients a snapshot reads everyone's delay (O(N), twice a second
# per worker), so each answer's figures are exact; above it, windows of ranks (O(log N)).
EXACT_FIGURES_UP_TO = 1000
# Ranks read on either side of each figure's: a patch shifts ranks by at most one each way.
WINDOW_MARGIN = 3


def _rank_bounds(count: int, p: float) -> tuple[int, int, float]:
    """The two ranks to read for the p-th percentile, and the weight of the upper one
    (the same definition as shared/stats.percentile)."""
    rank = (count - 1) * p / 100.0
    low = int(rank)
    return low, min(low + 1, count - 1), rank - low


def _window_spans(count: int) -> list[tuple[int, int]]:
    """The rank ranges (inclusive) a snapshot reads from board:delays."""
    if count <= EXACT_FIGURES_UP_TO:
        return [(0, -1)]
    spans = [(0, WINDOW_MARGIN), (count - 1 - WINDOW_MARGIN, count - 1)]
    for p in PERCENTILES.values():
        low, high, _ = _rank_bounds(count, p)
        spans.append((max(0, low - WINDOW_MARGIN), min(count - 1, high + WINDOW_MARGIN)))
    return spans


def _queue_overview(pipe, keys: dict[str, str]) -> None:
    pipe.zrange(keys["order"], 0, MAX_ROWS - 1)
    pipe.zcard(keys["order"])
    pipe.zcard(keys["delays"])
    upper_edges = [*(f"({edge}" for edge in HISTOGRAM_EDGES_MS[1:]), "+inf"]
    for low, high in zip(HISTOGRAM_EDGES_MS, upper_edges, strict=True):
        pipe.zcount(keys["delays"], low, high)


def _queue_details(pipe, keys: dict[str, str], overview: list) -> None:
    ids, count = overview[0], overview[2]
    # HMGET needs at least one field; no client has the empty id, so it reads back as None.
    pipe.hmget(keys["rows"], ids or [""])
    for low, high in _window_spans(count):
        pipe.zrange(keys["delays"], low, high, withscores=True)


def _build_snapshot(overview: list, details: list) -> Snapshot:
    ids, total, count, *bucket_counts = overview
    raw_rows, *ranked = details
    # A row removed between the two reads comes back as None: it is simply not shown.
    shown = [(i, raw) for i, raw in zip(ids, raw_rows, strict=False) if raw is not None]
    spans = _window_spans(count)
    holds_everyone = count <= EXACT_FIGURES_UP_TO
    if holds_everyone:
        # Read whole: count what was read, so figures and windows agree however many left.
        count = len(ranked[0])
    # Clients can leave between the reads: a rank read past the end comes back missing, and
    # that figure is simply left out until the next snapshot.
    windows = tuple(
        RankWindow(start=low, values=tuple(score for _, score in pairs), ids=dict(pairs))
        for (low, _), pairs in zip(spans, ranked, strict=True)
    )
    return Snapshot(
        shown_json=[raw for _, raw in shown],
        shown_at={client_id: position for position, (client_id, _) in enumerate(shown)},
        total=total,
        summary=_summary_of([(w.start, list(w.values)) for w in windows], count),
        histogram={"edges_ms": HISTOGRAM_EDGES_MS, "counts": bucket_counts},
        windows=windows,
        holds_everyone=holds_everyone,
    )


class BoardStore:
    """The board's Redis keys, for the asyncio client of a Daphne worker."""

    def __init__(self, client: redis.asyncio.Redis, ttl_seconds: float):
        self._redis = client
        self._keys = _keys()
        self.ttl = ttl_seconds

    async def save(self, clients: Iterable[ClientDelays]) -> None:
        """Write the clients' rows and keep them alive, in one transaction: a client is in all
        four keys or in none, whatever fails midway, so every row written can be swept.
        A worker saves a client when it joins, when its row changes (the tick) and at every
        heartbeat (which also rebuilds the board after a Redis restart)."""
        clients = list(clients)
        if not clients:
            return
        # What is written, taken before the await: a report recorded meanwhile is not in Redis
        # yet (the next tick writes it), and `saved_ms` must say what Redis holds.
        written = [(c, c.board_ms()) for c in clients]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys["rows"], mapping={c.id: c.row_json() for c in clients})
            delays = {c.id: delay for c, delay in written if delay is not None}
            if delays:
                pipe.zadd(self._keys["delays"], delays)
            pipe.zadd(self._keys["order"], {c.id: c.connected_at for c in clients})
            expires = time.time() + self.ttl
            pipe.zadd(self._keys["live"], {c.id: expires for c in clients})
            await pipe.execute()
        for c, delay in written:
            c.saved_ms = delay

    async def remove(self, client_id: str) -> bool:
        """True when this call took the client off the board (so it alone announces the leave)."""
        return bool(await self._forget([client_id]))

    async def sweep(self) -> list[str]:
        """Drop clients whose worker stopped refreshing them; returns the ones this call dropped
        (several workers sweep at once; each expiry is reported by exactly one)."""
        stale = await self._redis.zrangebyscore(self._keys["live"], "-inf", f"({time.time()}")
        return await self._forget(stale)

    async def _forget(self, ids: list[str]) -> list[str]:
        """Remove clients from all four keys at once; returns those this call took off `live`."""
        if not ids:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for client_id in ids:
                pipe.zrem(self._keys["live"], client_id)
            pipe.hdel(self._keys["rows"], *ids)
            pipe.zrem(self._keys["order"], *ids)
            pipe.zrem(self._keys["delays"], *ids)
            removed = await pipe.execute()
        return [client_id for client_id, gone in zip(ids, removed, strict=False) if gone]

    async def snapshot(self) -> Snapshot:
        async with self._redis.pipeline(transaction=False) as pipe:
            _queue_overview(pipe, self._keys)
            overview = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:
            _queue_details(pipe, self._keys, overview)
            return _build_snapshot(overview, await pipe.execute())


def read_snapshot(client: redis.Redis) -> Snapshot:
    """The board for Gunicorn's views (blocking client), read exactly as the workers read it."""
    keys = _keys()
    with client.pipeline(transaction=False) as pipe:
        _queue_overview(pipe, keys)
        overview = pipe.execute()
    with client.pipeline(transaction=False) as pipe:
        _queue_details(pipe, keys, overview)
        return _build_snapshot(overview, pipe.execute())

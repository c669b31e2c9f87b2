"""The public board's rules (shared/board.py): rows, answers, coalesced events, and the Redis
store that answers a snapshot without reading the whole board."""

import asyncio
import json
import random

import pytest
import redis
import redis.asyncio

from shared.board import (
    CLIENT_WINDOW,
    HISTOGRAM_EDGES_MS,
    MAX_ROWS,
    BoardEvents,
    BoardStore,
    ClientDelays,
    read_snapshot,
)
from shared.protocol import ROW_COLUMNS, decode_row
from shared.stats import SlidingWindow, percentile
from tests.helpers import rows_decoded


def client(n: int, delay: float | None = None) -> ClientDelays:
    delays = ClientDelays(id=f"c{n:04}", name=f"n{n}", connected_at=1000 + n)
    if delay is not None:
        delays.record(delay)
    return delays


@pytest.fixture
async def stores(redis_server):
    """Two stores on one Redis, as two workers would have."""
    clients = [redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True) for _ in range(2)]
    yield [BoardStore(c, ttl_seconds=0.3) for c in clients]
    await clients[0].flushdb()
    for c in clients:
        await c.aclose()


async def board_of(store: BoardStore, clients: list[ClientDelays]):
    await store.save(clients)
    return await store.snapshot()


def frame(text: str) -> dict:
    """A frame as a page reads it: rows as objects."""
    return rows_decoded(json.loads(text))


def test_a_clients_row_has_its_latest_delay_median_and_jitter():
    """Figures cover the client's recent reports; none before the first report."""
    delays = client(1)
    assert (delays.row()["delay_ms"], delays.row()["median_ms"], delays.row()["jitter_ms"]) == (None, None, None)
    for value in (10.0, 30.0, 20.0):
        delays.record(value)
    row = delays.row()
    assert (row["delay_ms"], row["median_ms"], row["jitter_ms"]) == (20.0, 20.0, 15.0)


def test_a_row_is_computed_once_per_change_and_never_served_stale():
    """Answers, ticks and heartbeats share one computed row; a report or rename renews it."""
    delays = client(1, 10.0)
    assert delays.row() is delays.row()
    assert delays.row_json() is delays.row_json()
    delays.record(30.0)
    assert decode_row(json.loads(delays.row_json()))["delay_ms"] == 30.0
    delays.rename("Ada")
    assert decode_row(json.loads(delays.row_json())) == {**delays.row(), "name": "Ada"}


def test_a_row_goes_on_the_wire_as_an_array_of_its_values_in_column_order():
    """Compact rows: the names once per frame ("columns"), each row just its values."""
    delays = client(7, 12.25)
    delays.record(13.0, 12.0)
    assert json.loads(delays.row_json()) == ["c0007", "n7", True, 13.0, 12.6, 0.8, 12.0, False, 1007]
    assert list(ROW_COLUMNS) == list(delays.row())


async def test_a_snapshot_lists_clients_oldest_connection_first(stores):
    """Order is by connected_at, whatever the order of saving."""
    snapshot = await board_of(stores[0], [client(3), client(1), client(2)])
    assert [decode_row(json.loads(row))["id"] for row in snapshot.shown_json] == ["c0001", "c0002", "c0003"]
    assert snapshot.total == 3


async def test_the_summary_and_histogram_match_the_stats_definitions_over_everyone(stores):
    """Read by rank from Redis, the figures equal shared/stats over all current delays."""
    rng = random.Random(7)
    everyone = [client(n, round(rng.uniform(0.2, 900), 1)) for n in range(257)] + [client(999)]
    snapshot = await board_of(stores[0], everyone)
    delays = sorted(c.row()["delay_ms"] for c in everyone if c.recent)
    assert snapshot.summary["count"] == 257
    assert (snapshot.summary["min_ms"], snapshot.summary["max_ms"]) == (delays[0], delays[-1])
    assert snapshot.summary["median_ms"] == pytest.approx(percentile(delays, 50), abs=0.05)
    assert snapshot.summary["p95_ms"] == pytest.approx(percentile(delays, 95), abs=0.05)
    edges = snapshot.histogram["edges_ms"]
    expected = [sum(lo <= d < hi for d in delays) for lo, hi in zip(edges, [*edges[1:], float("inf")], strict=True)]
    assert snapshot.histogram["counts"] == expected


async def test_histogram_buckets_are_closed_below_and_the_last_is_open_ended(stores):
    """1.0 falls in [1, 2); 99999 in the last bucket."""
    snapshot = await board_of(stores[0], [client(1, 0.5), client(2, 1.0), client(3, 1.9), client(4, 59999)])
    assert snapshot.histogram["counts"][:3] == [1, 2, 0]
    assert snapshot.histogram["counts"][-1] == 1


async def test_an_answer_holds_at_most_200_rows_and_always_the_senders_own(stores):
    """A client beyond the first 200 takes the last slot; the total still counts everyone."""
    everyone = [client(n, float(n)) for n in range(500)]
    snapshot = await board_of(stores[0], everyone)
    late = everyone[450]
    late.record(7.0)
    answer = frame(snapshot.answer_for(late))
    assert len(answer["clients"]) == MAX_ROWS
    assert answer["clients"][-1] == late.row()
    assert answer["total"] == 500
    assert answer["summary"]["count"] == 500


async def test_an_answer_shows_the_senders_fresh_row_in_its_place(stores):
    """A shown sender's row is replaced by its newest figures, not the snapshot's."""
    everyone = [client(n, 5.0) for n in range(3)]
    snapshot = await board_of(stores[0], everyone)
    everyone[1].record(99.0)
    answer = frame(snapshot.answer_for(everyone[1]))
    assert [row["id"] for row in answer["clients"]] == ["c0000", "c0001", "c0002"]
    assert answer["clients"][1]["delay_ms"] == 99.0


async def test_a_welcome_counts_a_client_that_joined_after_the_snapshot(stores):
    """The newcomer is listed and counted even when the snapshot predates it."""
    snapshot = await board_of(stores[0], [client(1)])
    welcome = frame(snapshot.welcome_for(client(2)))
    assert welcome["you"] == {"id": "c0002", "name": "n2", "guest": True}
    assert [row["id"] for row in welcome["clients"]] == ["c0001", "c0002"]
    assert welcome["total"] == 2


async def test_gunicorn_reads_the_same_snapshot_as_the_workers(stores, redis_server):
    """The blocking reader used by the page and the API agrees with the asyncio one."""
    worker_view = await board_of(stores[0], [client(n, n * 1.5) for n in range(5)])
    page_view = read_snapshot(redis.Redis.from_url(redis_server.url, decode_responses=True))
    assert page_view == worker_view
    assert [row["id"] for row in page_view.public_json()["clients"]] == [f"c{n:04}" for n in range(5)]


def test_events_of_one_tick_coalesce_into_one_connect_renames_and_one_disconnect():
    """Joins share a frame, a rename of a pending join changes the join, a join+leave vanishes."""
    events = BoardEvents()
    events.join(client(1).arrival())
    events.join(client(2).arrival())
    events.rename("c0001", "Ada")
    events.rename("c0009", "Bob")
    events.join(client(3).arrival())
    events.leave("c0003")
    events.leave("c0008")
    frames = [json.loads(frame) for frame in events.frames()]
    assert [frame["type"] for frame in frames] == ["connect", "rename", "disconnect"]
    assert [(c["id"], c["name"]) for c in frames[0]["clients"]] == [("c0001", "Ada"), ("c0002", "n2")]
    assert frames[1] == {"type": "rename", "id": "c0009", "name": "Bob", "guest": True}
    assert frames[2]["ids"] == ["c0008"]


def test_no_events_make_no_frames():
    """An idle tick broadcasts nothing."""
    assert not BoardEvents()
    assert BoardEvents().frames() == []


async def test_an_expired_client_is_swept_by_exactly_one_worker_and_leaves_every_key(stores):
    """Two workers sweep at once; the ghost is reported once and is gone from the board."""
    first, second = stores
    await first.save([client(1, 3.0)])
    await asyncio.sleep(0.4)
    swept = await asyncio.gather(first.sweep(), second.sweep())
    assert sorted(swept, key=len) == [[], ["c0001"]]
    snapshot = await first.snapshot()
    assert (snapshot.total, snapshot.summary["count"], snapshot.shown_json) == (0, 0, [])


async def test_a_save_remembers_the_delay_it_wrote_not_one_recorded_while_it_waited(stores):
    """`saved_ms` is what Redis holds for the client (answers past 1000 clients patch it out of
    the figures): a report that comes while the save waits on Redis goes in with the next save."""
    store, own = stores[0], client(1, 10.0)
    save = asyncio.ensure_future(store.save([own]))
    await asyncio.sleep(0)  # the save's commands are queued; it waits on Redis
    own.record(50.0)
    await save
    assert await store._redis.zscore(store._keys["delays"], own.id) == 10.0
    assert own.saved_ms == 10.0
    await store.save([own])
    assert own.saved_ms == own.board_ms() == 50.0


async def test_only_the_first_remover_is_told_it_removed_the_client(stores):
    """A leave is announced once even if a sweep races the disconnect."""
    first, second = stores
    await first.save([client(1)])
    assert await first.remove("c0001") is True
    assert await second.remove("c0001") is False


def brute_figures(delays: list[float]) -> dict:
    """What the summary and histogram of these delays are, by shared/stats' definitions."""
    ordered = sorted(delays)
    edges = HISTOGRAM_EDGES_MS
    uppers = [*edges[1:], float("inf")]
    return {
        "count": len(ordered),
        "min_ms": ordered[0],
        "median_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "max_ms": ordered[-1],
        "counts": [sum(lo <= d < hi for d in ordered) for lo, hi in zip(edges, uppers, strict=True)],
    }


def answer_figures(snapshot, own: ClientDelays) -> dict:
    answer = frame(snapshot.answer_for(own))
    return {**answer["summary"], "counts": answer["histogram"]["counts"]}


async def test_an_answer_counts_the_report_it_answers_alone_on_the_board(stores):
    """Alone: min = median = p95 = max = the report, whatever the snapshot held before."""
    me = client(1)
    snapshot = await board_of(stores[0], [me])
    for value in (7.5, 3.25, 11.0):
        me.record(value)
        figures = answer_figures(snapshot, me)
        shown = me.row()["delay_ms"]
        assert figures["count"] == 1
        assert figures["min_ms"] == figures["median_ms"] == figures["p95_ms"] == figures["max_ms"] == shown
        assert sum(figures["counts"]) == 1


@pytest.mark.parametrize("exact_up_to", [1000, 5], ids=["everyone_read", "rank_windows"])
async def test_an_answer_counts_the_senders_new_delay_in_place_of_its_old(stores, monkeypatch, exact_up_to):
    """Whatever the sender's old and new place in the order (fastest, slowest, the median,
    new on the board), the answer's figures equal those of the board with the new delay."""
    monkeypatch.setattr("shared.board.EXACT_FIGURES_UP_TO", exact_up_to)
    rng = random.Random(11)
    values = rng.sample(range(1, 9000), 80)
    everyone = [client(n, v / 10) for n, v in enumerate(values)] + [client(80)]
    snapshot = await board_of(stores[0], everyone)
    assert snapshot.holds_everyone is (exact_up_to == 1000)
    for sender, new in [(0, 0.05), (1, 950.0), (2, 3.3), (80, 42.4), (3, values[3] / 10), (4, 1e4)]:
        own = everyone[sender]
        before = own.row()["delay_ms"]
        own.record(new)
        board = [c.row()["delay_ms"] for c in everyone if c.recent]
        assert answer_figures(snapshot, own) == brute_figures(board), (sender, new)
        own.recent = SlidingWindow(CLIENT_WINDOW)  # as it was: one report at most
        if before is not None:
            own.record(before)


async def test_an_answer_is_exact_with_equal_delays_on_the_board(stores):
    """Ties: the sender's old value equals others'; the patch still removes exactly one."""
    everyone = [client(n, 5.0) for n in range(6)] + [client(6, 9.0)]
    snapshot = await board_of(stores[0], everyone)
    everyone[2].record(1.0)
    assert answer_figures(snapshot, everyone[2]) == brute_figures([5.0] * 5 + [1.0, 9.0])


def test_rank_windows_patch_like_a_sort_at_every_place():
    """RankWindow.patched, on stretches of a sorted board, gives the stretch of the patched board."""
    from shared.board import RankWindow

    rng = random.Random(3)
    for _ in range(300):
        board = {f"c{i}": float(rng.randrange(0, 40)) for i in range(rng.randrange(1, 30))}
        order = sorted(board.items(), key=lambda item: (item[1], item[0]))
        own, old = rng.choice([*order, ("new", None)])
        new = float(rng.randrange(0, 40)) + 0.5
        after = sorted([v for i, v in order if i != own] + [new])
        low = rng.randrange(0, len(order))
        high = rng.randrange(low, len(order))
        part = order[low : high + 1]
        window = RankWindow(start=low, values=tuple(v for _, v in part), ids=dict(part))
        start, patched = window.patched(len(order), own, old, new)
        assert patched == after[start : start + len(patched)], (order, own, new, low, high)
        assert len(patched) >= len(part) - 1


def test_a_warm_up_report_is_shown_until_the_first_counted_one_and_counted_nowhere():
    """The row's current delay is the warm-up's; median, jitter, claim and the board's value wait."""
    delays = client(1)
    delays.record(80.0, 3.0, warmup=True)
    row = delays.row()
    assert (row["delay_ms"], row["median_ms"], row["claimed_ms"], delays.board_ms()) == (80.0, None, None, None)
    delays.record(2.0, 2.1)
    row = delays.row()
    assert (row["delay_ms"], row["median_ms"], row["claimed_ms"], delays.board_ms()) == (2.0, 2.0, 2.1, 2.0)


def test_a_row_keeps_the_claim_beside_the_observed_delay_and_flags_a_wide_gap():
    """delay_ms, median and jitter are the server's timings; claimed_ms the latest claim;
    suspect compares the medians of both over the client's window."""
    delays = client(1)
    for observed, claimed in [(20.0, 19.0), (22.0, 0.01), (21.0, 20.5)]:
        delays.record(observed, claimed)
    row = delays.row()
    assert (row["delay_ms"], row["median_ms"], row["claimed_ms"], row["suspect"]) == (21.0, 21.0, 20.5, False)
    for _ in range(3):
        delays.record(20.0, 0.01)
    assert delays.row()["suspect"] is True


async def test_every_frame_that_names_a_client_says_whether_it_is_a_guest(stores):
    """Rows, arrivals and the welcome carry `guest`: false only for a signed-in user's row."""
    member = ClientDelays(id="c0100", name="alice", connected_at=1100, guest=False)
    visitor = client(101)
    snapshot = await board_of(stores[0], [member, visitor])
    rows = {row["id"]: row["guest"] for row in frame(snapshot.answer_for(visitor))["clients"]}
    assert rows == {"c0100": False, "c0101": True}
    assert frame(snapshot.welcome_for(member))["you"]["guest"] is False
    assert snapshot.public_json()["clients"][0]["guest"] is False
    events = BoardEvents()
    events.join(member.arrival())
    events.join(visitor.arrival())
    (connect,) = (json.loads(frame) for frame in events.frames())
    assert [(c["name"], c["guest"]) for c in connect["clients"]] == [("alice", False), ("n101", True)]


async def test_past_1000_clients_a_snapshot_reads_rank_windows_and_answers_stay_exact(stores):
    """1200 clients: windows around each figure's rank instead of everyone, same figures; a
    sender's new delay is counted in place of the one its worker last wrote."""
    rng = random.Random(5)
    values = rng.sample(range(1, 50000), 1200)
    everyone = [client(n, v / 10) for n, v in enumerate(values)]
    snapshot = await board_of(stores[0], everyone)
    assert not snapshot.holds_everyone
    assert sum(len(w.values) for w in snapshot.windows) < 60
    board = [c.row()["delay_ms"] for c in everyone]
    assert {**snapshot.summary, "counts": snapshot.histogram["counts"]} == brute_figures(board)
    sender = sorted(everyone, key=lambda c: c.row()["delay_ms"])[600]  # the median's neighbour
    sender.record(0.2)
    board = [c.row()["delay_ms"] for c in everyone]
    assert answer_figures(snapshot, sender) == brute_figures(board)


def test_a_client_keeps_its_last_client_window_reports_and_claims():
    delays = ClientDelays(id="c1", name="Ada", connected_at=0.0)
    for n in range(CLIENT_WINDOW + 5):
        delays.record(float(n), claimed_ms=float(n) + 0.5)
    assert delays.recent.values == [float(n) for n in range(5, CLIENT_WINDOW + 5)]
    assert delays.claims.values == [n + 0.5 for n in delays.recent.values]
    assert delays.row()["delay_ms"] == float(CLIENT_WINDOW + 4)

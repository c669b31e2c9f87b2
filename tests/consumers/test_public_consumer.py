"""`/ws/public/` through the whole ASGI app, with a real redis-server behind the board."""

import asyncio
import itertools
import json

import pytest

from shared.board import BoardStore, ClientDelays
from shared.redis import async_redis, key
from tests.consumers.conftest import websocket

pytestmark = pytest.mark.django_db(transaction=True)


async def join():
    client = websocket("/ws/public/")
    connected, _ = await client.connect()
    assert connected
    welcome = await client.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    return client, welcome


async def next_of(client, kind: str, timeout: float = 5.0) -> dict:
    """The next frame of this type, skipping others (broadcasts interleave with answers)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await client.receive_json_from(timeout=timeout)
            if frame["type"] == kind:
                return frame


SEQS = itertools.count(1)


async def pong_for(client) -> dict:
    """Ping and return the pong (on /ws/public/ it carries the token a report needs)."""
    seq = next(SEQS)
    await client.send_json_to({"type": "ping", "seq": seq})
    async with asyncio.timeout(5):
        while (pong := await next_of(client, "pong"))["seq"] != seq:
            pass
    return pong


async def report(client, claimed_ms: float, pause: float = 0.0) -> dict:
    """Ping, wait `pause` seconds after the pong, report `claimed_ms` on it; the `delays` answer."""
    pong = await pong_for(client)
    await asyncio.sleep(pause)
    await client.send_json_to({"type": "delay", "delay_ms": claimed_ms, "seq": pong["seq"], "token": pong["token"]})
    return await next_of(client, "delays")


def own_row(answer: dict, welcome: dict) -> dict:
    return next(row for row in answer["clients"] if row["id"] == welcome["you"]["id"])


async def announced(watcher, client_id: str) -> None:
    """Wait for the connect broadcast naming this client (later renames go out on their own)."""
    async with asyncio.timeout(5):
        while client_id not in [c["id"] for c in (await next_of(watcher, "connect"))["clients"]]:
            pass


async def test_the_welcome_names_the_client_and_lists_it(live_redis):
    """A new client learns its own id and name and finds its own row on the board."""
    client, welcome = await join()
    you = welcome["you"]
    assert you["id"]
    assert you["name"].startswith("guest-")
    assert [row["id"] for row in welcome["clients"]] == [you["id"]]
    assert welcome["total"] == 1
    await client.disconnect()


async def test_a_second_client_sees_the_first_and_the_first_hears_it_join(live_redis):
    """Within a second of a join, the earlier client gets a connect broadcast."""
    first, first_welcome = await join()
    second, second_welcome = await join()
    assert first_welcome["you"]["id"] in [row["id"] for row in second_welcome["clients"]]
    assert second_welcome["total"] == 2
    connect = await next_of(first, "connect", timeout=1.5)
    # Joins of one tick share one frame, which may hold the first client's own join too.
    assert second_welcome["you"]["id"] in [c["id"] for c in connect["clients"]]
    await first.disconnect()
    await second.disconnect()


async def test_a_delay_report_is_answered_with_the_board_including_the_own_fresh_row(live_redis):
    """The `delays` answer carries the reporter's new figures (the server's timing of each report,
    here at least the pause between pong and report; the claim beside it), total and summary."""
    client, welcome = await join()
    for delay in (10, 30, 20):
        answer = await report(client, delay, pause=delay / 1000)
    own = own_row(answer, welcome)
    assert 20 <= own["delay_ms"] < 20 + 100
    assert 20 <= own["median_ms"] <= own["delay_ms"] + 10
    assert own["jitter_ms"] >= 9
    assert (own["claimed_ms"], own["suspect"]) == (20, False)
    assert answer["total"] == 1
    assert sum(answer["histogram"]["counts"]) == answer["summary"]["count"]
    await client.disconnect()


async def test_each_answer_counts_the_report_it_answers(live_redis):
    """Alone on the board, every answer's summary and histogram are that very report: never
    the one before (the snapshot is up to 0.5 s old; the sender's own delay is patched in)."""
    client, welcome = await join()
    for delay in (7.5, 3.25, 11.0):
        answer = await report(client, delay, pause=delay / 1000)
        own = own_row(answer, welcome)
        summary = answer["summary"]
        assert own["claimed_ms"] == round(delay, 1)
        assert own["delay_ms"] >= delay  # the server's own timing, from pong to report
        assert summary["count"] == 1
        assert summary["min_ms"] == summary["median_ms"] == summary["p95_ms"] == summary["max_ms"] == own["delay_ms"]
        edges, counts = answer["histogram"]["edges_ms"], answer["histogram"]["counts"]
        uppers = [*edges[1:], 1e9]
        assert counts == [int(low <= own["delay_ms"] < high) for low, high in zip(edges, uppers, strict=True)]
    await client.disconnect()


async def test_others_see_a_report_in_their_next_answer(live_redis):
    """A report reaches Redis within a tick and the next snapshot; others see it in theirs."""
    first, _ = await join()
    second, second_welcome = await join()
    sent = own_row(await report(second, 42.5, pause=0.05), second_welcome)
    for _ in range(30):
        answer = await report(first, 1)
        rows = {row["id"]: row for row in answer["clients"]}
        if rows[second_welcome["you"]["id"]]["claimed_ms"] == 42.5:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the other client's report never showed")
    assert rows[second_welcome["you"]["id"]] == sent
    assert answer["summary"]["max_ms"] == sent["delay_ms"]
    await first.disconnect()
    await second.disconnect()


async def test_a_rename_is_broadcast_and_markup_stays_text(live_redis):
    """Names are data: a <script> name is broadcast as the very same string."""
    first, _ = await join()
    second, second_welcome = await join()
    await next_of(first, "connect")  # else the new name rides on the join announcement
    await second.send_json_to({"type": "rename", "name": " <script>alert(1)</script> "})
    rename = await next_of(first, "rename")
    assert rename == {"type": "rename", "id": second_welcome["you"]["id"], "name": "<script>alert(1)</script>"}
    await first.disconnect()
    await second.disconnect()


async def test_a_rename_before_the_join_is_announced_rides_on_the_join(live_redis):
    """Coalescing: within one tick a join and a rename go out as one connect with the new name."""
    first, _ = await join()
    second, second_welcome = await join()
    await second.send_json_to({"type": "rename", "name": "Ada"})
    connect = await next_of(first, "connect")
    names = {c["id"]: c["name"] for c in connect["clients"]}
    assert names[second_welcome["you"]["id"]] in {"Ada", second_welcome["you"]["name"]}
    if names[second_welcome["you"]["id"]] != "Ada":  # the join went out in an earlier tick
        assert (await next_of(first, "rename"))["name"] == "Ada"
    await first.disconnect()
    await second.disconnect()


async def test_a_leave_is_broadcast_to_the_others(live_redis):
    """Within a second of a close, the others get a disconnect with its id."""
    first, _ = await join()
    second, second_welcome = await join()
    await next_of(first, "connect")
    await second.disconnect()
    leave = await next_of(first, "disconnect", timeout=1.5)
    assert leave["ids"] == [second_welcome["you"]["id"]]
    await first.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "delay", "delay_ms": -1},
        {"type": "delay", "delay_ms": 60001},
        {"type": "delay"},
        {"type": "delay", "delay_ms": 5},
        {"type": "delay", "delay_ms": 5, "seq": 1},
        {"type": "delay", "delay_ms": 5, "seq": 1, "token": 7},
        {"type": "delay", "delay_ms": 5, "seq": 999999, "token": "never-sent"},
        {"type": "rename", "name": ""},
        {"type": "rename", "name": "x" * 33},
    ],
    ids=[
        "negative",
        "over_a_minute",
        "missing",
        "no_seq",
        "no_token",
        "token_not_a_string",
        "unknown_pong",
        "empty_name",
        "long_name",
    ],
)
async def test_a_bad_report_or_rename_is_refused_and_changes_nothing(live_redis, frame):
    """bad_message, the socket stays, and the board is as before (no ghost row, no new name)."""
    client, welcome = await join()
    await client.send_json_to(frame)
    assert (await next_of(client, "error"))["code"] == "bad_message"
    answer = await report(client, 5)
    assert answer["total"] == 1
    assert answer["summary"]["count"] == 1
    assert answer["clients"][0]["name"] == welcome["you"]["name"]
    await client.disconnect()


async def test_a_client_whose_worker_died_expires_and_its_leave_is_announced(live_redis):
    """A row nobody refreshes (its worker was killed) is swept after the TTL and announced."""
    store = BoardStore(async_redis(), ttl_seconds=0.5)
    ghost = ClientDelays(id="ghost", name="ghost", connected_at=1)
    await store.save([ghost])
    client, welcome = await join()
    assert welcome["total"] == 2
    leave = await next_of(client, "disconnect", timeout=5)
    assert leave["ids"] == ["ghost"]
    for _ in range(20):
        answer = await report(client, 5)
        if answer["total"] == 1:
            break
        await asyncio.sleep(0.1)
    assert answer["total"] == 1
    await client.disconnect()


async def test_pings_answer_and_a_client_joins_while_redis_is_down(live_redis):
    """With Redis stopped the socket still opens and pongs; the board heals when Redis returns."""
    live_redis.stop()
    try:
        client, welcome = await join()
        await client.send_json_to({"type": "ping", "seq": 3})
        assert (await next_of(client, "pong"))["seq"] == 3
    finally:
        live_redis.start()
    # Within a heartbeat the client is written back; its next answers show it from Redis.
    for _ in range(50):
        answer = await report(client, 5)
        if welcome["you"]["id"] in json.dumps(answer) and answer["summary"]["count"] == 1:
            break
        await asyncio.sleep(0.1)
    assert answer["summary"]["count"] == 1
    await client.disconnect()


async def test_a_consumer_that_crashes_still_takes_its_row_off_the_board(live_redis, monkeypatch):
    """A bug in a handler kills that socket only; its row leaves like any other (no ghost)."""
    import contextlib

    from ws.board import Board

    watcher, _ = await join()
    victim, victim_welcome = await join()
    victim_id = victim_welcome["you"]["id"]
    await announced(watcher, victim_id)

    def broken(self, client, delay_ms, claimed_ms):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Board, "record_delay", broken)
    pong = await pong_for(victim)
    await victim.send_json_to({"type": "delay", "delay_ms": 1, "seq": pong["seq"], "token": pong["token"]})
    async with asyncio.timeout(5):
        while True:
            frame = await next_of(watcher, "disconnect")
            if victim_id in frame["ids"]:
                break
    with contextlib.suppress(RuntimeError):
        await victim.wait()
    await watcher.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [('{"type":"rename","name":"\\ud800"}', "bad_message"), ("[" * 5000, "bad_json")],
    ids=["lone_surrogate_name", "deep_nesting"],
)
async def test_frames_that_could_crash_a_worker_are_refused_and_the_board_keeps_working(live_redis, frame, code):
    """A surrogate name would break every Redis write of the worker; deep nesting the parser."""
    watcher, _ = await join()
    client, client_welcome = await join()
    await announced(watcher, client_welcome["you"]["id"])
    await client.send_to(text_data=frame)
    assert (await next_of(client, "error"))["code"] == code
    await client.send_json_to({"type": "rename", "name": "fine"})
    assert (await next_of(watcher, "rename"))["name"] == "fine"
    await client.disconnect()
    await watcher.disconnect()


async def test_a_report_is_refused_unless_it_answers_a_pong_this_socket_has_not_reported(live_redis):
    """A wrong token, a reused pong, another socket's pong: bad_message, and the board keeps
    only the one good report."""
    client, welcome = await join()
    other, _ = await join()
    pong = await pong_for(client)
    foreign = await pong_for(other)
    bad = [
        {"seq": pong["seq"], "token": pong["token"] + "x"},
        {"seq": foreign["seq"], "token": foreign["token"]},
    ]
    for fields in bad:
        await client.send_json_to({"type": "delay", "delay_ms": 5, **fields})
        assert "no pong with seq" in (await next_of(client, "error"))["detail"]
    good = {"type": "delay", "delay_ms": 5, "seq": pong["seq"], "token": pong["token"]}
    await client.send_json_to(good)
    answer = await next_of(client, "delays")
    assert own_row(answer, welcome)["claimed_ms"] == 5
    await client.send_json_to(good)  # the same pong twice
    assert (await next_of(client, "error"))["code"] == "bad_message"
    assert own_row(await report(client, 6), welcome)["claimed_ms"] == 6
    await client.disconnect()
    await other.disconnect()


async def test_a_client_claiming_less_than_the_server_observed_shows_the_observed_delay_flagged(live_redis):
    """A client that sits 40 ms on each pong and claims 0.01 ms: the board says >= 40, suspect."""
    client, welcome = await join()
    for _ in range(3):
        answer = await report(client, 0.01, pause=0.04)
    own = own_row(answer, welcome)
    assert own["delay_ms"] >= 40
    assert answer["summary"]["min_ms"] >= 40
    assert (own["claimed_ms"], own["suspect"]) == (0.0, True)
    await client.disconnect()


class Sink:
    """Where a board client's frames go when the test drives the Board without a socket."""

    async def send(self, text_data=None, bytes_data=None, close=False):
        pass


async def test_a_client_leaving_during_a_heartbeat_is_not_written_back(live_redis):
    """The heartbeat saves in slices and takes the lock per slice: a leave slips in between
    slices and the later slice, filtered under the lock, must not resurrect the row."""
    from ws.board import SAVE_SLICE, Board

    board = Board.current()
    clients = [await board.join(Sink(), f"n{i}") for i in range(2 * SAVE_SLICE + 1)]
    last = clients[-1]  # in the third slice
    heartbeat = asyncio.create_task(board.heartbeat())
    await asyncio.sleep(0)  # the heartbeat holds the lock for its first slice
    assert board._write_lock.locked()
    await board.leave(last)
    await heartbeat
    snapshot = await board.store.snapshot()
    assert snapshot.total == len(clients) - 1
    assert await async_redis().hget(key("board", "rows"), last.delays.id) is None
    for client in clients[:-1]:
        await board.leave(client)

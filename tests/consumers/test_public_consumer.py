"""`/ws/public/` through the whole ASGI app, with a real redis-server behind the board."""

import asyncio
import json

import pytest
import redis
from django.test import override_settings

from shared.board import BoardStore, ClientDelays
from shared.protocol import ROW_COLUMNS
from shared.redis import async_redis, key
from tests.consumers.conftest import guest_session, sign_up, signed_in_cookie, websocket
from tests.helpers import next_of, ping, receive, until_awaited

pytestmark = pytest.mark.django_db(transaction=True)


async def join():
    client = websocket("/ws/public/")
    connected, _ = await client.connect()
    assert connected
    welcome = await receive(client)
    assert welcome["type"] == "welcome"
    return client, welcome


WARMED: set = set()


async def pong_for(client, warm: bool = True) -> dict:
    """Ping and return the pong (on /ws/public/ it carries the token a report needs). As a page
    does, the socket's first pong is taken as a warm-up and not reported, unless warm=False."""
    if warm and client not in WARMED:
        WARMED.add(client)
        await ping(client)
    return await ping(client)


async def report(client, claimed_ms: float, pause: float = 0.0, warm: bool = True) -> dict:
    """Ping, wait `pause` seconds after the pong, report `claimed_ms` on it; the `delays` answer."""
    pong = await pong_for(client, warm)
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


async def test_board_rows_go_as_arrays_named_once_by_the_frames_columns(live_redis):
    """Compact rows on the wire: `columns` once per frame, each row its values in that order."""
    client = websocket("/ws/public/")
    assert (await client.connect())[0]
    welcome = await client.receive_json_from(timeout=5)
    assert welcome["columns"] == list(ROW_COLUMNS)
    (row,) = welcome["clients"]
    assert isinstance(row, list)
    assert row[:3] == [welcome["you"]["id"], welcome["you"]["name"], True]
    assert row[3:8] == [None, None, None, None, False]  # no report yet
    await client.disconnect()


async def test_a_second_client_sees_the_first_and_the_first_hears_it_join(live_redis):
    """Within a second of a join, the earlier client gets a connect broadcast."""
    first, first_welcome = await join()
    second, second_welcome = await join()
    assert first_welcome["you"]["id"] in [row["id"] for row in second_welcome["clients"]]
    assert second_welcome["total"] == 2
    # The first may hear of its own join first (held while it was being welcomed; ids dedupe it).
    await announced(first, second_welcome["you"]["id"])
    await first.disconnect()
    await second.disconnect()


async def test_a_storm_of_joins_reaches_the_others_coalesced(live_redis):
    """Joins are announced at most once per 0.25 s (the first at once): twenty joins at the same
    moment reach a viewer in fewer frames than joins, and none is missing."""
    viewer, _ = await join()
    joined = await asyncio.gather(*(join() for _ in range(20)))
    expected = {welcome["you"]["id"] for _, welcome in joined}
    heard: set[str] = set()
    frames = 0
    while not expected <= heard:
        heard |= {c["id"] for c in (await next_of(viewer, "connect", timeout=3))["clients"]}
        frames += 1
    assert frames < len(expected)
    for socket, _ in [(viewer, None), *joined]:
        await socket.disconnect()


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


async def test_a_report_on_the_sockets_first_pong_is_a_warm_up_shown_but_not_counted(live_redis):
    """The first round trip of a socket is shown as its current delay but counted in neither its
    median and jitter nor everyone's summary and histogram; the next report is."""
    client, welcome = await join()
    first = await report(client, 9.0, pause=0.03, warm=False)
    own = own_row(first, welcome)
    assert own["delay_ms"] >= 30
    assert (own["median_ms"], own["claimed_ms"]) == (None, None)
    assert first["summary"]["count"] == 0
    assert sum(first["histogram"]["counts"]) == 0
    second = await report(client, 2.0, warm=False)
    own = own_row(second, welcome)
    assert own["median_ms"] == own["delay_ms"] < 30
    assert second["summary"]["count"] == 1
    assert second["summary"]["median_ms"] == own["delay_ms"]
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
    await announced(first, second_welcome["you"]["id"])  # else the new name rides on the join announcement
    await second.send_json_to({"type": "rename", "name": " <script>alert(1)</script> "})
    rename = await next_of(first, "rename")
    expected = {"type": "rename", "id": second_welcome["you"]["id"], "name": "<script>alert(1)</script>", "guest": True}
    assert rename == expected
    await first.disconnect()
    await second.disconnect()


async def test_a_rename_before_the_join_is_announced_rides_on_the_join(live_redis):
    """Coalescing: within one tick a join and a rename go out as one connect with the new name."""
    first, _ = await join()
    second, second_welcome = await join()
    await second.send_json_to({"type": "rename", "name": "Ada"})
    names: dict = {}
    while second_welcome["you"]["id"] not in names:  # the first's own join may go out alone, in an earlier tick
        names = {c["id"]: c["name"] for c in (await next_of(first, "connect"))["clients"]}
    assert names[second_welcome["you"]["id"]] in {"Ada", second_welcome["you"]["name"]}
    if names[second_welcome["you"]["id"]] != "Ada":  # the join went out in an earlier tick
        assert (await next_of(first, "rename"))["name"] == "Ada"
    await first.disconnect()
    await second.disconnect()


async def test_a_leave_is_broadcast_to_the_others(live_redis):
    """Within a second of a close, the others get a disconnect with its id."""
    first, _ = await join()
    second, second_welcome = await join()
    await announced(first, second_welcome["you"]["id"])  # (a join and a leave within one wait go unannounced)
    await second.disconnect()
    leave = await next_of(first, "disconnect", timeout=1.5)
    assert leave["ids"] == [second_welcome["you"]["id"]]
    await first.disconnect()


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not_applied"])
async def test_a_leave_whose_removal_times_out_is_still_broadcast(live_redis, monkeypatch, applied):
    """Redis may apply the removal and time out before its reply (no sweep would ever find the
    row then), or not apply it: either way the others hear of the leave."""
    first, _ = await join()
    second, second_welcome = await join()
    await announced(first, second_welcome["you"]["id"])
    remove = BoardStore.remove

    async def timed_out(self, client_id):
        if applied:
            await remove(self, client_id)
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(BoardStore, "remove", timed_out)
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
        {"type": "rename", "name": "guest-fa47"},
        {"type": "rename", "name": "GUEST-fa47"},
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
        "a_generated_guest_name",
        "a_generated_guest_name_in_capitals",
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
    """A bug outside the handlers' safety net kills that socket only; its row leaves like any
    other (no ghost)."""
    import contextlib

    from shared.ratelimit import FloodGuard

    watcher, _ = await join()
    victim, victim_welcome = await join()
    victim_id = victim_welcome["you"]["id"]
    await announced(watcher, victim_id)

    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(FloodGuard, "judge", broken)
    await victim.send_json_to({"type": "delay", "delay_ms": 1})
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

    async def deliver(self, frame):
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


HUGE = "1" + "0" * 400


async def test_a_delay_past_any_float_is_bad_message_and_the_socket_keeps_answering(live_redis):
    """Issue 9's overflow on the board: bad_message, then a ping still gets its pong and a
    report its answer."""
    client, _ = await join()
    await client.send_to(text_data='{"type":"delay","delay_ms":' + HUGE + "}")
    error = await next_of(client, "error")
    assert error["code"] == "bad_message"
    await client.send_to(text_data='{"type":"ping","seq":1,"sent_at":' + HUGE + "}")
    assert (await next_of(client, "error"))["code"] == "bad_message"
    assert (await report(client, 3))["type"] == "delays"
    await client.disconnect()


async def test_a_handler_that_raises_gets_internal_error_and_the_board_goes_on(live_redis, monkeypatch, caplog):
    """The safety net on /ws/public/: the failed report is logged with its traceback and answered
    with internal_error; the same socket then pings, reports and renames as before."""
    from ws.board import Board

    real = Board.record_delay
    failures = []

    def fails_once(self, client, delay_ms, claimed_ms, warmup):
        if not failures:
            failures.append(delay_ms)
            raise RuntimeError("a bug in the board")
        return real(self, client, delay_ms, claimed_ms, warmup)

    monkeypatch.setattr(Board, "record_delay", fails_once)
    watcher, _ = await join()
    client, welcome = await join()
    await announced(watcher, welcome["you"]["id"])
    pong = await pong_for(client)
    await client.send_json_to({"type": "delay", "delay_ms": 1, "seq": pong["seq"], "token": pong["token"]})
    assert (await next_of(client, "error"))["code"] == "internal_error"
    assert any(r.exc_info and "a bug in the board" in str(r.exc_info[1]) for r in caplog.records)
    assert (await report(client, 2))["type"] == "delays"
    await client.send_json_to({"type": "rename", "name": "still here"})
    assert (await next_of(watcher, "rename"))["name"] == "still here"
    await client.disconnect()
    await watcher.disconnect()


# ---------------------------------------------------------------- names: rules and accounts

from asgiref.sync import sync_to_async  # noqa: E402 - grouped with the tests that use it
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

from shared.identity import SESSION_NAME_KEY, current_guest_name  # noqa: E402


async def join_with(cookie: str):
    client = websocket("/ws/public/", headers=[(b"cookie", cookie.encode())])
    connected, _ = await client.connect()
    assert connected
    welcome = await receive(client)
    assert welcome["type"] == "welcome"
    return client, welcome


@sync_to_async
def session_name(session: SessionStore) -> str | None:
    return SessionStore(session.session_key).get(SESSION_NAME_KEY)


@pytest.mark.parametrize(
    "name",
    ["\u200b", "\u202eevil", "a\u009bb", "\u3164", "x\u2066y", "\ufff0", "a\u200ab", "a" + "\u0301" * 5],
    ids=[
        "zero_width_only",
        "rtl_override",
        "c1_control",
        "hangul_filler",
        "isolate",
        "unassigned_ignorable",
        "hair_space",
        "stacked_marks",
    ],
)
async def test_a_name_that_hides_or_reorders_is_refused_and_nobody_hears_of_it(live_redis, name):
    """Issue 9's names: bad_message to the sender, no rename for anyone, the row keeps its name."""
    watcher, _ = await join()
    client, welcome = await join()
    await announced(watcher, welcome["you"]["id"])
    await client.send_json_to({"type": "rename", "name": name})
    assert (await next_of(client, "error"))["code"] == "bad_message"
    await client.send_json_to({"type": "rename", "name": "Zoë 👩\u200d💻"})
    assert (await next_of(watcher, "rename"))["name"] == "Zoë 👩\u200d💻"  # the first rename it hears
    await client.disconnect()
    await watcher.disconnect()


@pytest.mark.parametrize("taken", ["Alice", "alice", "ALICE", "\uff21\uff2c\uff29\uff23\uff25", "Ali\u200dce"])
async def test_a_guest_cannot_rename_itself_to_an_accounts_name_in_any_form(live_redis, taken):
    """Issue 9: a guest renamed itself to an existing username. Case, full-width forms and
    invisible joiners do not make it another name."""
    await sign_up("alice")
    watcher, _ = await join()
    client, welcome = await join()
    await announced(watcher, welcome["you"]["id"])
    await client.send_json_to({"type": "rename", "name": taken})
    error = await next_of(client, "error")
    assert error["code"] == "bad_message"
    assert "account" in error["detail"]
    await client.send_json_to({"type": "rename", "name": "alice2"})
    assert (await next_of(watcher, "rename"))["name"] == "alice2"
    await client.disconnect()
    await watcher.disconnect()


async def test_a_guest_name_chosen_before_the_account_existed_is_replaced_at_connect(live_redis):
    """The session says "ALICE" from before anyone signed up as alice: the board shows a new
    guest name instead, marked as a guest, and the session keeps the new name."""
    session = await guest_session("ALICE")
    await sign_up("alice")
    client, welcome = await join_with(f"sessionid={session.session_key}")
    assert welcome["you"]["name"].startswith("guest-")
    assert welcome["you"]["guest"] is True
    assert await session_name(session) == welcome["you"]["name"]
    await client.disconnect()


async def test_a_guest_name_stored_before_the_name_rule_is_replaced_at_connect(live_redis):
    """A session name that the rule now refuses (an RTL override) is not shown again."""
    session = await guest_session("\u202eevil")
    client, welcome = await join_with(f"sessionid={session.session_key}")
    assert welcome["you"]["name"].startswith("guest-")
    await client.disconnect()


async def test_names_on_the_board_say_whether_they_belong_to_an_account(live_redis):
    """A signed-in user's row, join and welcome say guest: false; a guest's say guest: true."""
    await sign_up("grace")
    watcher, watcher_welcome = await join()
    assert watcher_welcome["you"]["guest"] is True
    member, welcome = await join_with(await signed_in_cookie("grace"))
    assert welcome["you"] == {"id": welcome["you"]["id"], "name": "grace", "guest": False}
    rows = {row["id"]: row for row in welcome["clients"]}
    assert rows[welcome["you"]["id"]]["guest"] is False
    assert rows[watcher_welcome["you"]["id"]]["guest"] is True
    async with asyncio.timeout(5):
        while True:
            arrivals = {c["id"]: c for c in (await next_of(watcher, "connect"))["clients"]}
            if welcome["you"]["id"] in arrivals:
                break
    assert arrivals[welcome["you"]["id"]]["guest"] is False
    await member.disconnect()
    await watcher.disconnect()


async def test_a_guest_on_the_board_when_its_name_becomes_an_account_is_renamed(live_redis):
    """Somebody signs up as "carol" while a guest named "Carol" is on the board: within a
    heartbeat everyone (the guest too) gets a rename to a fresh guest name, kept in its session."""
    session = await guest_session("Carol")
    watcher, _ = await join()
    client, welcome = await join_with(f"sessionid={session.session_key}")
    assert welcome["you"]["name"] == "Carol"
    await announced(watcher, welcome["you"]["id"])
    await sign_up("carol")
    rename = await next_of(watcher, "rename")
    assert rename["id"] == welcome["you"]["id"]
    assert rename["name"].startswith("guest-")
    assert rename["guest"] is True
    assert (await next_of(client, "rename"))["name"] == rename["name"]
    assert await session_name(session) == rename["name"]
    await client.disconnect()
    await watcher.disconnect()


async def test_a_guest_renamed_elsewhere_first_keeps_that_one_new_name_on_the_board(live_redis):
    """An account takes the name of a guest who is on the board and in a chat room: whichever of
    their sockets notices first picks the replacement (here chat, as it writes), and the board
    takes the same one from the session instead of a second fresh name."""
    session = await guest_session("Dana")
    watcher, _ = await join()
    client, welcome = await join_with(f"sessionid={session.session_key}")
    await announced(watcher, welcome["you"]["id"])  # else the rename rides on the join's broadcast
    await sign_up("dana")
    replaced_in_chat = await sync_to_async(current_guest_name)(session, "unused")  # what chat's store calls
    assert replaced_in_chat.startswith("guest-")
    rename = await next_of(client, "rename")
    assert rename["id"] == welcome["you"]["id"]
    assert rename["name"] == replaced_in_chat
    assert await session_name(session) == replaced_in_chat
    await client.disconnect()
    await watcher.disconnect()


async def test_a_client_joining_while_an_earlier_join_is_written_hears_of_it(live_redis, monkeypatch):
    """A join is announced only once its row is written. A client joining meanwhile reads the
    board for its welcome and subscribes after it: a join announced before its row (the
    throttle's leading edge sends at once) would reach it in neither, and an idle viewer would
    never show the earlier client. Here the first client's row takes 0.3 s to write (a slow
    Redis, or the first client on another worker behind a heartbeat's slice)."""
    from ws.board import Board

    save = Board._save
    slow = [True]

    async def first_save_slow(self, clients):
        if slow and slow.pop():
            await asyncio.sleep(0.3)  # outside the write lock: the second client's row is not held up
        await save(self, clients)

    monkeypatch.setattr(Board, "_save", first_save_slow)
    first_joining = asyncio.ensure_future(join())
    await asyncio.sleep(0.1)  # the first client's row is being written
    second, second_welcome = await join()
    first, first_welcome = await first_joining
    first_id = first_welcome["you"]["id"]
    if first_id not in [row["id"] for row in second_welcome["clients"]]:
        await announced(second, first_id)  # else: TimeoutError, the second never hears of the first
    await first.disconnect()
    await second.disconnect()


async def test_a_client_whose_welcome_is_slow_still_hears_of_a_join_announced_meanwhile(live_redis, monkeypatch):
    """A client reads the board for its welcome only once subscribed: a join announced between
    the read and the welcome (a slow read here; in life, a worker joining the board's group)
    is held and follows the welcome, instead of reaching it in neither."""
    from ws.board import Board

    refresh = Board.refresh_snapshot
    calls = []

    async def slow_after_the_read(self):
        calls.append(None)
        if len(calls) == 1:  # the second client's: read, then the welcome waits
            await refresh(self)
            await asyncio.sleep(0.4)
        # The first client's own read is left out, as if it joined on another worker: its
        # read would not be the one the second client's welcome is built from.

    monkeypatch.setattr(Board, "refresh_snapshot", slow_after_the_read)
    second_joining = asyncio.ensure_future(join())
    await asyncio.sleep(0.1)  # the second client has read the board
    first, first_welcome = await join()
    second, second_welcome = await second_joining
    first_id = first_welcome["you"]["id"]
    assert first_id not in [row["id"] for row in second_welcome["clients"]]  # read before it joined
    await announced(second, first_id)  # else: TimeoutError, the second never hears of the first
    await first.disconnect()
    await second.disconnect()


@override_settings(LIVE_HEARTBEAT_SECONDS=60.0, LIVE_TTL_SECONDS=120.0)  # no sweep could do it
async def test_a_consumer_cancelled_after_its_row_was_written_takes_it_off_the_board(live_redis, monkeypatch):
    """Cancelled mid-join (Daphne gave up on it, or the worker stops) once its row is in Redis and
    its join announced, while it waits for the board to welcome it: the row leaves at once and
    the leave is announced, rather than every answer showing the row until it expires."""
    from ws.board import Board

    watcher, watcher_welcome = await join()
    await announced(watcher, watcher_welcome["you"]["id"])
    rows = key("board", "rows")

    async def hung_read(self):
        await asyncio.Event().wait()

    monkeypatch.setattr(Board, "refresh_snapshot", hung_read)
    late = websocket("/ws/public/")
    await late.connect()
    redis_client = async_redis()

    async def has_rows(count: int) -> bool:
        return await redis_client.hlen(rows) == count

    await until_awaited(lambda: has_rows(2))
    [late_id] = [i for i in await redis_client.hkeys(rows) if i != watcher_welcome["you"]["id"]]
    await announced(watcher, late_id)
    late.future.cancel()
    leave = await next_of(watcher, "disconnect", timeout=2)
    assert leave["ids"] == [late_id]
    await until_awaited(lambda: has_rows(1))
    await watcher.disconnect()

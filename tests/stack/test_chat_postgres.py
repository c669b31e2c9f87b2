"""Chat on PostgreSQL (DATABASE_URL), as compose runs it: a whole local stack on a fresh database
of the PostgreSQL on this machine (127.0.0.1:5432, user postgres, trust auth)."""

import asyncio
import urllib.request
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from deploy.stack import Stack
from tests.chatclient import enter, enter_on_both_workers, next_message, say, unique_room
from tests.conftest import start_stack, stop_stack

pytestmark = pytest.mark.stack

SERVER = "host=127.0.0.1 port=5432 user=postgres connect_timeout=3"


def admin_connection() -> psycopg.Connection:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return psycopg.connect(f"{SERVER} dbname=postgres", autocommit=True)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A database of its own, dropped afterwards; skips only when PostgreSQL is not reachable."""
    try:
        admin = admin_connection()
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432 as postgres: {error}")
    name = f"ping_chat_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def postgres_stack(database) -> Iterator[Stack]:
    stack = start_stack(DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}")
    yield stack
    stop_stack(stack)


def rows(database: str, room: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(f"{SERVER} dbname={database}") as db:
        found = db.execute(
            "SELECT m.id, m.author, m.text FROM shared_message m JOIN shared_room r ON r.id = m.room_id"
            " WHERE r.name = %s ORDER BY m.id",
            (room,),
        ).fetchall()
    return [(str(pk), author, text) for pk, author, text in found]


async def test_messages_are_stored_in_postgres_and_reach_both_workers(postgres_stack, database):
    """Sockets on both workers chat; the rows are in PostgreSQL, and history reads them back."""
    room = unique_room("pg")
    sockets = await enter_on_both_workers(postgres_stack, room, count=4)
    said = ["hello", "ünïcödé and <markup>", "line one\nline two"]
    for text in said:
        await say(sockets[0], text)
        heard = await asyncio.gather(*(next_message(s) for s in sockets))
        assert {m["text"] for m in heard} == {text}
    stored = rows(database, room)
    assert [text for _, _, text in stored] == said
    _, history = await enter(postgres_stack, room)
    assert [(m["id"], m["author"], m["text"]) for m in history] == stored
    for socket in sockets:
        await socket.close()


def test_postgres_has_the_index_behind_history(postgres_stack, database):
    """The migration created the (room, -id) index that the history and catch-up queries use."""
    with psycopg.connect(f"{SERVER} dbname={database}") as db:
        indexes = dict(db.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'shared_message'"))
    assert "room_recent_messages" in indexes
    assert "(room_id, id DESC)" in indexes["room_recent_messages"]


def sessions_opened(database: str) -> int:
    """Connections ever made to the database (pg_stat_database.sessions, PostgreSQL 14+)."""
    with psycopg.connect(f"{SERVER} dbname=postgres") as db:
        (count,) = db.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    return count


async def test_chat_borrows_pooled_connections_instead_of_connecting_per_message(postgres_stack, database):
    """Django's connection pool (shared/settings.py): 40 messages and 40 page loads open a handful
    of connections in all (at most one pool per process), not one or more each as before."""
    room = unique_room("pool")
    sockets = await enter_on_both_workers(postgres_stack, room, count=6)
    await say(sockets[0], "warm-up")  # each process fills its pool's first connection
    await asyncio.gather(*(next_message(s) for s in sockets))
    await asyncio.to_thread(urllib.request.urlopen, f"{postgres_stack.url}/chat/{room}/", timeout=10)
    await asyncio.sleep(1.5)  # PostgreSQL flushes session counts about once a second
    before = sessions_opened(database)
    for index in range(40):
        await say(sockets[index % len(sockets)], f"message {index}")
        await asyncio.gather(*(next_message(s) for s in sockets))
        await asyncio.to_thread(urllib.request.urlopen, f"{postgres_stack.url}/chat/{room}/", timeout=10)
    await asyncio.sleep(1.5)
    opened = sessions_opened(database) - before
    assert opened <= 6, f"{opened} new connections for 40 messages and 40 pages"
    assert len(rows(database, room)) == 41


async def test_concurrent_senders_get_one_place_each_and_every_member_the_room_order(postgres_stack, database):
    """Six sockets on both workers post at once: PostgreSQL numbers the room's messages 1..n with
    no gap and no place taken twice (the room row's lock), and every member receives them all,
    each once, in that order (ws/chat.py)."""
    room = unique_room("pgseq")
    sockets = await enter_on_both_workers(postgres_stack, room, count=6)
    per_socket = 10
    heard: list[list[int]] = [[] for _ in sockets]

    async def listen(index: int) -> None:
        while len(heard[index]) < per_socket * len(sockets):
            heard[index].append((await next_message(sockets[index]))["seq"])

    async def post(index: int) -> None:
        for n in range(per_socket):
            await say(sockets[index], f"s{index}.{n}")

    listening = [asyncio.create_task(listen(i)) for i in range(len(sockets))]
    await asyncio.gather(*(post(i) for i in range(len(sockets))))
    await asyncio.wait_for(asyncio.gather(*listening), timeout=30)
    total = per_socket * len(sockets)
    with psycopg.connect(f"{SERVER} dbname={database}") as db:
        seqs = [
            seq
            for (seq,) in db.execute(
                "SELECT m.seq FROM shared_message m JOIN shared_room r ON r.id = m.room_id"
                " WHERE r.name = %s ORDER BY m.seq",
                (room,),
            )
        ]
    assert seqs == list(range(1, total + 1))
    assert all(h == list(range(1, total + 1)) for h in heard), heard
    for socket in sockets:
        await socket.close()

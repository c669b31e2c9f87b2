"""Redis high availability: the stack on a real Sentinel set (a master, a replica, three
`redis-server --sentinel`), the master killed; chat, board and presence recover by themselves.

REDIS_SENTINELS / REDIS_SENTINEL_MASTER configure the channel layer and every store
(shared/redis.py, shared/layers.py); the sentinels notice the dead master after 1 s
(down-after-milliseconds) and promote the replica.
"""

import asyncio
import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from deploy.stack import Stack, free_port
from tests.chatclient import enter_on_both_workers, unique_room
from tests.conftest import stop_stack
from tests.helpers import next_of, on_worker, receive, watch_presence
from tests.stack.visitor import new_user

pytestmark = pytest.mark.stack

MASTER = "ping"
# Slow enough that the chat catch-up (from the database, every heartbeat) cannot pass for the
# live path through Redis: the probes below must arrive within PROBE_SECONDS.
HEARTBEAT, TTL = 5.0, 15.0
PROBE_SECONDS = 1.0
RECOVERY_SECONDS = 10.0


class SentinelSet:
    """A master, one replica and three sentinels on free ports, each its own process."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen] = {}

    def server(self, name: str, *args: str) -> None:
        self.processes[name] = subprocess.Popen(
            ["redis-server", *args], cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def start(self) -> None:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.server("master", "--port", str(self.master_port), *common)
        self.server(
            "replica", "--port", str(self.replica_port), *common, "--replicaof", "127.0.0.1", str(self.master_port)
        )
        for port in self.sentinel_ports:
            config = self.directory / f"sentinel-{port}.conf"  # sentinels rewrite their config file
            config.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 3000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            self.server(f"sentinel-{port}", str(config), "--sentinel")
        deadline = time.monotonic() + 20
        while not self.ready():
            assert time.monotonic() < deadline, "the sentinel set did not come up"
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            replica = redis.Redis(port=self.replica_port)
            if replica.info("replication").get("master_link_status") != "up":
                return False
            for port in self.sentinel_ports:
                sentinel = redis.Redis(port=port, decode_responses=True)
                if int(sentinel.sentinel_master(MASTER)["num-other-sentinels"]) < 2:
                    return False
        except redis.RedisError:
            return False
        return True

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def current_master_port(self) -> int:
        sentinel = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        return int(sentinel.sentinel_get_master_addr_by_name(MASTER)[1])

    def kill_master(self) -> None:
        self.processes["master"].kill()
        self.processes["master"].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def sentinel_set():
    directory = Path(tempfile.mkdtemp(prefix="ping-sentinel-"))
    sentinels = SentinelSet(directory)
    sentinels.start()
    yield sentinels
    sentinels.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def ha_stack(sentinel_set):
    run_dir = Path(tempfile.mkdtemp(prefix="ping-stack-"))
    # REDIS_URL names the first master only so that the stack starts no private redis-server;
    # with REDIS_SENTINELS set the app never connects to it directly.
    stack = Stack(
        run_dir=run_dir,
        port=free_port(),
        redis_url=f"redis://127.0.0.1:{sentinel_set.master_port}/0",
        env={
            "DATABASE_URL": f"sqlite:///{run_dir / 'db.sqlite3'}",
            "REDIS_SENTINELS": sentinel_set.sentinels,
            "REDIS_SENTINEL_MASTER": MASTER,
            "LIVE_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "LIVE_TTL_SECONDS": str(TTL),
        },
    )
    stack.start()
    yield stack
    stop_stack(stack)


def stored_texts(stack, room: str) -> set[str]:
    with sqlite3.connect(stack.run_dir / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT m.text FROM shared_message m JOIN shared_room r ON m.room_id = r.id WHERE r.name = ?", (room,)
        )
        return {row[0] for row in rows}


async def frames_until(socket, condition, timeout: float) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = await receive(socket, timeout)
            if condition(frame):
                return frame


async def test_the_master_killed_chat_board_and_presence_recover_within_10_s(ha_stack, sentinel_set):
    """Before: everything works through the sentinels. Kill -9 the master. Within 10 s the replica
    is master, and without any restart: a chat message crosses workers live, every stored message
    reached every member, a board join is announced on the other worker, and a user who signs in
    shows online to a watcher."""
    room = unique_room("ha")
    members = await enter_on_both_workers(ha_stack, room, count=4)
    watcher_user = await asyncio.to_thread(new_user, ha_stack, "watcher")
    watcher = await watch_presence(ha_stack, 1, watcher_user)
    board_watcher = await on_worker(ha_stack, 1, "/ws/public/", watcher_user)
    assert (await receive(board_watcher))["type"] == "welcome"
    seen: dict[int, set[str]] = {index: set() for index in range(len(members))}

    async def listen(index: int, socket) -> None:
        async for text in socket:
            frame = json.loads(text)
            if frame["type"] == "message":
                seen[index].add(frame["message"]["text"])

    listeners = [asyncio.create_task(listen(i, s)) for i, s in enumerate(members)]
    sent: list[str] = []

    async def say_every(seconds: float) -> None:
        while True:
            text = f"msg-{len(sent)}"
            sent.append(text)
            await members[0].send(json.dumps({"type": "message", "text": text}))
            await asyncio.sleep(seconds)

    sender = asyncio.create_task(say_every(0.2))
    await asyncio.sleep(PROBE_SECONDS)
    assert all(seen[i] for i in seen), "messages crossed workers before the failover"

    sentinel_set.kill_master()
    killed_at = time.monotonic()

    # Every check crosses workers (watchers on worker 1, newcomers on worker 2): only Redis links them.
    newcomer = await on_worker(ha_stack, 2, "/ws/public/", watcher_user)
    newcomer_id = (await receive(newcomer, timeout=RECOVERY_SECONDS))["you"]["id"]
    await frames_until(
        board_watcher,
        lambda f: f["type"] == "connect" and newcomer_id in [c["id"] for c in f["clients"]],
        timeout=RECOVERY_SECONDS,
    )
    board_recovered = time.monotonic() - killed_at

    # A user who signs in after the failover shows online.
    late_user = await asyncio.to_thread(new_user, ha_stack, "late")
    late_socket = await on_worker(ha_stack, 2, "/ws/presence/", late_user)
    online = await next_of(watcher, "status", username=late_user.username, timeout=RECOVERY_SECONDS)
    assert online["online"] is True
    presence_recovered = time.monotonic() - killed_at

    # Chat: a message sent now reaches every member, on both workers, live (within PROBE_SECONDS).
    async with asyncio.timeout(RECOVERY_SECONDS):
        while True:
            probe = sent[-1]
            await asyncio.sleep(PROBE_SECONDS)
            if all(probe in seen[i] for i in seen):
                break
    chat_recovered = time.monotonic() - killed_at
    sender.cancel()
    await asyncio.sleep(HEARTBEAT * 2 + 1)  # anything a lost broadcast missed: the catch-up
    stored = stored_texts(ha_stack, room)
    for index in seen:
        assert stored <= seen[index], f"member {index} missed {sorted(stored - seen[index])[:5]}"
    # Messages sent while no master was known may be refused; every refused one was never stored.
    assert len(stored) >= len(sent) - RECOVERY_SECONDS / 0.2

    assert sentinel_set.current_master_port() == sentinel_set.replica_port
    print(f"recovered: board {board_recovered:.1f} s, presence {presence_recovered:.1f} s, chat {chat_recovered:.1f} s")
    assert max(board_recovered, presence_recovered, chat_recovered) < RECOVERY_SECONDS, (
        board_recovered,
        presence_recovered,
        chat_recovered,
    )
    # No worker restarted: they recovered by themselves.
    assert "exited" not in ha_stack.ctl("status")
    for task in listeners:
        task.cancel()
    for socket in [*members, watcher, board_watcher, newcomer, late_socket]:
        await socket.close()


def test_pages_answer_through_the_sentinels(ha_stack):
    """/healthz (Gunicorn's blocking client, found through the sentinels) answers 200."""
    with urllib.request.urlopen(ha_stack.url + "/healthz", timeout=5) as response:
        assert response.status == 200

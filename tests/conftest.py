"""Fixtures every kind of test may use: a private redis-server and a full local stack."""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy.stack import Stack, free_port


@pytest.fixture(autouse=True)
def _plain_static_storage(settings) -> None:
    """Pages rendered in the test process name static files without a manifest (the stack's
    processes run collectstatic and use the hashed storage of shared/settings.py)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in this thread
    once the session's browser starts, and no asyncio test could run after that."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


class RedisServer:
    """A redis-server of the tests' own on a free port, which fault tests may stop and start."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    directory = Path(tempfile.mkdtemp(prefix="ping-redis-"))
    server = RedisServer(directory)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def start_stack(**env: str) -> Stack:
    """A whole stack (private Redis, its own SQLite file) on free ports in a temp directory."""
    run_dir = Path(tempfile.mkdtemp(prefix="ping-stack-"))
    stack = Stack(run_dir=run_dir, port=free_port(), env={"DATABASE_URL": f"sqlite:///{run_dir / 'db.sqlite3'}", **env})
    stack.start()
    return stack


def stop_stack(stack: Stack) -> None:
    leftovers = stack.stop()
    stack.remove()
    assert leftovers == [], f"processes outlived `down`: {leftovers}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One stack shared by the stack and browser tests that leave it as they found it."""
    running = start_stack()
    yield running
    stop_stack(running)

"""`make up` / `make down` through the very CLI the Makefile calls, on a port of their own."""

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from deploy.stack import REPO, Stack, free_port

pytestmark = pytest.mark.stack


def stack_cli(command: str, port: int, run_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PORT": str(port), "STACK_DIR": str(run_dir)}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "deploy.stack", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_up_returns_once_the_stack_answers_and_down_leaves_no_process(tmp_path):
    """After `up` the pages answer at once; after `down` no process of the stack is alive."""
    port = free_port()
    run_dir = Path(str(tmp_path / "s"))
    up = stack_cli("up", port, run_dir)
    stack = Stack(run_dir=run_dir, port=port)
    try:
        assert up.returncode == 0, up.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        assert len(list(stack.processes())) >= 6  # supervisord, redis, gunicorn, 2 daphne, nginx
        again = stack_cli("up", port, run_dir)
        assert again.returncode != 0
        assert "already running" in again.stderr
    finally:
        down = stack_cli("down", port, run_dir)
    assert down.returncode == 0, down.stderr
    assert list(stack.processes()) == []
    assert "had to kill" not in down.stdout


def test_up_on_a_port_in_use_says_so(tmp_path):
    """A clear error, not a stack that half-starts."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = stack_cli("up", port, tmp_path / "s")
    assert up.returncode == 1
    assert f"port {port} is in use" in up.stderr


def test_down_with_nothing_running_is_harmless(tmp_path):
    """`make down` twice is fine."""
    done = stack_cli("down", free_port(), tmp_path / "nothing")
    assert done.returncode == 0
    assert "no stack was running" in done.stdout

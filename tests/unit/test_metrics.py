"""The multiprocess bookkeeping of shared/metrics.py, on files in a temporary directory."""

import os
import subprocess
import sys

from shared import metrics


def test_a_scrape_forgets_the_live_gauges_of_dead_processes_and_keeps_their_counters(tmp_path, monkeypatch):
    """A Daphne worker killed by a signal reports nothing: its open sockets must not count on."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(gone.stdout), os.getpid()
    for name in (f"gauge_livesum_{dead}.db", f"gauge_livemax_{dead}.db", f"counter_{dead}.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f"gauge_livesum_{alive}.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert metrics.forget_dead_processes() == [dead]
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"counter_{dead}.db", f"gauge_livesum_{alive}.db"]


def test_without_a_multiprocess_directory_there_is_nothing_to_forget(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics.forget_dead_processes() == []
    assert metrics.registry() is metrics.REGISTRY


def test_topics_are_labelled_by_kind_never_by_room():
    assert metrics.topic_kind("chat.lobby") == "chat"
    assert metrics.topic_kind("board") == "board"

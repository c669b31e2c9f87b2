"""The bench's account of the cores (tests/bench/load.py CoreUse), on real processes."""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.bench.load import CoreUse

BURN = "import time\nend = time.monotonic() + 5\nwhile time.monotonic() < end: pass"


@pytest.fixture
def burners():
    """Three processes spinning on the machine's cores (more than it has, where it has two)."""
    children = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(3)]
    yield [psutil.Process(child.pid) for child in children]
    for child in children:
        child.kill()
        child.wait()


def test_cores_used_by_a_group_and_the_machine(burners):
    core_use = CoreUse({"burners": burners, "idle": [psutil.Process()]})
    time.sleep(0.6)
    report = core_use.per_second(core_use.spent())
    cores = psutil.cpu_count()
    assert report["cores_used"]["burners"] >= min(cores, 3) * 0.6
    assert report["cores_used"]["idle"] < 0.2
    assert report["cores_used"]["machine"] >= report["cores_used"]["burners"] * 0.9


@pytest.mark.skipif(not Path("/proc/pressure/cpu").exists(), reason="Linux publishes no CPU pressure here")
def test_waits_for_a_core_when_more_run_than_there_are_cores(burners):
    if psutil.cpu_count() >= 3:
        pytest.skip("three spinning processes do not outnumber this machine's cores")
    core_use = CoreUse({"burners": burners})
    time.sleep(0.6)
    waits = core_use.per_second(core_use.spent())["core_wait_s_per_s"]
    # Three runnable on two cores: one of them waits at any moment (1 s a second, where their
    # time on a core adds up to 2 s a second), and the machine always has a task waiting.
    assert 0.5 <= waits["burners"] <= 1.5
    assert 0.5 <= waits["machine"] <= 1.0

"""The board bench's verdict (tests/bench/board.py): where the load generator sharing the two
cores is what limits a run, the run is shown and said to be so, not judged."""

from tests.bench.board import COUNTS, LEAN_COUNTS, bound_by_load_generator, verdicts

# Measured on 2026-12-03 at N = 2000 (the app) and N = 1000, on two cores.
SATURATED_BY_THE_LOAD = {"machine": 1.74, "ws_workers": 0.99, "nginx": 0.25, "redis": 0.02, "load_generator": 0.46}
WITH_ROOM = {"machine": 1.06, "ws_workers": 0.64, "nginx": 0.12, "redis": 0.01, "load_generator": 0.3}
# Saturated, but the stack (or something foreign) fills the cores without the load generator.
SATURATED_WITHOUT_IT = {"machine": 1.9, "ws_workers": 1.5, "nginx": 0.15, "redis": 0.02, "load_generator": 0.2}


def run(p99_ms: float, cores_used: dict, clients: int = 1) -> dict:
    return {
        "p99_ms": p99_ms,
        "cores_used": cores_used,
        "core_wait_s_per_s": None,
        "bytes_per_answer": 2500,
        "cpu_ms_per_client_s": 0.6,
        "connected": clients,
        "clients": clients,
    }


def runs(app_p99: dict[int, float], app_cores: dict[int, dict]) -> dict:
    out = {}
    for n in COUNTS:
        out[f"echo@{n}"] = run(10.0, WITH_ROOM)
        out[f"app@{n}"] = run(app_p99.get(n, 3.0), app_cores.get(n, WITH_ROOM))
    for n in LEAN_COUNTS:
        out[f"echo-lean@{n}"] = run(2.0, WITH_ROOM)
    return out


def test_a_run_is_bound_by_the_load_generator_only_when_it_alone_tips_the_cores_into_saturation():
    assert bound_by_load_generator(run(1, SATURATED_BY_THE_LOAD), cores=2)
    assert not bound_by_load_generator(run(1, WITH_ROOM), cores=2)
    assert not bound_by_load_generator(run(1, SATURATED_WITHOUT_IT), cores=2)
    assert not bound_by_load_generator(run(1, SATURATED_BY_THE_LOAD), cores=4)


def test_a_bound_run_is_shown_not_judged_and_the_others_still_are():
    verdict = verdicts(runs({2000: 600.0}, {2000: SATURATED_BY_THE_LOAD}), cores=2)
    assert verdict["p99_bound_by_load_generator_at"] == [2000]
    assert verdict["p99_judged_at"] == [400, 1000]
    assert verdict["p99_ratio_app_to_lean_echo"][2000] == 300.0  # still shown
    assert verdict["met"] is True


def test_a_slow_app_on_cores_it_fills_itself_misses_the_target():
    verdict = verdicts(runs({1000: 5.0, 2000: 600.0}, {2000: SATURATED_WITHOUT_IT}), cores=2)
    assert verdict["p99_bound_by_load_generator_at"] == []
    assert verdict["met"] is False


def test_nothing_judged_is_nothing_met():
    bound = dict.fromkeys(LEAN_COUNTS, SATURATED_BY_THE_LOAD)
    verdict = verdicts(runs({}, bound), cores=2)
    assert verdict["p99_judged_at"] == []
    assert verdict["met"] is False


def test_the_judged_ratio_is_the_median_of_the_interleaved_pairs():
    measured = runs({}, {})
    for repeat, app_p99 in ((2, 5.0), (3, 3.6)):  # 2.5x, then 1.8x; the first pair 1.5x
        for n in LEAN_COUNTS:
            measured[f"app@{n}#{repeat}"] = run(app_p99, WITH_ROOM)
            measured[f"echo-lean@{n}#{repeat}"] = run(2.0, WITH_ROOM)
    verdict = verdicts(measured, cores=2)
    assert verdict["p99_ratio_app_to_lean_echo_pairs"][400] == [1.5, 2.5, 1.8]
    assert verdict["p99_ratio_app_to_lean_echo"][400] == 1.8
    assert verdict["met"] is True


def test_a_count_is_bound_when_most_of_its_app_runs_were():
    measured = runs({2000: 600.0}, {2000: SATURATED_BY_THE_LOAD})
    measured["app@2000#2"], measured["echo-lean@2000#2"] = run(3.0, WITH_ROOM), run(2.0, WITH_ROOM)
    measured["app@2000#3"], measured["echo-lean@2000#3"] = run(500.0, SATURATED_BY_THE_LOAD), run(2.0, WITH_ROOM)
    assert verdicts(measured, cores=2)["p99_bound_by_load_generator_at"] == [2000]
    measured["app@2000#3"] = run(3.0, WITH_ROOM)
    assert verdicts(measured, cores=2)["p99_bound_by_load_generator_at"] == []

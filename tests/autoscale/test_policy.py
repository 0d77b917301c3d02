"""The autoscaling policy (pure): thresholds, hysteresis, GPU demand, and the reasons it gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.autoscale.policy import (
    AutoscaleConfig,
    Observation,
    PolicyState,
    Shape,
    decide,
    utilisation,
)
from tessera.errors import SpecError

CFG = AutoscaleConfig(min_workers=1, max_workers=8)
CPU = Shape(1.0)
GPU = Shape(1.0, gpus=1)


def obs(now: float = 0.0, waiting: int = 0, running: int = 0, gpu_waiting: int = 0, cpus: float = 4,
        gpus: int = 0, workers: int = 2) -> Observation:
    return Observation(now, (CPU,) * waiting + (GPU,) * gpu_waiting, (CPU,) * running, cpus, gpus, workers)


def test_scales_out_only_when_the_queue_is_deeper_than_the_threshold() -> None:
    at, _ = decide(obs(waiting=5, running=4), PolicyState(), CFG)
    assert at.action == "hold" and "5 jobs wait (scale out above 5)" in at.reasons
    out, _ = decide(obs(waiting=6, running=4), PolicyState(), CFG)
    assert out.action == "scale_out"
    assert out.workers == 8  # 4 running + 6 waiting, capped at max_workers
    assert out.reasons[0] == "6 jobs wait, more than the scale-out depth of 5"
    assert "the local pool stops at max_workers=8" in out.reasons
    assert out.bundles is not None and len(out.bundles) == 10 and out.bundles[0] == {"CPU": 1.0}


def test_gpu_demand_scales_out_whatever_the_depth() -> None:
    d, _ = decide(obs(gpu_waiting=1, running=0, gpus=0), PolicyState(), CFG)
    assert d.action == "scale_out"
    assert d.bundles == ({"CPU": 1.0, "GPU": 1.0},)
    assert any("1 jobs wait for 1 GPUs" in r for r in d.reasons)


def test_scales_in_after_utilisation_stays_low_for_the_window() -> None:
    state = PolicyState()
    d, state = decide(obs(now=0, running=0, workers=6), state, CFG)
    assert d.action == "hold" and state.low_since == 0
    assert d.reasons[0] == "utilisation 0% is under 20% for 0 s of the 600 s before scaling in"
    d, state = decide(obs(now=599, running=0, workers=6), state, CFG)
    assert d.action == "hold" and d.workers == 6
    d, state = decide(obs(now=600, running=0, workers=6), state, CFG)
    assert d.action == "scale_in" and d.workers == 1 and d.bundles == ()
    assert d.reasons[0] == "utilisation 0% is under 20% for 600 s (at least 600 s)"


def test_busy_moment_resets_the_low_utilisation_clock() -> None:
    _, state = decide(obs(now=0, running=0), PolicyState(), CFG)
    _, state = decide(obs(now=300, running=2), state, CFG)  # 50% busy
    assert state.low_since is None
    d, state = decide(obs(now=700, running=0), state, CFG)
    assert d.action == "hold" and state.low_since == 700


def test_scale_in_keeps_what_runs() -> None:
    d, _ = decide(obs(now=600, running=0, workers=6), PolicyState(low_since=0), CFG)
    assert d.action == "scale_in"
    d, _ = decide(Observation(600, (), (Shape(2.0),), 16, 0, 6), PolicyState(low_since=0), CFG)
    assert (d.action, d.workers, d.bundles) == ("scale_in", 2, ({"CPU": 2.0},))


def test_utilisation_is_the_busier_of_cpus_and_gpus() -> None:
    o = Observation(0, (), (Shape(1.0, gpus=1),), 10, 2, 1)
    assert utilisation(o) == pytest.approx(0.5)
    assert utilisation(Observation(0, (), (), 0, 0, 0)) == 0.0


@given(waiting=st.integers(0, 50), running=st.integers(0, 20), workers=st.integers(0, 20),
       low=st.one_of(st.none(), st.floats(0, 2000)), now=st.floats(2000, 4000))
def test_targets_stay_between_min_and_max_and_are_explained(waiting: int, running: int, workers: int,
                                                           low: float | None, now: float) -> None:
    d, _ = decide(obs(now=now, waiting=waiting, running=running, workers=workers, cpus=20),
                  PolicyState(low), CFG)
    assert 1 <= d.workers <= 8
    assert d.reasons and all(isinstance(r, str) and r for r in d.reasons)
    assert (d.action == "scale_out") == (waiting > 5)


def test_config_round_trip_and_bad_files(tmp_path: Path) -> None:
    assert AutoscaleConfig.load(tmp_path) is None
    AutoscaleConfig(scale_out_queue_depth=3, max_workers=4).save(tmp_path)
    assert AutoscaleConfig.load(tmp_path) == AutoscaleConfig(scale_out_queue_depth=3, max_workers=4)
    (tmp_path / "autoscale.yaml").write_text("scale_out_queue_depth: -1\n")
    with pytest.raises(SpecError, match="To fix|not a valid") as e:
        AutoscaleConfig.load(tmp_path)
    assert "tessera autoscale enable" in e.value.fix
    (tmp_path / "autoscale.yaml").write_text("min_workers: 5\nmax_workers: 2\n")
    with pytest.raises(SpecError, match="below min_workers"):
        AutoscaleConfig.load(tmp_path)

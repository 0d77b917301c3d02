"""Runtime model, the pure placement decision, crossovers, and dry runs on recorded profiles."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tessera.bench.crossover import find_crossover
from tessera.errors import SpecError
from tessera.models.placement import PlacementSpec, Variant, parse_size, parse_variant
from tessera.models.spec import JobSpec
from tessera.placement.apply import apply_choice, waits
from tessera.placement.decide import choose
from tessera.placement.model import RuntimeModel, fit_curve, fit_power, model_key
from tessera.scheduler.decide import Capacity

CPU = Variant(name="cpu", cpus=2)
GPU = Variant(name="gpu", gpus=1)
SEED_RATES = {"cpu": 1.008, "gpu": 2.448}  # the seed's instances: r5.4xlarge, g5.8xlarge, whole


def test_curve_passes_through_points_and_extrapolates_with_the_fitted_slope() -> None:
    pts = [(1000.0, 1.0), (2000.0, 8.0), (4000.0, 64.0)]  # t ~ n^3
    c = fit_curve(pts)
    assert c is not None and c.slope == pytest.approx(3.0)
    for s, t in pts:
        assert c.predict(s) == pytest.approx(t)
    assert c.predict(8000.0) == pytest.approx(512.0)
    assert c.predict(500.0) == pytest.approx(0.125)
    assert c.predict(1414.2) == pytest.approx(1414.2**3 / 1e9, rel=0.01)  # log-log interpolation


def test_curve_fits_a_fixed_overhead_and_predicts_between_and_beyond_points() -> None:
    """t = 0.5 s + 1e-9·n^3: an overhead the former log-log model could not bend at."""
    sizes = [500.0, 1000.0, 2000.0, 4000.0]
    c = fit_curve([(n, 0.5 + 1e-9 * n**3) for n in sizes])
    assert c is not None
    assert c.t0 == pytest.approx(0.5, rel=0.05) and c.b == pytest.approx(3.0, abs=0.1)
    for n in (250.0, 700.0, 3000.0, 8000.0):  # unmeasured, inside and outside the range
        assert c.predict(n) == pytest.approx(0.5 + 1e-9 * n**3, rel=0.05)
    assert fit_power([1.0, 2.0], [3.0, 3.0], b=1.0)[1] == pytest.approx(0.0, abs=1e-9)  # flat: all overhead


def test_model_keys_separate_parameters_and_loo_error_is_measured(cpu_profiles: list[dict[str, Any]]) -> None:
    m = RuntimeModel.from_rows(cpu_profiles)
    assert ("image[batch=2]", "cpu") in m.curves and ("matmul", "cpu") in m.curves
    assert model_key("image", {"size": 4, "batch": 2, "device": "cpu"}) == "image[batch=2]"
    errs = m.loo_errors()
    assert errs and all(e["error"] >= 0 for e in errs)
    # matmul time grows with n: the fitted exponent is between 1 and 4 on any CPU
    assert 1.0 < m.curves[("matmul", "cpu")].slope <= 4.0


def test_choose_by_time_cost_deadline_and_max_cost() -> None:
    pred = {"cpu": 10.0, "gpu": 1.0}
    c = choose([CPU, GPU], pred, {}, {"cpu": 0.5, "gpu": 4.0}, "time", size_label="n=4096")
    assert c.variant == "gpu" and c.reason.startswith("gpu: 10× faster at n=4096, $0.001111 vs $0.001389")
    # by cost: gpu costs 4.0/3600 = 0.00111, cpu 5/3600 = 0.00139 -> gpu is also cheaper
    assert choose([CPU, GPU], pred, {}, {"cpu": 0.5, "gpu": 4.0}, "cost").variant == "gpu"
    assert choose([CPU, GPU], pred, {}, {"cpu": 0.1, "gpu": 4.0}, "cost").variant == "cpu"
    # a busy GPU: 20 s of queue wait makes the CPU finish first
    busy = choose([CPU, GPU], pred, {"gpu": 20.0}, {"cpu": 0.5, "gpu": 4.0}, "time")
    assert busy.variant == "cpu" and busy.option("gpu").finish_s == pytest.approx(21.0)
    # deadline drops the slow one even when optimizing cost
    assert choose([CPU, GPU], pred, {}, {"cpu": 0.1, "gpu": 4.0}, "cost", deadline_s=5).variant == "gpu"
    assert choose([CPU, GPU], pred, {}, {"cpu": 0.1, "gpu": 4.0}, "time", max_cost_usd=0.0005).variant == "cpu"
    with pytest.raises(SpecError) as e:
        choose([CPU, GPU], pred, {}, {"cpu": 0.5, "gpu": 4.0}, "time", deadline_s=0.5)
    assert "To fix:" in e.value.message
    unknown = choose([CPU, GPU], {"cpu": None, "gpu": None}, {}, {}, "time")
    assert unknown.variant == "cpu" and "no runtime measured" in unknown.reason


def _best(m: RuntimeModel, key: str, size: float, optimize: str = "time") -> str:
    pred = {"cpu": m.predict(key, "cpu", size), "gpu": m.predict(key, "cuda", size)}
    return choose([CPU, GPU], pred, {}, SEED_RATES, optimize).variant


def test_dry_run_on_the_seed_figures_matches_the_seed_table(seed_profiles: list[dict[str, Any]]) -> None:
    m = RuntimeModel.from_rows(seed_profiles)
    assert _best(m, "matmul", 1000) == "cpu"  # the seed: CPU 0.02 s, GPU 0.88 s
    for n in (5000, 8000, 10000):
        assert _best(m, "matmul", n) == "gpu"
    assert _best(m, "image[batch=2]", 4096) == "gpu"
    assert _best(m, "blur[sigma=3.0]", 4096) == "gpu"


@pytest.mark.parametrize("profiles", ["seed", "this-cpu"])
def test_crossover_small_n_cpu_large_n_gpu_flips_within_one_bucket(
        profiles: str, seed_profiles: list[dict[str, Any]], cpu_profiles: list[dict[str, Any]]) -> None:
    """Matmul CPU against the seed's A10G: from this machine's CPU profile or the seed's r5."""
    rows = seed_profiles if profiles == "seed" else (
        cpu_profiles + [r for r in seed_profiles if r["device"] == "cuda"])
    m = RuntimeModel.from_rows(rows)
    cpu = {float(r["size"]): float(r["warm_s"]) for r in rows if r["kernel"] == "matmul" and r["device"] == "cpu"}
    gpu = {float(r["size"]): float(r["warm_s"]) for r in rows if r["kernel"] == "matmul" and r["device"] == "cuda"}
    sizes = sorted(set(cpu) | set(gpu))
    measured = find_crossover(sizes, [m.predict("matmul", "cpu", s) or 0 for s in sizes],
                              [m.predict("matmul", "gpu", s) or 0 for s in sizes])
    assert measured is not None
    buckets = [2.0 ** k for k in range(6, 15)]  # 64 .. 16384
    choices = [_best(m, "matmul", b) for b in buckets]
    assert choices[0] == "cpu" and choices[-1] == "gpu"
    flip = next(i for i, c in enumerate(choices) if c == "gpu")
    assert all(c == "gpu" for c in choices[flip:]), choices  # one flip only
    # the flip is at the first bucket past the crossover: within one bucket of it
    assert buckets[flip - 1] <= measured * 1.0001 and measured <= buckets[flip] * 1.0001
    assert abs(math.log2(buckets[flip]) - math.log2(measured)) <= 1.0


def test_waits_spread_backlog_over_slots() -> None:
    w = waits([("cpu", 2.0, 10.0), ("gpu", 1.0, 6.0), ("gpu", 1.0, 2.0)], Capacity(4, 1000, (0, 1)))
    assert w == {"cpu": pytest.approx(5.0), "gpu": pytest.approx(4.0)}


def test_apply_choice_rewrites_resources_device_and_records_the_decision() -> None:
    spec = JobSpec(kernel="matmul", params={"n": 4096},
                   placement=PlacementSpec(variants=(CPU, GPU), size={"n": 4096}))
    choice = choose([CPU, GPU], {"cpu": 2.0, "gpu": 0.2}, {}, SEED_RATES, "time", size_label="n=4096")
    out = apply_choice(spec, choice)
    assert out.resources.gpus == 1 and out.params["device"] == "cuda:0" and out.env["TESSERA_VARIANT"] == "gpu"
    assert out.placement is not None and out.placement.chosen and out.placement.chosen["variant"] == "gpu"
    assert out.tags["tessera.work_s"] == "0.2"  # the spot side's deadline slack reads the prediction


def test_variant_and_size_parsing() -> None:
    assert parse_variant("gpu:gpus=1,cpus=4") == {"name": "gpu", "gpus": 1, "cpus": 4.0}
    assert parse_size("n=8000") == {"n": 8000.0}
    for bad in ("gpu:gpus=x", "gpu:ram=3"):
        with pytest.raises(SpecError):
            parse_variant(bad)
    for bad in ("n", "n=-1", "9n=3"):
        with pytest.raises(SpecError):
            parse_size(bad)
    with pytest.raises(ValueError):
        PlacementSpec(variants=(CPU, CPU))


def test_submit_places_on_recorded_profiles_and_explain_shows_it(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dry run through the real submit path: logical GPU, seed profiles, nothing executed."""
    from tessera.cli.cost import explain_placement
    from tessera.config import Settings
    from tessera.executors.hardware import detect
    from tessera.store import Store
    from tessera.submit import submit
    from tests.cost.conftest import PROFILES

    monkeypatch.setenv("TESSERA_GPUS", "1")
    monkeypatch.setenv("TESSERA_PROFILES", str(PROFILES / "seed_a10g_r5.json"))
    s = Settings.load()
    store = Store(s.db_url)
    placement = PlacementSpec(variants=(Variant(name="cpu", cpus=1), Variant(name="gpu", gpus=1)), size={"n": 8000})
    small = placement.model_copy(update={"size": {"n": 1000}})
    ids = submit(store, [JobSpec(kernel="matmul", params={"n": 8000}, placement=placement),
                         JobSpec(kernel="matmul", params={"n": 1000}, placement=small)], detect(s))
    big, tiny = store.job(ids[0]), store.job(ids[1])
    assert big.spec.resources.gpus == 1 and big.spec.params["device"] == "cuda:0"
    assert tiny.spec.resources.gpus == 0 and tiny.spec.params["device"] == "cpu"
    out = "\n".join(explain_placement(big))
    assert "Placement: gpu:" in out and "faster at n=8000" in out and "$" in out
    # with no GPU on the machine, the gpu variant is not offered and the job goes to the CPU
    monkeypatch.setenv("TESSERA_GPUS", "0")
    cpu_only = submit(store, [JobSpec(kernel="matmul", params={"n": 8000}, placement=placement)],
                      detect(Settings.load()))[0]
    chosen = store.job(cpu_only).spec.placement
    assert chosen is not None and chosen.chosen is not None
    assert chosen.chosen["variant"] == "cpu" and chosen.chosen["dropped"]["variants"] == ["gpu"]


def test_right_sizing_one_two_thread_job_or_two_one_thread_jobs() -> None:
    """From measured scaling: 2 threads take 0.6 of 1 thread's time (a 1.67x speed-up on 2 cores)."""
    from tessera.placement.apply import slots

    one, two = Variant(name="t1", cpus=1), Variant(name="t2", cpus=2)
    rows = [{"kernel": "blur", "size": 1024, "device": "cpu", "warm_s": t, "params": {"threads": th}}
            for th, t in ((1, 1.0), (2, 0.6))]
    m = RuntimeModel.from_rows(rows)
    pred = {"t1": m.predict("blur", "cpu", 1024, threads=1), "t2": m.predict("blur", "cpu", 1024, threads=2)}
    assert pred == {"t1": pytest.approx(1.0), "t2": pytest.approx(0.6)}
    box = Capacity(2, 8000)
    sl = slots([one, two], box)
    assert sl == {"t1": 2, "t2": 1}
    rates = {"t1": 1.0, "t2": 2.0}
    assert choose([one, two], pred, {}, rates, "time", count=1, slots=sl).variant == "t2"  # alone: use both cores
    many = choose([one, two], pred, {}, rates, "time", count=8, slots=sl)  # 4 waves x 1.0 s < 8 waves x 0.6 s
    assert many.variant == "t1" and many.option("t1").finish_s == pytest.approx(4.0)
    assert many.option("t2").finish_s == pytest.approx(4.8)
    # perfect scaling (0.5) makes them equal in time; then the cheaper wins the tie: the same dollars here
    pred["t2"] = 0.5
    assert choose([one, two], pred, {}, rates, "time", count=8, slots=sl).option("t2").finish_s == pytest.approx(4.0)
    # a curve measured without a thread count serves every thread count
    assert RuntimeModel.from_rows([{**rows[0], "params": {}}]).predict("blur", "cpu", 1024, threads=2) == 1.0

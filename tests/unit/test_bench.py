"""Benchmark suite: cases, crossovers, prices, calibration cache, runner, reports, profiles, CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tessera.bench import (
    PROFILE_KEYS,
    Case,
    build_cases,
    build_table,
    calibrate,
    find_crossover,
    hardware_fingerprint,
    hardware_info,
    plot_sweep,
    price_for,
    profiles_from_results,
    run_suite,
    sweep_crossovers,
    to_document,
)
from tessera.bench import cli as bench_cli
from tessera.bench.runner import enrich, roofline_pct
from tessera.errors import SpecError, TesseraError
from tessera.kernels import run_job

PEAK = {"peak_gflops_fp32": 100.0, "peak_gflops_fp64": 50.0, "peak_gbps": 20.0}


def in_process(kernel: str, params: dict[str, Any]) -> dict[str, Any]:
    return run_job(kernel, params)


# ---- cases ---------------------------------------------------------------------------------


def test_seed_suite_has_the_seed_rows() -> None:
    labels = [c.label for c in build_cases("seed")]
    assert labels[:4] == [f"Matrix {n}x{n}" for n in (1000, 5000, 8000, 10000)]
    assert "Image 4096x4096 (batch 2)" in labels and len(labels) == 9
    assert labels[-1].startswith("Gaussian blur")


def test_scale_shrinks_sizes_and_keeps_them_even() -> None:
    cases = build_cases("full", 0.1)
    assert {c.suite for c in cases} == {"seed", "sweep", "domain"}
    for c in cases:
        if c.suite == "domain":
            continue
        size = c.params.get("n", c.params.get("size"))
        assert size % 16 == 0 and 16 <= size <= 1024
    sweep_sizes = [c.params.get("n", c.params.get("size")) for c in cases if c.suite == "sweep"]
    assert len(sweep_sizes) == len({(c.kernel, str(c.params)) for c in cases if c.suite == "sweep"})


@pytest.mark.parametrize("suite,scale", [("huge", 1.0), ("seed", 0.0), ("seed", -1.0)])
def test_bad_suite_or_scale(suite: str, scale: float) -> None:
    with pytest.raises(SpecError, match="To fix:"):
        build_cases(suite, scale)


# ---- crossover -----------------------------------------------------------------------------


def test_crossover_interpolates_in_log_space() -> None:
    # GPU/CPU ratio 4, 1/4 at sizes 100, 10000: log ratio crosses zero half-way, at 1000.
    assert find_crossover([100, 10000], [1.0, 4.0], [4.0, 1.0]) == pytest.approx(1000.0)


def test_crossover_never_and_always() -> None:
    assert find_crossover([1, 2, 3], [1, 1, 1], [2, 2, 2]) is None
    assert find_crossover([4, 2, 8], [5, 5, 5], [1, 1, 1]) == 2.0
    assert find_crossover([], [], []) is None


def test_crossover_takes_the_last_switch_and_ignores_order() -> None:
    sizes = [64, 16, 32, 8]
    cpu = [1.0, 1.0, 1.0, 1.0]
    gpu = [0.5, 0.5, 2.0, 0.5]  # faster at 8, slower at 32, faster from 64
    cross = find_crossover(sizes, cpu, gpu)
    assert 32 < cross < 64
    assert find_crossover([1, 2], [1.0, 1.0], [1.0, 0.5]) == pytest.approx(1.0)


def test_crossover_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        find_crossover([1, 2], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        find_crossover([1, 2], [1.0, 0.0], [1.0, 2.0])


def fake(kernel: str, size: int, device: str, total: float, suite: str = "sweep") -> dict:
    return {"kernel": kernel, "size": size, "device": device, "total_s": total, "suite": suite}


def test_sweep_crossovers_per_kernel() -> None:
    results = [
        fake("matmul", 100, "cpu", 1.0),
        fake("matmul", 100, "cuda:0", 2.0),
        fake("matmul", 1000, "cpu", 8.0),
        fake("matmul", 1000, "cuda:0", 1.0),
        fake("blur", 100, "cpu", 1.0),  # no GPU figure: no crossover
        fake("blur", 200, "cpu", 2.0),
        fake("image", 100, "cpu", 1.0, suite="seed"),
    ]
    out = sweep_crossovers(results)
    assert set(out) == {"matmul"} and 100 < out["matmul"] < 1000


# ---- prices, roofline, hardware, profiles ----------------------------------------------------


def test_prices_apply_by_device_kind() -> None:
    assert price_for("cpu").instance == "r5.4xlarge" and price_for("cpu").usd_per_hour == 1.008
    assert price_for("cuda:1").instance == "g5.8xlarge" and price_for("cuda").usd_per_hour == 2.448
    assert price_for("cpu").cost_usd(3600) == pytest.approx(1.008)
    assert "us-east-1" in price_for("cpu").source


def test_roofline_uses_the_lower_roof() -> None:
    compute_bound = {"flops": 1000, "bytes": 1, "gflops": 50.0, "params": {"dtype": "float32"}}
    assert roofline_pct(compute_bound, PEAK) == pytest.approx(50.0)
    memory_bound = {"flops": 1, "bytes": 1, "gflops": 10.0, "params": {"dtype": "float32"}}
    assert roofline_pct(memory_bound, PEAK) == pytest.approx(50.0)  # roof = 1 * 20 GB/s
    fp64 = {"flops": 1000, "bytes": 1, "gflops": 25.0, "params": {"dtype": "float64"}}
    assert roofline_pct(fp64, PEAK) == pytest.approx(50.0)
    assert roofline_pct(compute_bound, None) is None


def test_hardware_fingerprint_is_short_and_stable() -> None:
    fp = hardware_fingerprint()
    assert len(fp) == 12 and int(fp, 16) >= 0 and fp == hardware_fingerprint()
    info = hardware_info()
    assert info["cpu_count"] >= 1 and info["memory_gib"] >= 0 and isinstance(info["gpus"], list)


def test_profiles_from_results() -> None:
    ok = enrich(run_job("matmul", {"n": 16, "repeat": 1}), Case("m", "matmul", {"n": 16}), None)
    failed = {"kernel": "blur", "device": "cpu", "error": "boom", "label": "b"}
    rows = profiles_from_results([ok, failed], fingerprint="abc")
    assert len(rows) == 1
    row = rows[0]
    assert set(PROFILE_KEYS) <= set(row) and row["fingerprint"] == "abc"
    assert row["kernel"] == "matmul" and row["size"] == 16 and row["device"] == "cpu"
    assert row["params"] == {"n": 16, "dtype": "float32", "seed": 0}


# ---- calibration -------------------------------------------------------------------------------


def test_calibration_is_cached(tmp_path: Path) -> None:
    calls = []

    def measure(device: str) -> dict[str, Any]:
        calls.append(device)
        return {"device": device, **PEAK}

    first = calibrate("cpu", tmp_path, measure=measure)
    second = calibrate("cpu", tmp_path, measure=measure)
    assert first == second and calls == ["cpu"]
    assert first["fingerprint"] == hardware_fingerprint()
    calibrate("cpu", tmp_path, refresh=True, measure=measure)
    assert calls == ["cpu", "cpu"]
    assert len(list(tmp_path.glob("calibration-*-cpu.json"))) == 1


# ---- runner and reports ----------------------------------------------------------------------

TINY = [
    Case("Matrix 48x48", "matmul", {"n": 48}),
    Case("blur 64", "blur", {"size": 64}, suite="sweep"),
    Case("blur 128", "blur", {"size": 128}, suite="sweep"),
    Case("Image 32x32 (batch 2)", "image", {"size": 32, "batch": 2}),
]


def test_run_suite_in_process_enriches_results() -> None:
    seen = []
    results = run_suite(
        TINY, ["cpu"], repeat=2, submit=in_process, peaks={"cpu": PEAK}, on_result=seen.append
    )
    assert len(results) == len(TINY) == len(seen)
    for r in results:
        assert r["error"] is None and r["ok"] is True
        assert r["total_s"] == r["warm_s"] and r["pct_peak"] > 0
        assert r["instance"] == "r5.4xlarge" and r["cost_usd"] > 0 and r["cold_cost_usd"] > 0
        assert len(r["warm_times_s"]) == 2
    doc = to_document(results, {"cpu": PEAK})
    assert json.loads(json.dumps(doc))["results"][0]["label"] == "Matrix 48x48"
    console = Console(record=True, width=250)
    console.print(build_table(results))
    text = console.export_text()
    assert "Matrix 48x48" in text and "Total" in text and "GFLOP/s" in text and "GB/s" in text


def test_run_suite_default_submit_uses_a_subprocess() -> None:
    results = run_suite(TINY[:1], ["cpu"], repeat=1)
    assert results[0]["ok"] is True and results[0]["label"] == "Matrix 48x48"


def test_a_failing_case_is_recorded_and_the_suite_goes_on() -> None:
    def flaky(kernel: str, params: dict[str, Any]) -> dict[str, Any]:
        if kernel == "blur":
            raise TesseraError("worker died", "retry")
        return run_job(kernel, params)

    results = run_suite(TINY, ["cpu"], repeat=1, submit=flaky)
    errors = [r for r in results if r["error"]]
    assert len(errors) == 2 and all(r["ok"] is False for r in errors)
    console = Console(record=True, width=250)
    console.print(build_table(results))
    assert "error" in console.export_text()
    assert len(profiles_from_results(results)) == 2


def test_bad_device_fails_before_anything_runs() -> None:
    def never(kernel: str, params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("must not run")

    with pytest.raises(SpecError, match="To fix:"):
        run_suite(TINY, ["cpu", "tpu"], submit=never)


def two_device_results() -> list[dict[str, Any]]:
    out = []
    for size, cpu_s, gpu_s in [(64, 0.01, 0.1), (128, 0.08, 0.1), (256, 0.64, 0.1)]:
        for device, t in (("cpu", cpu_s), ("cuda:0", gpu_s)):
            raw = run_job("matmul", {"n": 16, "repeat": 1, "check": False})
            raw.update(device=device, size=size, warm_s=t, cold_s=t, gflops=1.0)
            out.append(enrich(raw, Case(f"matmul {size}", "matmul", {"n": size}, "sweep"), PEAK))
    return out


def test_two_device_table_has_speedup_and_costs() -> None:
    results = two_device_results()
    console = Console(record=True, width=300)
    console.print(build_table(results))
    text = console.export_text()
    assert "Speedup" in text and "cuda:0 time (s)" in text and "6.40" in text
    assert results[1]["instance"] == "g5.8xlarge"
    cross = to_document(results)["crossovers"]["matmul"]
    assert 64 < cross < 256


def test_plot_sweep(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = plot_sweep(two_device_results(), tmp_path / "sweep.png")
    assert path.stat().st_size > 1000


def test_plot_without_matplotlib_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SpecError, match="matplotlib"):
        plot_sweep(two_device_results(), tmp_path / "x.png")


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_runs_saves_and_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.setattr(bench_cli, "calibrate", lambda device, refresh=False: dict(PEAK))
    saved: list[dict[str, Any]] = []
    monkeypatch.setattr(bench_cli, "save_profiles", saved.extend)
    monkeypatch.setattr(bench_cli, "load_profiles", lambda: saved)
    runner = CliRunner()
    report = tmp_path / "bench.json"
    args = ["--suite", "seed", "--scale", "0.01", "--devices", "cpu", "--repeat", "1"]
    result = runner.invoke(bench_cli.app, [*args, "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "Total" in result.output
    doc = json.loads(report.read_text())
    assert len(doc["results"]) == 9 and all(r["ok"] for r in doc["results"])
    assert len(saved) == 9
    shown = runner.invoke(bench_cli.app, ["--show"])
    assert shown.exit_code == 0 and "matmul" in shown.output


def test_cli_default_profile_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.setattr(bench_cli, "calibrate", lambda device, refresh=False: dict(PEAK))
    args = ["--suite", "seed", "--scale", "0.01", "--devices", "cpu", "--repeat", "1"]
    assert CliRunner().invoke(bench_cli.app, args).exit_code == 0
    rows = json.loads((tmp_path / "profiles.json").read_text())
    assert len(rows) == 9 and rows[0]["fingerprint"] == hardware_fingerprint()


@pytest.mark.parametrize(
    "args", [["--devices", "tpu"], ["--suite", "nope"], ["--plot", "x.png", "--suite", "seed"]]
)
def test_cli_bad_input_exits_2(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    result = CliRunner().invoke(bench_cli.app, args)
    assert result.exit_code == 2
    assert "To fix:" in result.output
    assert not (tmp_path / "profiles.json").exists()


def test_public_surface_is_complete() -> None:
    import tessera.bench as bench

    assert all(hasattr(bench, name) for name in bench.__all__)
    assert {"run_suite", "profiles_from_results", "hardware_fingerprint"} <= set(bench.__all__)

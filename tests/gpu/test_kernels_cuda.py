"""Kernels on CUDA agree with their float64 references, report transfers and free their memory."""

from __future__ import annotations

import pytest

from tessera.kernels import measure_peak, run_job

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

CASES = [
    ("matmul", {"n": 257}),
    ("matmul", {"n": 2048}),
    ("matmul", {"n": 300, "dtype": "float64"}),
    ("blur", {"size": 301, "sigma": 3.0}),
    ("blur", {"size": 1024, "sigma": 0.8}),
    ("blur", {"size": 20, "sigma": 7.0}),
    ("image", {"size": 256, "batch": 2}),
    ("image", {"size": 1024}),
    ("image", {"size": 96, "dtype": "float64"}),
]


@pytest.mark.parametrize("name,params", CASES)
def test_cuda_agrees_with_reference(name: str, params: dict) -> None:
    out = run_job(name, {**params, "device": "cuda", "repeat": 2})
    assert out["device"] == "cuda:0" and out["backend"] == "torch"
    assert out["max_err"] <= out["tolerance"], out
    assert out["ok"] is True
    assert out["h2d_s"] is not None and out["h2d_s"] > 0
    assert out["d2h_s"] is not None and out["d2h_s"] > 0


@pytest.mark.parametrize("name", ["matmul", "blur", "image"])
def test_cuda_and_cpu_give_the_same_checksum(name: str) -> None:
    params = {"matmul": {"n": 128}, "blur": {"size": 128}, "image": {"size": 128}}[name]
    gpu = run_job(name, {**params, "device": "cuda:0", "check": False})
    cpu = run_job(name, {**params, "check": False})
    assert gpu["checksum"] == pytest.approx(cpu["checksum"], rel=1e-4)


def test_no_gpu_memory_is_held_after_a_run() -> None:
    run_job("matmul", {"n": 1024, "device": "cuda"})
    assert torch.cuda.memory_allocated() == 0


def test_missing_gpu_index_is_a_spec_error() -> None:
    from tessera.errors import SpecError

    with pytest.raises(SpecError, match="To fix:"):
        run_job("matmul", {"n": 8, "device": f"cuda:{torch.cuda.device_count()}"})


def test_peak_measurement_on_cuda() -> None:
    peak = measure_peak("cuda:0", repeat=1)
    assert peak["peak_gflops_fp32"] > 0 and peak["peak_gbps"] > 0

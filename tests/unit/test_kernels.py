"""Kernels agree with their float64 references; formulas, registry, params and run_job's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

from tessera.errors import SpecError
from tessera.kernels import REGISTRY, get, names, resolve_target, run_job
from tessera.kernels.filters import gaussian_weights, reflect_indices, separable_numpy

SRC = Path(__file__).resolve().parents[2] / "src"

# (kernel, params) small enough for a unit test, covering odd sizes, float64, batches, sigmas.
CASES = [
    ("matmul", {"n": 1}),
    ("matmul", {"n": 37}),
    ("matmul", {"n": 256}),
    ("matmul", {"n": 130, "dtype": "float64"}),
    ("matmul", {"n": 1100}),  # above FULL_CHECK_MAX_N: sampled rows
    ("blur", {"size": 64, "sigma": 0.5}),
    ("blur", {"size": 301, "sigma": 3.0}),
    ("blur", {"size": 400, "sigma": 2.5, "threads": 2}),
    ("blur", {"size": 20, "sigma": 7.0}),  # radius 28 > size: repeated reflection
    ("blur", {"size": 96, "sigma": 1.5, "dtype": "float64"}),
    ("image", {"size": 8}),
    ("image", {"size": 64, "batch": 3}),
    ("image", {"size": 258, "batch": 2}),
    ("image", {"size": 96, "dtype": "float64"}),
]


def _ids(case: tuple[str, dict]) -> str:
    return case[0] + "-" + "-".join(f"{k}{v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("seed", [1, 2])
def test_numpy_path_agrees_with_reference(case: tuple[str, dict], seed: int) -> None:
    name, params = case
    out = run_job(name, {**params, "seed": seed, "repeat": 1})
    assert out["checked"] is True
    assert out["max_err"] is not None and out["max_err"] <= out["tolerance"], out
    assert out["ok"] is True
    assert out["checksum"] != 0.0  # results of fresh random data, never zeros


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_torch_cpu_path_agrees_with_reference(case: tuple[str, dict]) -> None:
    pytest.importorskip("torch")
    name, params = case
    out = run_job(name, {**params, "seed": 3, "repeat": 1, "backend": "torch"})
    assert out["backend"] == "torch" and out["device"] == "cpu"
    assert out["max_err"] <= out["tolerance"], out
    assert out["ok"] is True


@pytest.mark.parametrize("name", ["matmul", "blur", "image"])
def test_numpy_and_torch_give_the_same_result(name: str) -> None:
    pytest.importorskip("torch")
    params = {"matmul": {"n": 64}, "blur": {"size": 64}, "image": {"size": 64, "batch": 2}}[name]
    a = run_job(name, {**params, "repeat": 1, "check": False})
    b = run_job(name, {**params, "repeat": 1, "check": False, "backend": "torch"})
    assert a["checksum"] == pytest.approx(b["checksum"], rel=1e-4)


def test_inputs_are_random_and_not_zero() -> None:
    rng = np.random.default_rng(0)
    for name, p in [("matmul", {"n": 32}), ("blur", {"size": 32}), ("image", {"size": 32})]:
        kernel = get(name)
        for x in kernel.make_inputs(kernel.resolve(p), rng):
            assert x.std() > 0.1 and np.count_nonzero(x) == x.size


def test_image_output_is_an_equalised_distribution() -> None:
    kernel = get("image")
    p = kernel.resolve({"size": 128, "batch": 2})
    (rgb,) = kernel.make_inputs(p, np.random.default_rng(5))
    ref = kernel.reference((rgb,), p)
    assert ref.shape == (2, 64, 64)
    assert ref.min() >= 0.0 and ref.max() == pytest.approx(1.0)
    # equalised values are close to uniform on [0, 1]
    assert np.quantile(ref, 0.5) == pytest.approx(0.5, abs=0.02)


def test_flop_and_byte_formulas() -> None:
    mm = get("matmul")
    p = mm.resolve({"n": 10})
    assert mm.flops(p) == 2000 and mm.bytes(p) == 3 * 100 * 4
    p = mm.resolve({"n": 10, "dtype": "float64"})
    assert mm.bytes(p) == 3 * 100 * 8
    blur = get("blur")
    p = blur.resolve({"size": 100, "sigma": 1.0})
    taps = len(gaussian_weights(1.0))
    assert taps == 9
    assert blur.flops(p) == 2 * (2 * taps - 1) * 100**2
    assert blur.bytes(p) == 2 * 100**2 * 4
    p = blur.resolve({"size": 100, "sigma": 2.6})
    assert blur.flops(p) == 2 * (2 * len(gaussian_weights(2.6)) - 1) * 100**2
    image = get("image")
    p = image.resolve({"size": 8, "batch": 2})
    n, m = 128, 32
    assert image.flops(p) == 64 * n + 6 * m
    assert image.bytes(p) == (3 * n + m) * 4


def test_gaussian_weights_match_scipy() -> None:
    for sigma in (0.3, 1.0, 2.5, 7.0):
        impulse = np.zeros(201)
        impulse[100] = 1.0
        w = gaussian_weights(sigma)
        r = len(w) // 2
        expected = ndi.gaussian_filter1d(impulse, sigma)[100 - r : 101 + r]
        np.testing.assert_allclose(w, expected[::-1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("length,radius", [(5, 2), (5, 5), (3, 10), (1, 4), (100, 0)])
def test_reflect_indices_are_scipy_reflect(length: int, radius: int) -> None:
    x = np.arange(length)
    padded = x[reflect_indices(length, radius)]
    np.testing.assert_array_equal(padded, np.pad(x, radius, mode="symmetric"))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threaded_separable_is_exact(threads: int) -> None:
    x = np.random.default_rng(7).random((3, 700, 300)).astype(np.float32)
    w = gaussian_weights(2.0)
    passes = [(-1, w), (-2, w), (-2, np.array([1.0, 2.0, 1.0]))]
    got = separable_numpy(x, passes, threads)
    want = x
    for axis, taps in passes:
        want = ndi.correlate1d(want, taps.astype(np.float32), axis=axis, mode="reflect")
    np.testing.assert_array_equal(got, want)


def test_registry_lists_every_kernel() -> None:
    assert set(REGISTRY) == {"matmul", "image", "blur", "wave", "mc_option", "pressure"} == set(names())
    assert get("blur") is REGISTRY["blur"]


def test_unknown_kernel_lists_valid_names() -> None:
    with pytest.raises(SpecError) as info:
        get("fft")
    msg = str(info.value)
    assert all(name in msg for name in ("matmul", "image", "blur"))
    assert msg.splitlines()[-1].startswith("To fix:")


@pytest.mark.parametrize(
    "name,params,fragment",
    [
        ("matmul", {"n": 8, "size": 3}, "size"),
        ("matmul", {"n": 0}, "n=0"),
        ("matmul", {"n": "8"}, "must be of type int"),
        ("matmul", {"n": True}, "must be of type int"),
        ("matmul", {"n": 8, "dtype": "float16"}, "float16"),
        ("matmul", {"n": 8, "repeat": 0}, "repeat"),
        ("matmul", {"n": 8, "check": "yes"}, "check"),
        ("blur", {"sigma": -1.0}, "sigma"),
        ("blur", {"sigma": 1000.0}, "sigma"),
        ("image", {"size": 33}, "even"),
        ("image", {"batch": 0}, "batch"),
        ("matmul", {"n": 8, "device": "gpu"}, "unknown device"),
        ("matmul", {"n": 8, "device": "cpu", "backend": "cupy"}, "backend"),
        ("matmul", {"n": 8, "device": "cuda", "backend": "numpy"}, "numpy cannot run"),
    ],
)
def test_bad_params_are_spec_errors(name: str, params: dict, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        run_job(name, params)
    assert fragment in str(info.value)
    assert "\nTo fix: " in str(info.value)


def test_cuda_without_cuda_is_a_clear_error() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    except ImportError:
        pass
    with pytest.raises(SpecError) as info:
        run_job("matmul", {"n": 8, "device": "cuda:0"})
    assert "cuda" in str(info.value).lower() and "To fix:" in str(info.value)


def test_torch_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SpecError) as info:
        run_job("matmul", {"n": 8, "backend": "torch"})
    assert "tessera[torch]" in str(info.value)
    assert run_job("matmul", {"n": 8})["ok"] is True  # numpy path still works


def test_device_names_are_normalised() -> None:
    assert resolve_target("CPU", None).device == "cpu"
    assert resolve_target(None, None).backend == "numpy"


def test_run_job_schema_is_json_serialisable() -> None:
    out = run_job("blur", {"size": 64, "sigma": 1.0, "repeat": 2})
    assert json.loads(json.dumps(out)) == out
    expected = {
        "kernel", "params", "device", "backend", "size", "cold_s", "warm_s", "warm_times_s",
        "h2d_s", "d2h_s", "flops", "bytes", "gflops", "gbps", "checked", "max_err",
        "tolerance", "ok", "checksum", "threads", "versions", "measured_at",
    }  # fmt: skip
    assert expected <= set(out)
    assert out["device"] == "cpu" and out["backend"] == "numpy" and out["size"] == 64
    assert out["h2d_s"] is None and out["d2h_s"] is None
    assert len(out["warm_times_s"]) == 2 and out["warm_s"] > 0 and out["cold_s"] > 0
    assert out["gflops"] == pytest.approx(out["flops"] / out["warm_s"] / 1e9)
    assert out["params"]["sigma"] == 1.0 and out["params"]["dtype"] == "float32"


def test_unchecked_run_has_no_verdict() -> None:
    out = run_job("matmul", {"n": 16, "check": False})
    assert out["checked"] is False and out["ok"] is None and out["max_err"] is None


def _module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "tessera.kernels", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_module_command_runs_a_kernel_and_reports_errors_as_json() -> None:
    ok = _module("run", "matmul", "--params", '{"n": 32, "repeat": 1}')
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    bad = _module("run", "nope", "--params", "{}")
    assert bad.returncode == 2
    doc = json.loads(bad.stdout)
    assert doc["type"] == "SpecError" and "To fix:" in doc["error"]


def test_public_surface_is_complete() -> None:
    import tessera.kernels as kernels

    assert all(hasattr(kernels, name) for name in kernels.__all__)
    assert {"run_job", "REGISTRY", "get", "measure_peak"} <= set(kernels.__all__)


def test_cuda_backend_turns_tf32_off() -> None:
    torch = pytest.importorskip("torch")
    from tessera.kernels.backends import _ieee_float32

    _ieee_float32(torch)
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        assert conv.fp32_precision == "ieee"
    else:
        assert torch.backends.cudnn.allow_tf32 is False

"""Domain components on CUDA agree with the CPU: wave kernel, RTM, Monte Carlo, reservoir PCG."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.domains import finance, reservoir, seismic
from tessera.kernels import run_job

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize(
    "name,params",
    [("wave", {"size": 256, "steps": 100}), ("mc_option", {"paths": 100_000, "steps": 4}),
     ("pressure", {"size": 128, "iterations": 40})],
)  # fmt: skip
def test_domain_kernels_on_cuda_agree_with_reference(name: str, params: dict) -> None:
    out = run_job(name, {**params, "device": "cuda", "repeat": 2})
    assert out["device"] == "cuda:0" and out["ok"] is True, out


def test_rtm_on_cuda_matches_cpu() -> None:
    vel = seismic.layered_model(60, 80)
    mig = seismic.smooth_model(vel, 3.0, keep_top=8)
    g = seismic.geometry_for(vel, 10.0, 0.5, f0=20.0)
    data = seismic.model_shot(vel, g, 40)
    cpu = seismic.rtm_shot(mig, data, g, 40).image
    gpu = seismic.rtm_shot(mig, data, g, 40, device="cuda").image
    assert np.abs(gpu - cpu).max() <= 1e-3 * np.abs(cpu).max()


def test_monte_carlo_and_reservoir_on_cuda() -> None:
    est = finance.mc_price(paths=200_000, device="cuda")
    assert abs(est.value - finance.black_scholes(100, 100, 1.0, 0.05, 0.2)) <= 4 * est.stderr
    rock = reservoir.Rock(permeability=reservoir.layered_permeability(20, 25, seed=3))
    wells = [reservoir.Well(10, 3, rate=2e-4), reservoir.Well(10, 21, bhp=2.8e7)]
    a = reservoir.simulate(rock, wells, 3.0e7, dt=1800.0, steps=4)
    b = reservoir.simulate(rock, wells, 3.0e7, dt=1800.0, steps=4, device="cuda")
    assert np.abs(a.pressure - b.pressure).max() <= 1e-6 * np.abs(3.0e7 - a.pressure).max()

"""The domain components workflows use: seismic survey steps, reservoir runs, Monte Carlo risk.

Each is a thin ``@component`` over ``seismic``, ``reservoir`` and ``finance``: JSON-friendly
parameters in, arrays and JSON out. Steps that propagate waves or simulate paths report the
FLOPs and bytes they moved in a ``stats`` output, as the kernels do.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from tessera.domains import finance, reservoir, seismic
from tessera.workflows import File, component

logger = logging.getLogger(__name__)


def source_position(shot: int, shots: int, nx: int) -> int:
    """Lateral cell of shot ``shot`` of ``shots`` spread evenly across a model ``nx`` wide."""
    if not 0 <= shot < shots:
        from tessera.errors import SpecError

        raise SpecError(f"shot {shot} is not in 0..{shots - 1}", "give 0 <= shot < shots")
    return int(round((shot + 0.5) * nx / shots))


@component(
    "seismic.model",
    version="1",
    outputs={"velocity": "array", "migration": "array", "geometry": "json"},
    resources={"cpus": 1},
)
def model(
    *,
    nz: int = 128,
    nx: int = 256,
    dx: float = 10.0,
    duration_s: float = 1.4,
    f0: float = 15.0,
    smooth_cells: float = 3.0,
    receiver_step: int = 1,
) -> dict[str, Any]:
    """A layered model with a salt body, its smoothed migration model, and the geometry."""
    velocity = seismic.layered_model(nz, nx, interfaces=(0.2, 0.8), salt=(0.55, 0.68, 0.13, 0.14))
    keep = max(1, int(0.12 * nz))
    migration = seismic.smooth_model(velocity, smooth_cells, keep_top=keep)
    geometry = seismic.geometry_for(velocity, dx, duration_s, f0=f0, receiver_step=receiver_step)
    return {
        "velocity": velocity,
        "migration": migration,
        "geometry": dataclasses.asdict(geometry),
    }


@component(
    "seismic.shot",
    version="1",
    inputs={"geometry": "json"},
    outputs={"data": "array"},
    resources={"cpus": 1},
)
def shot(
    velocity: np.ndarray,
    geometry: dict[str, Any],
    *,
    shot: int = 0,
    shots: int = 1,
    device: str = "cpu",
    backend: str | None = None,
) -> np.ndarray:
    """Model one shot's receiver data (time samples x receivers) in the true model."""
    g = seismic.Geometry(**geometry)
    return seismic.model_shot(
        velocity, g, source_position(shot, shots, velocity.shape[1]), device, backend
    )


@component(
    "seismic.rtm",
    version="1",
    inputs={"geometry": "json"},
    outputs={"image": "array", "illumination": "array", "stats": "json"},
    resources={"cpus": 1},
)
def rtm(
    migration: np.ndarray,
    data: np.ndarray,
    geometry: dict[str, Any],
    *,
    shot: int = 0,
    shots: int = 1,
    snapshot_mb: float = 512.0,
    device: str = "cpu",
    backend: str | None = None,
) -> dict[str, Any]:
    """Reverse-time migration of one shot; ``stats`` has the steps, FLOPs, bytes and GB/s."""
    g = seismic.Geometry(**geometry)
    sx = source_position(shot, shots, migration.shape[1])
    out = seismic.rtm_shot(
        migration, data, g, sx, snapshot_mb=snapshot_mb, device=device, backend=backend
    )
    stats = {
        "shot": shot,
        "mode": out.mode,
        "steps": out.steps,
        "cells": out.cells,
        "seconds": out.seconds,
        "flops": out.stencil_flops,
        "bytes": out.stencil_bytes,
        "gbps": out.stencil_bytes / out.seconds / 1e9,
    }
    return {"image": out.image, "illumination": out.illumination, "stats": stats}


@component("seismic.stack", version="1", outputs={"image": "array"})
def stack(
    images: list[np.ndarray], illuminations: list[np.ndarray], *, mute: int = 0
) -> np.ndarray:
    """Stack shot images (illumination-normalised, Laplacian-filtered, top ``mute`` rows muted)."""
    return seismic.stack(images, illuminations, mute)


@component("seismic.plot", version="1", outputs={"png": "file"})
def plot(image: np.ndarray, velocity: np.ndarray, *, dx: float = 10.0) -> File:
    """A PNG of the velocity model beside the migrated image (writes ``image.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nz, nx = image.shape
    extent = (0.0, nx * dx / 1000, nz * dx / 1000, 0.0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    shown = axes[0].imshow(velocity, cmap="viridis", extent=extent, aspect="auto")
    fig.colorbar(shown, ax=axes[0], label="m/s")
    axes[0].set_title("velocity model")
    clip = float(np.percentile(np.abs(image[int(0.1 * nz) :]), 99)) or 1.0
    axes[1].imshow(image, cmap="gray", vmin=-clip, vmax=clip, extent=extent, aspect="auto")
    axes[1].set_title("reverse-time migration (stack)")
    for ax in axes:
        ax.set_xlabel("x (km)")
        ax.set_ylabel("depth (km)")
    path = Path("image.png").resolve()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return File(str(path))


@component("finance.losses", version="1", outputs={"losses": "array"}, resources={"cpus": 1})
def losses(
    *,
    positions: list[float],
    mu: list[float],
    cov: list[list[float]],
    horizon: float = 10 / 252,
    paths: int = 200_000,
    seed: int = 0,
    device: str = "cpu",
    backend: str | None = None,
) -> np.ndarray:
    """Simulated portfolio losses over the horizon (one independent batch per seed)."""
    return finance.simulate_losses(
        positions, mu, cov, horizon, paths, seed=seed, device=device, backend=backend
    )


@component("finance.risk", version="1", outputs={"risk": "json"})
def risk(
    losses: list[np.ndarray],
    *,
    confidence: float = 0.99,
    positions: list[float] | None = None,
    mu: list[float] | None = None,
    cov: list[list[float]] | None = None,
    horizon: float = 10 / 252,
) -> dict[str, Any]:
    """VaR and expected shortfall of the pooled losses, with the normal closed form beside."""
    out = finance.risk_of(losses, confidence).as_dict()
    if positions is not None and mu is not None and cov is not None:
        var, es = finance.normal_var(np.asarray(positions), np.asarray(mu), np.asarray(cov),
                                     horizon, confidence)  # fmt: skip
        out.update({"normal_var": var, "normal_es": es})
    return out


@component("finance.option", version="1", outputs={"price": "json"}, resources={"cpus": 1})
def option(
    *,
    spot: float = 100.0,
    strike: float = 100.0,
    maturity: float = 1.0,
    rate: float = 0.05,
    sigma: float = 0.2,
    kind: str = "call",
    paths: int = 1_000_000,
    seed: int = 0,
    device: str = "cpu",
    backend: str | None = None,
) -> dict[str, Any]:
    """Monte Carlo price with its standard error, and the Black-Scholes price."""
    est = finance.mc_price(spot, strike, maturity, rate, sigma, kind, paths, seed=seed,
                           device=device, backend=backend)  # fmt: skip
    exact = finance.black_scholes(spot, strike, maturity, rate, sigma, kind)
    return {
        **est.as_dict(),
        "black_scholes": exact,
        "error_in_stderr": (est.value - exact) / est.stderr,
    }


@component(
    "reservoir.simulate",
    version="1",
    outputs={"pressure": "array", "summary": "json"},
    resources={"cpus": 1},
)
def simulate(
    *,
    ny: int = 60,
    nx: int = 120,
    dx: float = 10.0,
    mean_md: float = 100.0,
    seed: int = 0,
    injection_rate: float = 5e-4,
    producer_bhp: float = 2.5e7,
    initial_pressure: float = 3.0e7,
    dt: float = 3600.0,
    steps: int = 48,
    device: str = "cpu",
    backend: str | None = None,
) -> dict[str, Any]:
    """A line drive: an injector on the left, a producer at fixed pressure on the right."""
    rock = reservoir.Rock(permeability=reservoir.layered_permeability(ny, nx, seed, mean_md), dx=dx)
    wells = [
        reservoir.Well(ny // 2, 2, rate=injection_rate),
        reservoir.Well(ny // 2, nx - 3, bhp=producer_bhp),
    ]
    res = reservoir.simulate(rock, wells, initial_pressure, dt, steps, report_every=steps,
                             device=device, backend=backend)  # fmt: skip
    summary = {
        "solver": res.solver,
        "seconds": res.seconds,
        "flops": res.flops,
        "bytes": res.bytes,
        "producer_rate_m3_per_s": float(res.well_rates[-1, 1]),
        "mean_pressure_pa": float(res.pressure[-1].mean()),
    }
    return {"pressure": res.pressure[-1], "summary": summary}

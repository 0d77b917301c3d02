"""Seismic: modelling against the analytic Green's function, sponge absorption, RTM depths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import hilbert

from tessera.domains import seismic as S
from tessera.domains.greens import green_trace
from tessera.errors import SpecError
from tessera.kernels import run_job
from tessera.kernels.backends import make_ops, resolve_target
from tessera.kernels.wave import Propagator, ricker, stable_dt


def _backend(name: str) -> str:
    if name == "torch":
        pytest.importorskip("torch")
    if name == "numba":
        pytest.importorskip("numba")
        return "numpy"
    return name


def _trace(name: str, dtype: str, nb: int = 30, n: int = 181) -> tuple[np.ndarray, np.ndarray]:
    """A trace 60 cells from a Ricker source in a homogeneous medium, and the analytic one."""
    dx, v, f0 = 5.0, 2000.0, 15.0
    dt = stable_dt(v, dx, 0.4)
    nt = int(0.4 / dt)
    backend = _backend(name)
    engine = "numba" if name == "numba" else "arrays"
    ops = make_ops(resolve_target("cpu", backend))
    prop = Propagator(ops, np.full((n, n), v), dx, dt, nb, dtype, engine=engine)
    assert prop.engine == engine
    w = ricker(f0, dt, nt)
    src, rec = prop.index([n // 2], [n // 2 - 30]), prop.index([n // 2], [n // 2 + 30])
    got = np.zeros(nt)
    for i in range(nt):
        got[i] = float(prop.record(rec)[0])  # the field at time i * dt
        prop.step()
        prop.inject(
            src,
            w[i : i + 1] if backend == "numpy" else prop.ops.to_device(w[i : i + 1].astype(dtype)),
        )
    return got, green_trace(w, dt, 60 * dx, v)


@pytest.mark.parametrize("engine", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_homogeneous_medium_matches_the_analytic_greens_function(engine: str, dtype: str) -> None:
    got, exact = _trace(engine, dtype)
    # Tolerance: 3% relative L2 over the whole trace (observed 0.8%: 4th-order dispersion at
    # about 6 cells per shortest wavelength); a one-sample time shift alone gives about 10%.
    assert np.linalg.norm(got - exact) / np.linalg.norm(exact) < 0.03
    assert abs(int(np.argmax(np.abs(got))) - int(np.argmax(np.abs(exact)))) <= 1


def test_sponge_absorbs_what_a_rigid_boundary_reflects() -> None:
    def energy_after(nb: int) -> float:
        n, dx, v = 80, 10.0, 2000.0
        dt = stable_dt(v, dx)
        prop = Propagator(
            make_ops(resolve_target("cpu", "numpy")), np.full((n, n), v), dx, dt, nb, "float64"
        )
        w = ricker(20.0, dt, 1200)
        src = prop.index([n // 2], [n // 2])
        for i in range(1200):  # 1.2 s: the wave crosses the 800 m model about three times
            prop.step()
            prop.inject(src, w[i : i + 1])
        return float(np.sum(np.asarray(prop.interior()) ** 2))

    assert energy_after(30) < 1e-3 * energy_after(0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_wave_kernel_agrees_with_scipy_reference(backend: str) -> None:
    out = run_job(
        "wave", {"size": 48, "steps": 60, "nb": 8, "repeat": 1, "backend": _backend(backend)}
    )
    assert out["ok"] is True and out["max_err"] <= out["tolerance"], out
    assert out["checksum"] != 0.0
    assert out["bytes"] == 4 * (48 + 16) ** 2 * 4 * 60 and out["flops"] == 12 * (48 + 16) ** 2 * 60


def test_numba_and_array_engines_take_the_same_steps() -> None:
    pytest.importorskip("numba")
    ops = make_ops(resolve_target("cpu", "numpy"))
    vel = np.random.default_rng(0).uniform(1500, 3000, (50, 70))
    fields = []
    for engine in ("arrays", "numba"):
        prop = Propagator(ops, vel, 10.0, 0.001, 10, "float64", engine=engine)
        src, w = prop.index([20], [30]), ricker(20.0, 0.001, 250)
        for i in range(250):
            prop.step()
            prop.inject(src, w[i : i + 1])
        fields.append(np.array(prop.interior()))
    assert np.abs(fields[0]).max() > 0
    np.testing.assert_allclose(fields[1], fields[0], rtol=0, atol=1e-12 * np.abs(fields[0]).max())


def test_unstable_time_step_is_refused_with_a_fix() -> None:
    ops = make_ops(resolve_target("cpu", "numpy"))
    with pytest.raises(SpecError, match="To fix: use dt <="):
        Propagator(ops, np.full((10, 10), 3000.0), 10.0, 0.003)
    with pytest.raises(SpecError, match="velocities > 0"):
        Propagator(ops, np.zeros((10, 10)), 10.0, 0.001)
    with pytest.raises(SpecError, match="unknown wave engine"):
        Propagator(ops, np.full((10, 10), 3000.0), 10.0, 0.001, engine="cuda-magic")


# --- reverse-time migration of a layered model with a salt-like body ----------------------

NZ, NX, DX = 100, 160, 10.0
LAYERS = (0.20, 0.80)
SALT = (0.55, 0.68, 0.13, 0.14)  # top at 0.42 nz = cell 42 in the middle of the body
SHOTS = [10, 50, 90, 130, 150]
MUTE = 12  # rows near the sources and receivers, left out of the checks


@pytest.fixture(scope="module")
def survey() -> dict:
    vel = S.layered_model(NZ, NX, interfaces=LAYERS, salt=SALT)
    mig = S.smooth_model(vel, 3.0, keep_top=12)
    g = S.geometry_for(vel, DX, 1.1, f0=15.0)
    shots = {sx: S.model_shot(vel, g, sx) for sx in SHOTS}
    migrated = [S.rtm_shot(mig, shots[sx], g, sx) for sx in SHOTS]
    image = S.stack([m.image for m in migrated], [m.illumination for m in migrated])
    return {"vel": vel, "mig": mig, "g": g, "shots": shots, "migrated": migrated, "image": image}


def _pick(trace: np.ndarray, expected: int, window: int) -> int:
    """Depth of the envelope maximum within +-window cells of ``expected``."""
    env = np.abs(hilbert(trace))
    lo, hi = max(MUTE, expected - window), min(len(trace), expected + window + 1)
    return lo + int(np.argmax(env[lo:hi]))


def test_rtm_puts_flat_reflectors_at_their_depths(survey: dict) -> None:
    image = survey["image"]
    trace = image[:, 5:60].mean(axis=1)  # columns away from the salt
    env = np.abs(hilbert(trace))
    strongest = env[MUTE:].max()
    for cell in S.interface_cells(LAYERS, NZ):
        picked = _pick(trace, cell, 8)
        # Tolerance: 2 cells = 20 m, a sixth of the 120 m dominant wavelength at the top.
        assert abs(picked - cell) <= 2, (cell, picked)
        assert env[picked] > 0.2 * strongest
    # Nothing strong between the reflectors: the image is not dominated by artefacts.
    gap = env[35:65]
    assert gap.max() < 0.2 * strongest


def test_rtm_images_the_top_of_salt(survey: dict) -> None:
    image = survey["image"]
    trace = image[:, 105:115].mean(axis=1)  # through the middle of the salt body
    top = int(round((SALT[0] - SALT[2]) * NZ))  # 42
    picked = _pick(trace, top, 6)
    # Tolerance: 4 cells = 40 m, a quarter of the 160 m dominant wavelength in the 2400 m/s
    # sediment above the salt (observed: 3 cells shallow; the migration model is smoothed
    # across the sharp salt contrast). Columns without salt have no event at this depth.
    assert abs(picked - top) <= 4, (top, picked)
    env = np.abs(hilbert(trace))
    assert env[picked] > 0.2 * env[MUTE:].max()


def test_recomputing_the_source_wavefield_gives_the_stored_image(survey: dict) -> None:
    g, sx = survey["g"], SHOTS[1]
    stored = survey["migrated"][1]
    recomputed = S.rtm_shot(survey["mig"], survey["shots"][sx], g, sx, snapshot_mb=0.2)
    assert stored.mode == "store" and recomputed.mode == "recompute"
    assert recomputed.steps > stored.steps  # the source was propagated twice
    np.testing.assert_allclose(
        recomputed.image, stored.image, rtol=0, atol=1e-6 * np.abs(stored.image).max()
    )


def test_torch_rtm_matches_numpy(survey: dict) -> None:
    pytest.importorskip("torch")
    g, sx = survey["g"], SHOTS[2]
    ref = survey["migrated"][2].image
    got = S.rtm_shot(survey["mig"], survey["shots"][sx], g, sx, backend="torch").image
    assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max()


def test_rtm_refuses_data_of_another_geometry(survey: dict) -> None:
    g = survey["g"]
    with pytest.raises(SpecError, match="To fix: migrate with the geometry"):
        S.rtm_shot(survey["mig"], np.zeros((g.nt - 1, NX), np.float32), g, 10)
    with pytest.raises(SpecError, match="no shot images"):
        S.stack([])

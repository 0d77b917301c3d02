"""Seismic imaging: synthetic models, shot modelling, reverse-time migration and stacking.

All propagation goes through ``tessera.kernels.wave.Propagator`` (NumPy on the CPU, PyTorch on
``cpu``/``cuda``). Time sample ``n`` of a trace or a snapshot is the field at ``n * dt``.

Reverse-time migration of one shot (``rtm_shot``):

1. propagate the source in the migration model, keeping the source wavefield every
   ``image_every`` steps and the data it predicts at the receivers (the direct wave and
   anything else the smooth model explains);
2. back-propagate the residual (recorded minus predicted: the reflections) from the
   receivers, time reversed;
3. image with the zero-lag cross-correlation ``I(x) = sum_t S(x, t) R(x, t)``.

The source wavefield is stored when it fits ``snapshot_mb``; otherwise it is recomputed
segment by segment from checkpoints (two forward propagations instead of one, memory of one
segment plus two fields per checkpoint).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from tessera.errors import SpecError
from tessera.kernels.backends import Ops, make_ops, resolve_target
from tessera.kernels.wave import (
    ARRAYS_PER_STEP,
    FLOPS_PER_CELL,
    Propagator,
    mul_into,
    ricker,
    stable_dt,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Geometry:
    """Grid and acquisition: spacing, time sampling, wavelet and receiver line.

    Attributes:
        dx: grid spacing in metres.
        dt: time step in seconds.
        nt: time steps per shot.
        f0: Ricker peak frequency in Hz.
        source_depth: source depth index (cells).
        receiver_depth: receiver line depth index (cells).
        receiver_step: one receiver every this many cells along the line.
        nb: sponge width in cells.
    """

    dx: float
    dt: float
    nt: int
    f0: float = 15.0
    source_depth: int = 2
    receiver_depth: int = 2
    receiver_step: int = 1
    nb: int = 20

    def receivers(self, nx: int) -> tuple[np.ndarray, np.ndarray]:
        """Depth and lateral indices of the receiver line across a model ``nx`` wide."""
        ix = np.arange(0, nx, self.receiver_step)
        return np.full_like(ix, self.receiver_depth), ix


def geometry_for(velocity: np.ndarray, dx: float, duration_s: float, **kw: Any) -> Geometry:
    """A ``Geometry`` with a stable ``dt`` (Courant 0.5) and enough steps for ``duration_s``."""
    dt = stable_dt(float(np.max(velocity)), dx)
    return Geometry(dx=dx, dt=dt, nt=int(math.ceil(duration_s / dt)), **kw)


def layered_model(
    nz: int,
    nx: int,
    velocities: tuple[float, ...] = (1800.0, 2400.0, 3000.0),
    interfaces: tuple[float, ...] = (0.30, 0.55),
    salt: tuple[float, float, float, float] | None = (0.47, 0.68, 0.10, 0.14),
    salt_velocity: float = 4500.0,
) -> np.ndarray:
    """Flat layers plus an elliptical salt-like body.

    Args:
        nz, nx: grid size.
        velocities: one velocity per layer, top down (m/s).
        interfaces: depth of each layer boundary as a fraction of ``nz`` (one fewer than
            layers); boundary ``k`` is at cell ``round(interfaces[k] * nz)``.
        salt: ``(centre_z, centre_x, semi_z, semi_x)`` as fractions of ``nz``/``nx``, or
            ``None`` for no salt.
        salt_velocity: velocity inside the salt.

    Returns:
        ``(nz, nx)`` float32 velocities.
    """
    if len(velocities) != len(interfaces) + 1:
        raise SpecError(
            f"{len(velocities)} velocities need {len(velocities) - 1} interfaces, "
            f"got {len(interfaces)}",
            "give one interface depth fewer than velocities",
        )
    vel = np.empty((nz, nx), dtype=np.float32)
    edges = [0, *(interface_cells(interfaces, nz)), nz]
    for v, top, bottom in zip(velocities, edges[:-1], edges[1:], strict=True):
        vel[top:bottom] = v
    if salt is not None:
        cz, cx, az, ax = salt
        z, x = np.mgrid[0:nz, 0:nx]
        inside = ((z - cz * nz) / (az * nz)) ** 2 + ((x - cx * nx) / (ax * nx)) ** 2 <= 1.0
        vel[inside] = salt_velocity
    return vel


def interface_cells(interfaces: tuple[float, ...], nz: int) -> list[int]:
    """Depth indices of layer boundaries given as fractions of ``nz``."""
    return [int(round(f * nz)) for f in interfaces]


def smooth_model(velocity: np.ndarray, sigma_cells: float = 4.0, keep_top: int = 0) -> np.ndarray:
    """Migration model: Gaussian-smoothed slowness, rows above ``keep_top`` left exact."""
    slowness = ndi.gaussian_filter(
        1.0 / np.asarray(velocity, np.float64), sigma_cells, mode="nearest"
    )
    out = (1.0 / slowness).astype(np.float32)
    out[:keep_top] = velocity[:keep_top]
    return out


def _ops(device: str, backend: str | None) -> Ops:
    return make_ops(resolve_target(device, backend))


def model_shot(
    velocity: np.ndarray,
    geometry: Geometry,
    source_x: int,
    device: str = "cpu",
    backend: str | None = None,
    dtype: str = "float32",
) -> np.ndarray:
    """Record one shot: ``(nt, receivers)`` pressure traces (host float32)."""
    ops = _ops(device, backend)
    prop = Propagator(ops, velocity, geometry.dx, geometry.dt, geometry.nb, dtype)
    data = _forward(prop, geometry, source_x, snapshots=None)
    return np.asarray(ops.to_host(data), dtype=np.float32)


def _forward(
    prop: Propagator,
    g: Geometry,
    source_x: int,
    snapshots: Any | None,
    image_every: int = 1,
    start: int = 0,
    stop: int | None = None,
    checkpoints: dict[int, tuple[Any, Any]] | None = None,
    segment: int = 0,
) -> Any:
    """Propagate the source from ``start`` to ``stop``; record receivers; keep snapshots.

    ``snapshots[j]`` receives the field at the ``j``-th imaging time (a multiple of
    ``image_every``) at or after ``start``. With ``checkpoints``, the state at every multiple
    of ``segment`` is copied into it.
    """
    ops = prop.ops
    stop = g.nt if stop is None else stop
    rz, rx = g.receivers(prop.shape[1])
    rec = prop.index(rz, rx)
    src = prop.index([g.source_depth], [source_x])
    wavelet = ops.to_device(ricker(g.f0, g.dt, g.nt).astype(prop.dtype))
    data = ops.to_device(np.zeros((stop - start, len(rx)), dtype=prop.dtype))
    first = -(-start // image_every)
    for n in range(start, stop):
        if checkpoints is not None and segment and n % segment == 0:
            checkpoints[n] = (_copy(prop.cur), _copy(prop.prev))
        data[n - start] = prop.record(rec)
        if snapshots is not None and n % image_every == 0:
            snapshots[n // image_every - first][...] = prop.interior()
        prop.step()
        prop.inject(src, wavelet[n : n + 1])
    return data


def _copy(x: Any) -> Any:
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


@dataclass(frozen=True)
class ShotImage:
    """One migrated shot.

    Attributes:
        image: ``(nz, nx)`` zero-lag cross-correlation of source and receiver wavefields.
        illumination: ``(nz, nx)`` sum of the squared source wavefield at imaging times.
        steps: time steps propagated (all passes).
        cells: grid cells updated per step.
        mode: ``store`` or ``recompute`` (how the source wavefield was kept).
        seconds: wall time.
    """

    image: np.ndarray
    illumination: np.ndarray
    steps: int
    cells: int
    mode: str
    seconds: float

    @property
    def stencil_bytes(self) -> int:
        """Minimum bytes the propagation moved (4 float32/64 arrays per cell and step)."""
        return ARRAYS_PER_STEP * self.cells * self.steps * self.image.dtype.itemsize

    @property
    def stencil_flops(self) -> int:
        """Floating-point operations of the propagation."""
        return FLOPS_PER_CELL * self.cells * self.steps


def image_interval(g: Geometry) -> int:
    """Steps between imaging times: Nyquist for the image's content (up to ``2 * 2.5 f0``)."""
    return max(1, int(1.0 / (2.0 * 5.0 * g.f0 * g.dt)))


def rtm_shot(
    velocity: np.ndarray,
    data: np.ndarray,
    geometry: Geometry,
    source_x: int,
    image_every: int | None = None,
    snapshot_mb: float = 512.0,
    device: str = "cpu",
    backend: str | None = None,
    dtype: str = "float32",
) -> ShotImage:
    """Reverse-time migration of one shot in ``velocity`` (the migration model).

    Args:
        velocity: ``(nz, nx)`` migration velocities (smooth, e.g. ``smooth_model``).
        data: ``(nt, receivers)`` recorded traces (``model_shot`` or field data).
        geometry: the acquisition the data was recorded with.
        source_x: lateral index of the source.
        image_every: steps between imaging times; default ``image_interval(geometry)``.
        snapshot_mb: memory allowed for the stored source wavefield; above it, recompute.
        device, backend, dtype: where and in what precision to run.

    Raises:
        SpecError: data whose shape does not match the geometry.
    """
    started = time.perf_counter()
    g = geometry
    nz, nx = velocity.shape
    n_rec = len(g.receivers(nx)[1])
    if data.shape != (g.nt, n_rec):
        raise SpecError(
            f"data has shape {data.shape}, the geometry records ({g.nt}, {n_rec})",
            "migrate with the geometry the shot was modelled with",
        )
    k = image_every or image_interval(g)
    ops = _ops(device, backend)
    src_prop = Propagator(ops, velocity, g.dx, g.dt, g.nb, dtype)
    rec_prop = Propagator(ops, velocity, g.dx, g.dt, g.nb, dtype)
    itemsize = src_prop.dtype.itemsize
    n_images = (g.nt + k - 1) // k
    snap_budget = max(1, int(snapshot_mb * 2**20 // (nz * nx * itemsize)))
    store = n_images <= snap_budget
    segment = g.nt if store else k * max(1, min(snap_budget, int(math.sqrt(n_images))))
    snaps = ops.to_device(np.zeros((min(n_images, segment // k + 1), nz, nx), src_prop.dtype))
    checkpoints: dict[int, tuple[Any, Any]] = {}
    predicted = _forward(
        src_prop,
        g,
        source_x,
        snaps if store else None,
        k,
        checkpoints=checkpoints,
        segment=0 if store else segment,
    )
    residual = ops.to_device(np.ascontiguousarray(data[::-1], dtype=src_prop.dtype))
    residual -= predicted.flip(0) if not isinstance(predicted, np.ndarray) else predicted[::-1]
    rz, rx = g.receivers(nx)
    rec = rec_prop.index(rz, rx)
    image = ops.to_device(np.zeros((nz, nx), src_prop.dtype))
    illum = ops.to_device(np.zeros((nz, nx), src_prop.dtype))
    tmp = ops.to_device(np.zeros((nz, nx), src_prop.dtype))
    fused = src_prop.engine == "numba"
    steps = g.nt
    starts = [0] if store else sorted(checkpoints, reverse=True)
    n = g.nt - 1
    for seg_start in starts:
        if not store:
            cur, prev = checkpoints[seg_start]
            src_prop.cur[...] = cur
            src_prop.prev[...] = prev
            stop = min(g.nt, seg_start + segment)
            _forward(src_prop, g, source_x, snaps, k, start=seg_start, stop=stop)
            steps += stop - seg_start
        base = -(-seg_start // k)
        # the receiver wavefield at time n, then one step back in time
        while n >= seg_start:
            if n % k == 0:
                _correlate(snaps[n // k - base], rec_prop.interior(), image, illum, tmp, fused)
            rec_prop.step()
            rec_prop.inject(rec, residual[g.nt - 1 - n])
            n -= 1
    steps += g.nt
    ops.sync()
    out = ShotImage(
        image=np.asarray(ops.to_host(image), dtype=np.float32),
        illumination=np.asarray(ops.to_host(illum), dtype=np.float32),
        steps=steps,
        cells=src_prop.cells,
        mode="store" if store else "recompute",
        seconds=time.perf_counter() - started,
    )
    ops.release()
    return out


def _correlate(s: Any, r: Any, image: Any, illum: Any, tmp: Any, fused: bool) -> None:
    """The imaging condition at one time: ``image += s r``, ``illum += s^2``."""
    if fused:
        from tessera.kernels import _wave_numba

        _wave_numba.correlate(s, r, image, illum)
        return
    mul_into(s, r, tmp)
    image += tmp
    mul_into(s, s, tmp)
    illum += tmp


def stack(
    images: list[np.ndarray], illuminations: list[np.ndarray] | None = None, mute: int = 0
) -> np.ndarray:
    """Sum shot images, normalise by total illumination if given, then a Laplacian filter.

    ``mute`` rows at the top (where sources and receivers sit and the image is only their
    imprint) are zeroed, with a half-cosine taper over as many rows again.

    The Laplacian (``-lap(I)``) removes the low-wavenumber backscatter that the
    cross-correlation condition leaves along sharp velocity changes and sharpens reflectors;
    illumination normalisation balances shallow and deep energy.

    Raises:
        SpecError: no images, or images of different shapes.
    """
    if not images:
        raise SpecError("there are no shot images to stack", "migrate at least one shot first")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise SpecError(
            f"shot images differ in shape: {sorted(shapes)}", "migrate every shot on one grid"
        )
    total = np.sum([np.asarray(im, np.float64) for im in images], axis=0)
    if illuminations:
        illum = np.sum([np.asarray(i, np.float64) for i in illuminations], axis=0)
        total = total / (illum + 1e-3 * float(illum.max()) + np.finfo(np.float64).tiny)
    out = -ndi.laplace(total)
    if mute > 0:
        taper = np.ones(out.shape[0])
        taper[:mute] = 0.0
        ramp = min(mute, out.shape[0] - mute)
        taper[mute : mute + ramp] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 1) / (ramp + 1))
        out *= taper[:, None]
    return out.astype(np.float32)

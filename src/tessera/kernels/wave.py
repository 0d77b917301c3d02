"""The ``wave`` kernel: 2D acoustic finite differences (4th order in space, 2nd in time).

``Propagator`` advances ``p_tt = v^2 (p_xx + p_zz) + f(t) delta(x - x_s)`` on a regular grid
with Cerjan sponge layers on all four sides. One code path runs on NumPy (CPU) and on PyTorch
(``cpu`` or ``cuda``): the update is a fixed sequence of in-place array operations on
preallocated float32/float64 buffers, so a time step allocates nothing.

Seismic modelling and reverse-time migration (``tessera.domains.seismic``) are built on it; the
kernel registered here times plain propagation for ``tessera bench``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from tessera.errors import SpecError
from tessera.kernels._base import Kernel, max_rel_error, positive
from tessera.kernels.backends import Ops

logger = logging.getLogger(__name__)

#: 4th-order central second derivative: weights of offsets 0, 1, 2.
COEF = (-5.0 / 2.0, 4.0 / 3.0, -1.0 / 12.0)
#: Ghost cells on each side (the stencil's reach).
HALO = 2
#: Largest Courant number ``v_max dt / dx`` that is stable for this scheme in 2D.
CFL_LIMIT = math.sqrt(3.0 / 8.0)
#: Cerjan damping factor applied once per step at the outermost sponge cell.
EDGE_DAMPING = 0.92
#: Floating-point operations per grid cell per step (see ``Propagator.step``).
FLOPS_PER_CELL = 12
#: Arrays a step must touch at minimum: read p(t), p(t - dt) and the velocity, write p(t + dt).
ARRAYS_PER_STEP = 4


def ricker(f0: float, dt: float, nt: int, t0: float | None = None) -> np.ndarray:
    """Ricker wavelet ``(1 - 2 a) exp(-a)``, ``a = (pi f0 (t - t0))^2``, sampled at ``n dt``.

    Args:
        f0: peak frequency (Hz).
        dt: sample interval (s).
        nt: number of samples.
        t0: time of the peak; default ``1.5 / f0`` (the wavelet starts near zero).
    """
    t = np.arange(nt) * dt - (1.5 / f0 if t0 is None else t0)
    a = (math.pi * f0 * t) ** 2
    return ((1.0 - 2.0 * a) * np.exp(-a)).astype(np.float64)


def stable_dt(v_max: float, dx: float, courant: float = 0.5) -> float:
    """A time step ``courant * dx / v_max`` (``courant`` below ``CFL_LIMIT``)."""
    return courant * dx / v_max


def sponge(width: int, edge: float = EDGE_DAMPING) -> np.ndarray:
    """Cerjan factors ``exp(-(a (width - i))^2)`` for ``i = 0 .. width - 1`` (outermost first)."""
    if width == 0:
        return np.ones(0)
    a = math.sqrt(-math.log(edge)) / width
    return np.exp(-((a * (width - np.arange(width))) ** 2))


class Propagator:
    """Time-stepping state for one velocity model on one device.

    The computational grid is the model plus ``nb`` sponge cells on each side (velocity
    extended from the edge), plus ``HALO`` zero cells. Physical cell ``(iz, ix)`` is array
    cell ``(iz + nb + HALO, ix + nb + HALO)``.

    Args:
        ops: the backend (``tessera.kernels.backends.make_ops``).
        velocity: host array ``(nz, nx)`` in m/s.
        dx: grid spacing in metres (same in x and z).
        dt: time step in seconds; must satisfy ``v_max dt / dx <= CFL_LIMIT``.
        nb: sponge width in cells.
        dtype: ``float32`` or ``float64``.
        engine: ``numba`` (fused loop, NumPy backend only), ``arrays`` (whole-array
            operations, any backend) or ``None``: numba when the backend is NumPy and Numba
            imports, else arrays.

    Raises:
        SpecError: a non-positive or non-finite velocity, an unstable time step, or
            ``engine="numba"`` where it cannot run.
    """

    def __init__(
        self,
        ops: Ops,
        velocity: np.ndarray,
        dx: float,
        dt: float,
        nb: int = 20,
        dtype: str = "float32",
        engine: str | None = None,
    ) -> None:
        vel = np.asarray(velocity, dtype=np.float64)
        if vel.ndim != 2 or min(vel.shape) < 1:
            raise SpecError(
                f"velocity must be a 2D array, got shape {vel.shape}",
                "give a (nz, nx) array of velocities in m/s",
            )
        if not np.all(np.isfinite(vel)) or vel.min() <= 0:
            raise SpecError(
                "velocity has non-positive or non-finite values",
                "give velocities > 0 m/s everywhere",
            )
        courant = float(vel.max()) * dt / dx
        if not courant <= CFL_LIMIT:
            raise SpecError(
                f"time step {dt:g} s is unstable: v_max dt / dx = {courant:.3f} > {CFL_LIMIT:.3f}",
                f"use dt <= {CFL_LIMIT * dx / vel.max():.3g} s (e.g. stable_dt(v_max, dx))",
            )
        self.ops, self.dtype, self.nb, self.dx, self.dt = ops, np.dtype(dtype), nb, dx, dt
        self.shape = vel.shape
        self.offset = nb + HALO
        ext = np.pad(vel, nb, mode="edge")
        c1, c2, c0 = COEF[1], COEF[2], 2 * (COEF[0])
        w1 = (ext * dt / dx) ** 2 * c1
        # p(t+dt) = w1 (S1 + r2 S2) + (w1 r0 + 2) p(t) - p(t-dt); S1, S2 = sums of the 4
        # neighbours at distance 1 and 2, r2 = c2 / c1, r0 = c0 / c1 (c0 counts both axes).
        self.r2 = c2 / c1
        self.w1 = self._put(w1)
        self.k0 = self._put(w1 * (c0 / c1) + 2.0)
        full = (ext.shape[0] + 2 * HALO, ext.shape[1] + 2 * HALO)
        self.cur = self._zeros(full)
        self.prev = self._zeros(full)
        self.a = self._zeros(ext.shape)
        self.b = self._zeros(ext.shape)
        damp = sponge(nb)
        self._gz = self._put(damp.reshape(-1, 1))
        self._gx = self._put(damp.reshape(1, -1))
        self._gz_rev = self._put(damp[::-1].reshape(-1, 1).copy())
        self._gx_rev = self._put(damp[::-1].reshape(1, -1).copy())
        self.engine = _choose_engine(engine, ops)
        if self.engine == "numba":
            self._g_z, self._g_x = (_edge_profile(m, damp, self.dtype) for m in ext.shape)

    @property
    def cells(self) -> int:
        """Grid cells updated per step (model plus sponge)."""
        return int(self.a.shape[0] * self.a.shape[1])

    def _put(self, x: np.ndarray) -> Any:
        return self.ops.to_device(np.ascontiguousarray(x, dtype=self.dtype))

    def _zeros(self, shape: tuple[int, ...]) -> Any:
        return self.ops.to_device(np.zeros(shape, dtype=self.dtype))

    def interior(self, field: Any | None = None) -> Any:
        """The physical-model view (no sponge, no halo) of ``field`` (default: ``cur``)."""
        f = self.cur if field is None else field
        o = self.offset
        return f[o : o + self.shape[0], o : o + self.shape[1]]

    def index(self, iz: Sequence[int] | np.ndarray, ix: Sequence[int] | np.ndarray) -> Any:
        """Array indices of physical cells, for ``record``/``inject`` (device arrays)."""
        iz_a, ix_a = np.asarray(iz, dtype=np.int64), np.asarray(ix, dtype=np.int64)
        nz, nx = self.shape
        if iz_a.size and (iz_a.min() < 0 or iz_a.max() >= nz or ix_a.min() < 0 or ix_a.max() >= nx):
            raise SpecError(
                f"a source or receiver lies outside the {nz} x {nx} model",
                f"give depth indices in [0, {nz - 1}] and lateral indices in [0, {nx - 1}]",
            )
        flat = (iz_a + self.offset) * self.cur.shape[1] + (ix_a + self.offset)
        return self.ops.to_device(flat)

    def record(self, flat: Any) -> Any:
        """Values of ``cur`` at flat indices (a new device array)."""
        return self.cur.reshape(-1)[flat]

    def inject(self, flat: Any, values: Any) -> None:
        """Add ``values * dt^2 / dx^2`` at flat indices of ``cur`` (a point force per cell).

        Call it right after ``step``: ``cur`` then holds the new time level.
        """
        scale = self.dt**2 / self.dx**2
        view = self.cur.reshape(-1)
        view[flat] += values * scale

    def step(self) -> None:
        """Advance one time step in place: ``prev`` becomes the new level, then they swap.

        Thirteen whole-grid array operations (12 FLOPs per cell and one sign flip), then the
        sponge factors on the four edge strips of both time levels; or one fused Numba loop.
        """
        if self.engine == "numba":
            from tessera.kernels import _wave_numba

            _wave_numba.step(self.cur, self.prev, self.w1, self.k0, self.r2, self._g_z, self._g_x)
            self.cur, self.prev = self.prev, self.cur
            return
        p, a, b, h = self.cur, self.a, self.b, HALO
        zn, xn = a.shape
        c = p[h : h + zn, h : h + xn]
        _add(p[h : h + zn, h - 1 : h - 1 + xn], p[h : h + zn, h + 1 : h + 1 + xn], a)
        a += p[h - 1 : h - 1 + zn, h : h + xn]
        a += p[h + 1 : h + 1 + zn, h : h + xn]
        _add(p[h : h + zn, 0:xn], p[h : h + zn, 4 : 4 + xn], b)
        b += p[0:zn, h : h + xn]
        b += p[4 : 4 + zn, h : h + xn]
        b *= self.r2
        a += b
        a *= self.w1
        mul_into(c, self.k0, b)
        a += b
        q = self.prev[h : h + zn, h : h + xn]
        q *= -1.0
        q += a
        self._damp(q)
        self._damp(c)
        self.cur, self.prev = self.prev, self.cur

    def _damp(self, f: Any) -> None:
        nb = self.nb
        if nb == 0:
            return
        f[:nb, :] *= self._gz
        f[-nb:, :] *= self._gz_rev
        f[:, :nb] *= self._gx
        f[:, -nb:] *= self._gx_rev


ENGINES = ("numba", "arrays")


def _edge_profile(length: int, damp: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Ones, with the sponge factors on both ends (outermost cell first)."""
    g = np.ones(length, dtype=dtype)
    nb = len(damp)
    g[:nb] = damp
    g[length - nb :] = damp[::-1]
    return g


def _choose_engine(engine: str | None, ops: Ops) -> str:
    if engine not in (None, *ENGINES):
        raise SpecError(f"unknown wave engine {engine!r}", f"use one of: {', '.join(ENGINES)}")
    if engine == "arrays" or (engine is None and ops.name != "numpy"):
        return "arrays"
    if ops.name != "numpy":
        raise SpecError(
            f"the numba engine runs on the numpy backend only, not {ops.name}",
            "use engine='arrays' (or leave it unset) with backend=torch",
        )
    try:
        import numba  # noqa: F401
    except ImportError as exc:
        if engine == "numba":
            raise SpecError(
                f"the numba engine needs Numba, which is not installed ({exc})",
                "install it with `pip install 'tessera[fast]'`, or use engine='arrays'",
            ) from exc
        return "arrays"
    return "numba"


def _add(x: Any, y: Any, out: Any) -> None:
    if isinstance(out, np.ndarray):
        np.add(x, y, out=out)
    else:
        out.copy_(x)
        out += y


def mul_into(x: Any, y: Any, out: Any) -> None:
    """``out = x * y`` elementwise, in place, on NumPy or PyTorch arrays."""
    if isinstance(out, np.ndarray):
        np.multiply(x, y, out=out)
    else:
        out.copy_(x)
        out *= y


# --- the benchmark kernel ------------------------------------------------------------------


def make_inputs(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A smooth random velocity model, 1500 to 3500 m/s, ``size x size``."""
    n = p["size"]
    noise = ndi.gaussian_filter(rng.standard_normal((n, n)), sigma=max(1.0, n / 32), mode="wrap")
    noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-12)
    return ((1500.0 + 2000.0 * noise).astype(p["dtype"]),)


def _setup(p: dict[str, Any], velocity: np.ndarray) -> tuple[float, np.ndarray, tuple[int, int]]:
    dt = stable_dt(3500.0, p["dx"])
    wavelet = ricker(p["f0"], dt, p["steps"])
    return dt, wavelet, (velocity.shape[0] // 2, velocity.shape[1] // 2)


def compute(ops: Ops, inputs: tuple[Any, ...], p: dict[str, Any]) -> Any:
    """Propagate a Ricker point source at the centre for ``steps`` steps; the final field."""
    (vel,) = inputs
    host_vel = ops.to_host(vel)
    dt, wavelet, (sz, sx) = _setup(p, host_vel)
    prop = Propagator(ops, host_vel, p["dx"], dt, nb=p["nb"], dtype=p["dtype"])
    src = prop.index([sz], [sx])
    amp = ops.to_device(wavelet.astype(p["dtype"]))
    for n in range(p["steps"]):
        prop.step()
        prop.inject(src, amp[n : n + 1])
    return prop.interior()


def reference(inputs: tuple[np.ndarray, ...], p: dict[str, Any]) -> np.ndarray:
    """The same scheme in float64, with the Laplacian from ``scipy.ndimage.correlate``."""
    (vel,) = inputs
    v = np.asarray(vel, dtype=np.float64)
    dt, wavelet, (sz, sx) = _setup(p, v)
    nb, dx = p["nb"], p["dx"]
    ext = np.pad(v, nb, mode="edge")
    w = np.zeros((5, 5))
    w[2, :] += [COEF[2], COEF[1], COEF[0], COEF[1], COEF[2]]
    w[:, 2] += [COEF[2], COEF[1], COEF[0], COEF[1], COEF[2]]
    g = np.ones(ext.shape)
    if nb:
        damp = sponge(nb)
        g[:nb, :] *= damp[:, None]
        g[-nb:, :] *= damp[::-1, None]
        g[:, :nb] *= damp[None, :]
        g[:, -nb:] *= damp[None, ::-1]
    cur, prev = np.zeros(ext.shape), np.zeros(ext.shape)
    courant2 = (ext * dt / dx) ** 2
    for n in range(p["steps"]):
        lap = ndi.correlate(cur, w, mode="constant")
        nxt = 2 * cur - prev + courant2 * lap
        nxt *= g
        cur *= g
        prev, cur = cur, nxt
        cur[sz + nb, sx + nb] += wavelet[n] * dt**2 / dx**2
    return cur[nb : nb + v.shape[0], nb : nb + v.shape[1]]


def compare(result: np.ndarray, ref: np.ndarray, inputs: tuple, p: dict[str, Any]) -> float:
    """Max error relative to the largest reference value."""
    return max_rel_error(result, ref)


def flops(p: dict[str, Any]) -> int:
    """``12 * (size + 2 nb)^2 * steps``: the update's multiplies and adds per cell and step."""
    return FLOPS_PER_CELL * (p["size"] + 2 * p["nb"]) ** 2 * p["steps"]


def nbytes(p: dict[str, Any]) -> int:
    """``4 * (size + 2 nb)^2 * itemsize * steps``: read p(t), p(t-dt), v; write p(t+dt)."""
    return (
        ARRAYS_PER_STEP
        * (p["size"] + 2 * p["nb"]) ** 2
        * np.dtype(p["dtype"]).itemsize
        * p["steps"]
    )


def tolerance(p: dict[str, Any]) -> float:
    """``2e-3`` in float32 (rounding grows with the steps), ``1e-9`` in float64."""
    return 2e-3 if p["dtype"] == "float32" else 1e-9


def _validate(p: dict[str, Any]) -> None:
    positive("wave", p, "size", "steps", "dx", "f0")
    if p["nb"] < 0:
        raise SpecError(f"kernel 'wave': nb={p['nb']} is negative", "give nb >= 0 (sponge cells)")
    if p["size"] < 8:
        raise SpecError(f"kernel 'wave': size={p['size']} is too small", "give size >= 8")


KERNEL = Kernel(
    name="wave",
    summary="2D acoustic finite-difference propagation (4th order, sponge boundaries)",
    defaults={"size": 512, "steps": 100, "nb": 20, "dx": 10.0, "f0": 10.0},
    size_param="size",
    metric="gbps",
    make_inputs=make_inputs,
    compute=compute,
    reference=reference,
    compare=compare,
    flops=flops,
    bytes=nbytes,
    tolerance=tolerance,
    validate=_validate,
)

"""Runtime prediction: one model per kernel (with its fixed parameters), device and size.

How it is fitted (pure, NumPy and SciPy):

* The points are (size, seconds) pairs from benchmark profiles (warm time) and from the job
  history (succeeded attempts of jobs that named the same model and size feature). Several
  points at one size are reduced to their median.
* Each curve is ``t(n) = t0 + a·n^b``: a fixed overhead ``t0`` (a GPU's launch and transfer
  cost, a process's start) plus a power law. For each exponent ``b`` on a grid over [0, 4],
  ``t0`` and ``a`` come from non-negative least squares (``scipy.optimize.nnls``) on the
  relative residuals ``(t0 + a·n^b − t_i) / t_i``, and the ``b`` with the smallest residual wins.
  With fewer than three sizes there are fewer points than parameters: ``b`` is then the
  median exponent of the same kernel's other curves (else 1, or the two points' own slope
  when no other curve exists), and only ``t0`` and ``a`` are fitted.
* The prediction is the fitted curve times a correction: the log residual of each measured
  size (log measured − log fitted), interpolated linearly in log(size) between measured sizes
  and held constant beyond the ends. So a measurement is its own prediction, a one-off effect
  at a measured size (the seed's GPU warm-up at n = 1000) fades out towards its neighbours
  instead of being ignored, and between and beyond the measurements the curve's shape (its
  overhead and exponent) decides, where the former model extrapolated a straight line in
  log–log space that cannot bend at a fixed overhead.

``loo_errors`` measures the error honestly: each point is predicted by the model fitted without it
(``benchmarks/placement.py`` prints it per profile set and device).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

_MIN_S = 1e-6


def device_kind(device: str) -> str:
    """``cpu`` for ``cpu``, ``gpu`` for ``cuda``, ``cuda:0``, ``gpu``; ``cpu/2`` (2 threads) stays."""
    d = str(device)
    if d.startswith("cpu/"):
        return d
    return "cpu" if d.startswith("cpu") else "gpu"


def with_threads(device: str, threads: Any) -> str:
    """A CPU curve measured at a fixed thread count is its own device: ``cpu/2``."""
    kind = device_kind(device)
    return f"{kind}/{int(threads)}" if kind == "cpu" and threads else kind


@dataclass(frozen=True)
class Curve:
    """Runtime against size for one (model, device): sorted log points and ``t0 + a·n^b``."""

    log_x: tuple[float, ...]
    log_y: tuple[float, ...]
    t0: float
    a: float
    b: float

    @property
    def slope(self) -> float:
        """The fitted exponent ``b`` (how time grows with size, past the overhead)."""
        return self.b

    def fitted(self, size: float) -> float:
        return max(_MIN_S, self.t0 + self.a * size ** self.b)

    def predict(self, size: float) -> float:
        """The fitted curve, corrected by the measurements' residuals: through every measured
        point, their log residuals interpolated between measured sizes, the nearest end's held beyond."""
        lx = math.log(size)
        resid = [ly - math.log(self.fitted(math.exp(x))) for x, ly in zip(self.log_x, self.log_y, strict=True)]
        return self.fitted(size) * math.exp(float(np.interp(lx, self.log_x, resid)))


_B_GRID = np.linspace(0.0, 4.0, 161)


def fit_power(sizes: Sequence[float], seconds: Sequence[float], b: float | None = None) -> tuple[float, float, float]:
    """``(t0, a, b)`` of ``t = t0 + a·n^b`` with ``t0, a >= 0``, least relative squares; ``b`` on a
    grid over [0, 4] unless given."""
    x, y = np.asarray(sizes, dtype=float), np.asarray(seconds, dtype=float)
    ref = float(x.max())
    best: tuple[float, float, float, float] | None = None
    for bb in ([b] if b is not None else _B_GRID):
        cols = np.column_stack([np.ones_like(x), (x / ref) ** bb]) / y[:, None]
        coef, resid = nnls(cols, np.ones_like(y))
        if best is None or resid < best[0] - 1e-12:
            best = (float(resid), float(coef[0]), float(coef[1]), float(bb))
    assert best is not None
    _, t0, a_ref, bb = best
    return t0, a_ref / ref ** bb, bb


def fit_slope(log_x: Sequence[float], log_y: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(size), clamped to [0, 4]; None under 2 sizes."""
    if len(log_x) < 2:
        return None
    slope = float(np.polyfit(np.asarray(log_x), np.asarray(log_y), 1)[0])
    return min(4.0, max(0.0, slope))


def fit_curve(points: Iterable[tuple[float, float]], default_slope: float | None = None) -> Curve | None:
    """A curve through (size, seconds) points; None without a usable point. ``default_slope``:
    the exponent to use when there are too few sizes to fit one (the kernel's, from other devices)."""
    by_size: dict[float, list[float]] = defaultdict(list)
    for size, seconds in points:
        if size > 0 and seconds > 0 and math.isfinite(size) and math.isfinite(seconds):
            by_size[float(size)].append(max(seconds, _MIN_S))
    if not by_size:
        return None
    sizes = sorted(by_size)
    times = [statistics.median(by_size[s]) for s in sizes]
    lx = tuple(math.log(s) for s in sizes)
    ly = tuple(math.log(t) for t in times)
    if len(sizes) >= 3:
        t0, a, b = fit_power(sizes, times)
    else:
        b = default_slope if default_slope is not None else (fit_slope(lx, ly) or 1.0)
        t0, a, b = fit_power(sizes, times, b)
    return Curve(lx, ly, t0, a, b)


Key = tuple[str, str]  # (model key, device kind)


def model_key(kernel: str, params: Mapping[str, Any] | None = None) -> str:
    """``image[batch=2]``: a kernel with the parameters that are not its size (so they fit apart)."""
    own = sorted((k, v) for k, v in (params or {}).items() if k not in _NOT_SHAPE)
    return kernel + (f"[{','.join(f'{k}={v}' for k, v in own)}]" if own else "")


_NOT_SHAPE = {"n", "size", "device", "backend", "repeat", "check", "threads", "seed", "dtype"}


class RuntimeModel:
    """Curves per (model key, device kind), fitted from profile rows and history points."""

    def __init__(self, points: Mapping[Key, Sequence[tuple[float, float]]]) -> None:
        self.points = {k: list(v) for k, v in points.items() if v}
        slopes: dict[str, list[float]] = defaultdict(list)
        for (key, _dev), pts in self.points.items():
            c = fit_curve(pts)
            if c is not None and len(c.log_x) >= 3:
                slopes[key.split("[")[0]].append(c.slope)
        self._kernel_slope = {k: statistics.median(v) for k, v in slopes.items()}
        self.curves: dict[Key, Curve] = {}
        for (key, dev), pts in self.points.items():
            c = fit_curve(pts, self._kernel_slope.get(key.split("[")[0]))
            if c is not None:
                self.curves[(key, dev)] = c

    @classmethod
    def from_rows(cls, profiles: Iterable[Mapping[str, Any]],
                  history: Iterable[tuple[str, str, float, float]] = ()) -> RuntimeModel:
        """Profiles as ``tessera bench`` saves them (kernel, size, device, warm_s, params) plus
        history points (model key, device kind, size, seconds)."""
        pts: dict[Key, list[tuple[float, float]]] = defaultdict(list)
        for r in profiles:
            if r.get("warm_s") is None:
                continue
            params = r.get("params") or {}
            key = model_key(str(r["kernel"]), params)
            pts[(key, with_threads(str(r["device"]), params.get("threads")))].append(
                (float(r["size"]), float(r["warm_s"])))
        for key, dev, size, seconds in history:
            pts[(key, device_kind(dev))].append((size, seconds))
        return cls(pts)

    def predict(self, key: str, device: str, size: float, threads: int | None = None) -> float | None:
        """Seconds for ``key`` on ``device`` at ``size`` (on the CPU: with ``threads`` when that
        was measured, else the default thread count); None when nothing was measured for it."""
        c = self.curves.get((key, with_threads(device, threads))) or self.curves.get((key, device_kind(device)))
        return None if c is None else c.predict(size)

    def loo_errors(self) -> list[dict[str, Any]]:
        """Leave-one-out: each measured size predicted from the others of its curve (2+ sizes)."""
        out = []
        for (key, dev), pts in sorted(self.points.items()):
            sizes = sorted({s for s, _ in pts})
            if len(sizes) < 2:
                continue
            for s in sizes:
                rest = [p for p in pts if p[0] != s]
                c = fit_curve(rest, self._kernel_slope.get(key.split("[")[0]))
                actual = statistics.median(t for x, t in pts if x == s)
                if c is None:
                    continue
                pred = c.predict(s)
                out.append({"model": key, "device": dev, "size": s, "actual_s": actual, "predicted_s": pred,
                            "error": abs(pred - actual) / actual})
        return out

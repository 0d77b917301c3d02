"""Runtime prediction: one model per kernel (with its fixed parameters), device and size.

How it is fitted (pure, NumPy only):

* The points are (size, seconds) pairs from benchmark profiles (warm time) and from the job
  history (succeeded attempts of jobs that named the same model and size feature). Several
  points at one size are reduced to their median.
* Inside the measured range, the prediction interpolates linearly between neighbouring points
  in log(size)–log(seconds) space, so it passes through every measurement (a measured profile is
  its own best prediction) and keeps non-monotone effects such as a GPU's fixed launch cost.
* Outside the range it extrapolates from the nearest end point along the least-squares slope
  of log(seconds) on log(size) over all points (the fitted exponent, e.g. ~3 for matmul time in n),
  clamped to [0, 4]; with one point, the exponent of the same kernel on other devices, else 1.

``loo_errors`` measures the error honestly: each point is predicted by the model fitted without it.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    """Runtime against size for one (model, device): sorted log points and a fitted slope."""

    log_x: tuple[float, ...]
    log_y: tuple[float, ...]
    slope: float

    def predict(self, size: float) -> float:
        lx = math.log(size)
        xs, ys = self.log_x, self.log_y
        if len(xs) == 1:
            return math.exp(ys[0] + self.slope * (lx - xs[0]))
        if lx <= xs[0]:
            return math.exp(ys[0] + self.slope * (lx - xs[0]))
        if lx >= xs[-1]:
            return math.exp(ys[-1] + self.slope * (lx - xs[-1]))
        return float(math.exp(np.interp(lx, xs, ys)))


def fit_slope(log_x: Sequence[float], log_y: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(size), clamped to [0, 4]; None under 2 sizes."""
    if len(log_x) < 2:
        return None
    slope = float(np.polyfit(np.asarray(log_x), np.asarray(log_y), 1)[0])
    return min(4.0, max(0.0, slope))


def fit_curve(points: Iterable[tuple[float, float]], default_slope: float = 1.0) -> Curve | None:
    """A curve through (size, seconds) points; None without a usable point."""
    by_size: dict[float, list[float]] = defaultdict(list)
    for size, seconds in points:
        if size > 0 and seconds > 0 and math.isfinite(size) and math.isfinite(seconds):
            by_size[float(size)].append(max(seconds, _MIN_S))
    if not by_size:
        return None
    sizes = sorted(by_size)
    lx = tuple(math.log(s) for s in sizes)
    ly = tuple(math.log(statistics.median(by_size[s])) for s in sizes)
    slope = fit_slope(lx, ly)
    return Curve(lx, ly, default_slope if slope is None else slope)


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
            if c is not None and len(c.log_x) >= 2:
                slopes[key.split("[")[0]].append(c.slope)
        self._kernel_slope = {k: statistics.median(v) for k, v in slopes.items()}
        self.curves: dict[Key, Curve] = {}
        for (key, dev), pts in self.points.items():
            c = fit_curve(pts, self._kernel_slope.get(key.split("[")[0], 1.0))
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
                c = fit_curve(rest, self._kernel_slope.get(key.split("[")[0], 1.0))
                actual = statistics.median(t for x, t in pts if x == s)
                if c is None:
                    continue
                pred = c.predict(s)
                out.append({"model": key, "device": dev, "size": s, "actual_s": actual, "predicted_s": pred,
                            "error": abs(pred - actual) / actual})
        return out

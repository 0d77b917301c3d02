"""1-D filter weights and the multi-threaded separable correlation used by the NumPy backend."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.ndimage as ndi

logger = logging.getLogger(__name__)

#: Gaussian kernels are cut at ``truncate * sigma`` (SciPy's default, so results match it).
TRUNCATE = 4.0
#: Sobel's smoothing and derivative taps (correlation order, like ``scipy.ndimage.sobel``).
SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])
SOBEL_DIFF = np.array([-1.0, 0.0, 1.0])

_POOLS: dict[int, ThreadPoolExecutor] = {}
#: Below this many elements a single thread is faster than splitting.
_MIN_PARALLEL = 1 << 16


def gaussian_weights(sigma: float, truncate: float = TRUNCATE) -> np.ndarray:
    """Normalised float64 Gaussian taps of radius ``int(truncate * sigma + 0.5)``.

    Args:
        sigma: standard deviation in pixels (> 0).
        truncate: radius in standard deviations.

    Returns:
        ``2 * radius + 1`` weights summing to 1 (identical to SciPy's ``gaussian_filter1d``).
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def reflect_indices(length: int, radius: int) -> np.ndarray:
    """Indices that pad an axis of ``length`` by ``radius`` with half-sample symmetry.

    This is SciPy's ``mode="reflect"`` (``d c b a | a b c d | d c b a``), folded as many
    times as needed when ``radius > length``.
    """
    idx = np.arange(-radius, length + radius)
    period = 2 * length
    m = np.mod(idx, period)
    return np.where(m >= length, period - 1 - m, m)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _pool(threads: int) -> ThreadPoolExecutor:
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="tessera-filter")
    return pool


def _chunk_bounds(length: int, halo: int, threads: int) -> list[tuple[int, int]]:
    """Split ``length`` rows into a multiple of ``threads`` chunks, each >> the halo."""
    per_thread = max(1, min(16, length // max(32 * halo, 64) // threads))
    count = min(length, threads * per_thread)
    edges = np.linspace(0, length, count + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def separable_numpy(
    x: np.ndarray,
    passes: Sequence[tuple[int, np.ndarray]],
    threads: int | None = None,
) -> np.ndarray:
    """Apply 1-D correlations one after another, split across threads.

    Each pass is ``scipy.ndimage.correlate1d(mode="reflect")`` along one axis. The array is
    cut into bands along its second-to-last axis; each band carries a halo of rows equal to
    the summed radii of the passes along that axis, so every kept row is exact. SciPy
    releases the GIL inside ``correlate1d``, so the bands run in parallel.

    Args:
        x: array of two or more dimensions; filtered axes are among the last two.
        passes: ``(axis, weights)`` pairs, applied in order; axes may be negative.
        threads: worker threads; ``None`` uses every available core.

    Returns:
        A new array of ``x``'s shape and dtype.
    """
    threads = threads or available_cores()
    band_axis = x.ndim - 2
    norm = [(a % x.ndim, np.asarray(w, dtype=x.dtype)) for a, w in passes]
    halo = sum(len(w) // 2 for a, w in norm if a == band_axis)
    length = x.shape[band_axis]
    if threads == 1 or x.size < _MIN_PARALLEL or length < 2 * threads:
        return _apply(x, norm)
    out = np.empty_like(x)

    def band(bounds: tuple[int, int]) -> None:
        a, b = bounds
        lo, hi = max(a - halo, 0), min(b + halo, length)
        part = _apply(_take(x, band_axis, lo, hi), norm)
        _take(out, band_axis, a, b)[...] = _take(part, band_axis, a - lo, a - lo + b - a)

    list(_pool(threads).map(band, _chunk_bounds(length, halo, threads)))
    return out


def _apply(x: np.ndarray, passes: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
    out = x
    for axis, w in passes:
        out = ndi.correlate1d(out, w, axis=axis, mode="reflect")
    return out


def _take(x: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
    index = [slice(None)] * x.ndim
    index[axis] = slice(lo, hi)
    return x[tuple(index)]

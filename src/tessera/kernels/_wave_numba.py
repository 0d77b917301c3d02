"""The ``wave`` kernel's time step as one fused Numba loop (optional: ``pip install numba``).

Imported only when a NumPy propagator asks for it. One pass over the grid reads p(t), p(t-dt)
and the two coefficient arrays and writes p(t+dt), with the Cerjan sponge folded in: damping
the old level after the step (as the array path does) only matters through its use as
p(t - dt) in the next step, so ``q = g (w1 (S1 + r2 S2) + k0 p - g q)`` is the same update.
"""

from __future__ import annotations

import logging
from typing import Any

import numba
import numpy as np

logger = logging.getLogger(__name__)


@numba.njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
def _step(
    p: np.ndarray,
    q: np.ndarray,
    w1: np.ndarray,
    k0: np.ndarray,
    r2: float,
    gz: np.ndarray,
    gx: np.ndarray,
) -> None:  # pragma: no cover - compiled
    zn, xn = w1.shape
    for i in range(zn):
        for j in range(xn):
            s1 = p[i + 2, j + 1] + p[i + 2, j + 3] + p[i + 1, j + 2] + p[i + 3, j + 2]
            s2 = p[i + 2, j] + p[i + 2, j + 4] + p[i, j + 2] + p[i + 4, j + 2]
            g = gz[i] * gx[j]
            q[i + 2, j + 2] = g * (
                w1[i, j] * (s1 + r2 * s2) + k0[i, j] * p[i + 2, j + 2] - g * q[i + 2, j + 2]
            )


def step(p: Any, q: Any, w1: Any, k0: Any, r2: float, gz: Any, gx: Any) -> None:
    """Write p(t + dt) into ``q`` in place (all arrays C-contiguous NumPy, one dtype)."""
    _step(p, q, w1, k0, q.dtype.type(r2), gz, gx)


@numba.njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
def _correlate(
    s: np.ndarray, r: np.ndarray, image: np.ndarray, illum: np.ndarray
) -> None:  # pragma: no cover - compiled
    nz, nx = image.shape
    for i in range(nz):
        for j in range(nx):
            a = s[i, j]
            image[i, j] += a * r[i, j]
            illum[i, j] += a * a


def correlate(s: Any, r: Any, image: Any, illum: Any) -> None:
    """``image += s * r`` and ``illum += s * s`` in one pass (the imaging condition)."""
    _correlate(s, r, image, illum)

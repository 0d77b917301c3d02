"""The analytic 2D acoustic Green's function in a homogeneous medium (frequency domain)."""

from __future__ import annotations

import logging

import numpy as np
import scipy.special as sp

logger = logging.getLogger(__name__)


def green_trace(wavelet: np.ndarray, dt: float, distance_m: float, velocity: float) -> np.ndarray:
    """Pressure at ``distance_m`` from a point source with time function ``wavelet``.

    Solves ``p_tt = v^2 lap(p) + f(t) delta(x)`` in 2D: in the frequency domain (time factor
    ``exp(i w t)``, as NumPy's FFT) ``P(w) = F(w) (-i / 4) H0^(2)(w r / v) / v^2``, the
    outgoing wave. The wavelet is padded to four times its length so the inverse FFT does not
    wrap the tail of the (slowly decaying, 2D) response around.

    Args:
        wavelet: source samples ``f(n dt)`` (zero mean, e.g. a Ricker wavelet).
        dt: sample interval in seconds.
        distance_m: source-receiver distance (> 0).
        velocity: medium velocity in m/s.

    Returns:
        ``len(wavelet)`` samples of pressure at the receiver.
    """
    nt = len(wavelet)
    nfft = 4 * nt
    spec = np.fft.rfft(np.asarray(wavelet, dtype=np.float64), nfft)
    omega = 2 * np.pi * np.fft.rfftfreq(nfft, dt)
    green = np.zeros_like(spec)
    k = omega[1:] * distance_m / velocity
    green[1:] = -0.25j * sp.hankel2(0, k) / velocity**2
    return np.fft.irfft(spec * green, nfft)[:nt]

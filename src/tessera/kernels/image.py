"""The ``image`` kernel: grey -> Gaussian -> Sobel magnitude -> 2x area downscale -> equalise.

On a batch of ``batch`` RGB images of ``size x size`` pixels (channel last, values in
[0, 1)), each image goes through, in order:

1. colour conversion to grey with the BT.601 luma weights (0.299, 0.587, 0.114);
2. a separable Gaussian blur, sigma 1.0, radius 4 (9 taps), SciPy ``reflect`` borders;
3. Sobel gradient magnitude ``sqrt(gx^2 + gy^2)`` (separable [1, 2, 1] x [-1, 0, 1],
   same borders as ``scipy.ndimage.sobel``);
4. a 2x downscale by area averaging (each output pixel is the mean of a 2 x 2 block);
5. histogram equalisation per image over 256 bins on [0, max]: each pixel maps to the
   image's cumulative distribution, linearly interpolated inside its bin (the exact CDF of a
   piecewise-uniform density, as ``np.interp`` over the bin edges), so results are in [0, 1].

The output is ``(batch, size / 2, size / 2)``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from tessera.errors import SpecError
from tessera.kernels._base import Kernel, max_rel_error, positive
from tessera.kernels.filters import SOBEL_DIFF, SOBEL_SMOOTH, TRUNCATE, gaussian_weights

logger = logging.getLogger(__name__)

LUMA = (0.299, 0.587, 0.114)
SIGMA = 1.0
BINS = 256


def make_inputs(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``batch`` RGB images ``(batch, size, size, 3)``, uniform in [0, 1)."""
    shape = (p["batch"], p["size"], p["size"], 3)
    return (rng.random(shape, dtype=np.float64).astype(p["dtype"]),)


def compute(ops: Any, inputs: tuple[Any, ...], p: dict[str, Any]) -> Any:
    """The five stages above, written once for every backend."""
    (rgb,) = inputs
    grey = rgb @ ops.const(LUMA, rgb)
    w = gaussian_weights(SIGMA)
    smooth = ops.separable(grey, [(-1, w), (-2, w)])
    gx = ops.separable(smooth, [(-2, SOBEL_SMOOTH), (-1, SOBEL_DIFF)])
    gy = ops.separable(smooth, [(-1, SOBEL_SMOOTH), (-2, SOBEL_DIFF)])
    mag = (gx * gx + gy * gy) ** 0.5
    b, h, wd = mag.shape
    small = mag.reshape(b, h // 2, 2, wd // 2, 2).mean((2, 4))
    t = small * (BINS / ops.amax(small, (1, 2)))
    q = ops.floor_index(t, BINS - 1)
    frac = t - ops.cast(q, t)
    pixels = float((h // 2) * (wd // 2))
    out = []
    for i in range(b):
        pdf = ops.cast(ops.bincount(q[i], BINS), t) / pixels
        cdf_lo = pdf.cumsum(0) - pdf
        out.append(cdf_lo[q[i]] + frac[i] * pdf[q[i]])
    return ops.stack(out)


def reference(inputs: tuple[np.ndarray, ...], p: dict[str, Any]) -> np.ndarray:
    """The same stages in float64, written with SciPy and NumPy library calls."""
    (rgb,) = inputs
    grey = rgb.astype(np.float64) @ np.asarray(LUMA)
    smooth = ndi.gaussian_filter(grey, (0, SIGMA, SIGMA), mode="reflect", truncate=TRUNCATE)
    out = []
    for img in smooth:
        mag = np.hypot(ndi.sobel(img, axis=1), ndi.sobel(img, axis=0))
        h, w = mag.shape
        small = mag.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        x = small / small.max()
        hist, edges = np.histogram(x, bins=BINS, range=(0.0, 1.0))
        cdf = np.concatenate([[0.0], np.cumsum(hist) / x.size])
        out.append(np.interp(x, edges, cdf))
    return np.stack(out)


def compare(result: np.ndarray, ref: np.ndarray, inputs: tuple, p: dict[str, Any]) -> float:
    """Max absolute error (outputs are in [0, 1], so relative to max |reference| = 1)."""
    return max_rel_error(result, ref)


def flops(p: dict[str, Any]) -> int:
    """``64 N + 6 M`` with N = batch * size^2 input pixels and M = N / 4 output pixels.

    Per input pixel: grey 5 (3 mul, 2 add); Gaussian 2 * (2 * 9 - 1) = 34; Sobel four 3-tap
    passes 4 * 5 = 20 plus magnitude 4 (2 mul, 1 add, 1 sqrt); downscale 1 (3 adds and a
    multiply per 4 pixels). Per output pixel, equalisation 6 (max, scale, floor remainder,
    subtract, multiply, add); the 256-bin cumulative sums are negligible and not counted.
    """
    n = p["batch"] * p["size"] ** 2
    return 64 * n + 6 * (n // 4)


def nbytes(p: dict[str, Any]) -> int:
    """``(3 N + N / 4) * itemsize``: read three channels once, write the quarter-size result."""
    n = p["batch"] * p["size"] ** 2
    return (3 * n + n // 4) * np.dtype(p["dtype"]).itemsize


def tolerance(p: dict[str, Any]) -> float:
    """``2e-4`` for float32 and ``1e-9`` for float64, absolute on a [0, 1] result.

    Equalisation amplifies input rounding by 256 x the largest bin probability, and a pixel
    that crosses a bin edge moves one count (1 / M) of the distribution.
    """
    return 2e-4 if p["dtype"] == "float32" else 1e-9


def _validate(p: dict[str, Any]) -> None:
    positive("image", p, "size", "batch")
    if p["size"] < 8 or p["size"] % 2:
        raise SpecError(
            f"kernel 'image': size={p['size']} must be even and at least 8 (2x downscale)",
            "give an even size >= 8, e.g. 2048",
        )


KERNEL = Kernel(
    name="image",
    summary="grey, Gaussian, Sobel, 2x downscale, histogram equalisation on a batch",
    defaults={"size": 2048, "batch": 1},
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

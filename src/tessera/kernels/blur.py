"""The ``blur`` kernel: separable Gaussian blur of one size x size single-channel image."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from tessera.errors import SpecError
from tessera.kernels._base import Kernel, max_rel_error, positive
from tessera.kernels.filters import TRUNCATE, gaussian_weights

logger = logging.getLogger(__name__)


def make_inputs(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One size x size image, uniform in [0, 1)."""
    size = p["size"]
    return (rng.random((size, size), dtype=np.float64).astype(p["dtype"]),)


def compute(ops: Any, inputs: tuple[Any, ...], p: dict[str, Any]) -> Any:
    """Rows then columns: two 1-D Gaussian correlations, SciPy ``mode='reflect'`` borders."""
    (img,) = inputs
    w = gaussian_weights(p["sigma"])
    return ops.separable(img, [(1, w), (0, w)])


def reference(inputs: tuple[np.ndarray, ...], p: dict[str, Any]) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter`` in float64 (same truncation and borders)."""
    (img,) = inputs
    return ndi.gaussian_filter(
        img.astype(np.float64), p["sigma"], mode="reflect", truncate=TRUNCATE
    )


def compare(result: np.ndarray, ref: np.ndarray, inputs: tuple, p: dict[str, Any]) -> float:
    """Max error relative to the largest reference value."""
    return max_rel_error(result, ref)


def taps(p: dict[str, Any]) -> int:
    """Filter length ``2 * int(4 * sigma + 0.5) + 1``."""
    return 2 * int(TRUNCATE * p["sigma"] + 0.5) + 1


def flops(p: dict[str, Any]) -> int:
    """``2 passes * (2T - 1) * size^2``: T multiplies and T - 1 adds per pixel per pass."""
    return 2 * (2 * taps(p) - 1) * p["size"] ** 2


def nbytes(p: dict[str, Any]) -> int:
    """``2 * size^2 * itemsize``: read the image once, write the result once."""
    return 2 * p["size"] ** 2 * np.dtype(p["dtype"]).itemsize


def tolerance(p: dict[str, Any]) -> float:
    """``64 * eps(dtype)`` relative to max |reference| (a convex sum of inputs)."""
    return 64.0 * float(np.finfo(p["dtype"]).eps)


def _validate(p: dict[str, Any]) -> None:
    positive("blur", p, "size", "sigma")
    if p["sigma"] > 256:
        raise SpecError(
            f"kernel 'blur': sigma={p['sigma']} is larger than this kernel supports (256)",
            "give sigma <= 256, or downsample the image first",
        )


KERNEL = Kernel(
    name="blur",
    summary="separable Gaussian blur (any sigma) of a size x size image",
    defaults={"size": 4096, "sigma": 3.0},
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

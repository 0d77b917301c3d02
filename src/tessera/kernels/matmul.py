"""The ``matmul`` kernel: C = A @ B for two dense n x n matrices."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tessera.kernels._base import Kernel, max_rel_error, positive

logger = logging.getLogger(__name__)

#: Above this n the reference checks a sample of rows instead of the whole product.
FULL_CHECK_MAX_N = 1024
SAMPLE_ROWS = 64


def make_inputs(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Two n x n matrices, uniform in [-1, 1), in the requested dtype."""
    n, dtype = p["n"], np.dtype(p["dtype"])
    a = rng.uniform(-1.0, 1.0, size=(n, n)).astype(dtype)
    b = rng.uniform(-1.0, 1.0, size=(n, n)).astype(dtype)
    return a, b


def compute(ops: Any, inputs: tuple[Any, ...], p: dict[str, Any]) -> Any:
    """``a @ b`` (BLAS GEMM through NumPy or PyTorch)."""
    a, b = inputs
    return a @ b


def checked_rows(p: dict[str, Any]) -> np.ndarray:
    """Rows the reference recomputes: all of them up to ``FULL_CHECK_MAX_N``, else a sample."""
    n = p["n"]
    if n <= FULL_CHECK_MAX_N:
        return np.arange(n)
    rng = np.random.default_rng(p["seed"] + 1)
    return np.sort(rng.choice(n, size=SAMPLE_ROWS, replace=False))


def reference(inputs: tuple[np.ndarray, ...], p: dict[str, Any]) -> np.ndarray:
    """Float64 product of the checked rows: ``A[rows] @ B`` in double precision."""
    a, b = inputs
    rows = checked_rows(p)
    return a[rows].astype(np.float64) @ b.astype(np.float64)


def compare(result: np.ndarray, ref: np.ndarray, inputs: tuple, p: dict[str, Any]) -> float:
    """Max error over the checked rows, relative to the largest reference entry."""
    return max_rel_error(result[checked_rows(p)], ref)


def flops(p: dict[str, Any]) -> int:
    """``2 n^3``: n^2 dot products of length n, one multiply and one add per term."""
    return 2 * p["n"] ** 3


def nbytes(p: dict[str, Any]) -> int:
    """``3 n^2 * itemsize``: read A and B once, write C once."""
    return 3 * p["n"] ** 2 * np.dtype(p["dtype"]).itemsize


def tolerance(p: dict[str, Any]) -> float:
    """``8 * eps(dtype) * sqrt(n)`` relative to max |C| (rounding grows like sqrt(n))."""
    return 8.0 * float(np.finfo(p["dtype"]).eps) * float(np.sqrt(p["n"]))


KERNEL = Kernel(
    name="matmul",
    summary="dense n x n matrix product (GEMM)",
    defaults={"n": 1000},
    size_param="n",
    metric="gflops",
    make_inputs=make_inputs,
    compute=compute,
    reference=reference,
    compare=compare,
    flops=flops,
    bytes=nbytes,
    tolerance=tolerance,
    validate=lambda p: positive("matmul", p, "n"),
)

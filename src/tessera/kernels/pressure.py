"""The ``pressure`` kernel: Jacobi-preconditioned conjugate gradients on a reservoir matrix.

``assemble`` builds the two-point-flux finite-volume matrix of ``-div(k grad p)`` on a 2D grid
(harmonic-mean transmissibilities, no-flow boundary) plus a diagonal (storage, wells);
``pcg`` solves with it on NumPy (``scipy.sparse``) or PyTorch (a sparse CSR tensor, ``cpu``
or ``cuda``) with one code path. ``tessera.domains.reservoir`` time-steps with them; the
kernel times a fixed number of iterations, so its FLOPs and bytes are known in advance.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from tessera.kernels._base import Kernel, max_rel_error, positive
from tessera.kernels.backends import Ops, TorchOps

logger = logging.getLogger(__name__)


def transmissibility(
    perm: np.ndarray, dx: float, thickness: float, viscosity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Face transmissibilities ``(ny, nx-1)`` in x and ``(ny-1, nx)`` in y (m^3 / (Pa s)).

    The harmonic mean of neighbouring permeabilities times the face area over distance and
    viscosity: the exact series conductance of two half cells.
    """
    k = perm
    hx = 2.0 * k[:, :-1] * k[:, 1:] / (k[:, :-1] + k[:, 1:])
    hy = 2.0 * k[:-1, :] * k[1:, :] / (k[:-1, :] + k[1:, :])
    scale = dx * thickness / (dx * viscosity)
    return hx * scale, hy * scale


def assemble(
    perm: np.ndarray, dx: float, thickness: float, viscosity: float, diagonal: np.ndarray
) -> sps.csr_matrix:
    """``A = T + diag(diagonal)``: the finite-volume flux matrix ``T`` plus extra diagonal."""
    ny, nx = perm.shape
    n = ny * nx
    tx, ty = transmissibility(perm, dx, thickness, viscosity)
    idx = np.arange(n).reshape(ny, nx)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    t = np.concatenate([tx.ravel(), ty.ravel()])
    diag = np.asarray(diagonal, dtype=np.float64).copy()
    np.add.at(diag, i, t)
    np.add.at(diag, j, t)
    rows = np.concatenate([i, j, np.arange(n)])
    cols = np.concatenate([j, i, np.arange(n)])
    return sps.coo_matrix((np.concatenate([-t, -t, diag]), (rows, cols)), shape=(n, n)).tocsr()


def to_device(ops: Ops, a: sps.csr_matrix, dtype: str = "float64") -> Any:
    """The matrix on the backend: a SciPy CSR matrix, or a PyTorch sparse CSR tensor."""
    if not isinstance(ops, TorchOps):
        return a.astype(dtype)
    torch = ops.torch
    with warnings.catch_warnings():  # "sparse CSR support is in beta": it is what we want
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(a.indptr.astype(np.int64)),
            torch.from_numpy(a.indices.astype(np.int64)),
            torch.from_numpy(a.data.astype(dtype)),
            size=a.shape,
            check_invariants=True,
        ).to(ops.device)


def pcg(
    ops: Ops, mat: Any, inv_diag: Any, b: Any, x: Any, tol: float, max_iter: int
) -> tuple[Any, int]:
    """Jacobi-preconditioned conjugate gradients from ``x`` (updated in place).

    Stops when ``|r| <= tol |b|`` (``tol=0``: never) or after ``max_iter`` iterations.
    Returns the solution and the iterations done.
    """
    dot = getattr(ops, "torch", np).dot
    r = b - mat @ x
    z = inv_diag * r
    d = z.copy() if isinstance(z, np.ndarray) else z.clone()
    rz = dot(r, z)
    stop = tol * math.sqrt(float(dot(b, b)))
    its = 0
    while its < max_iter and (tol == 0 or math.sqrt(float(dot(r, r))) > stop):
        q = mat @ d
        alpha = rz / dot(d, q)
        x += alpha * d
        r -= alpha * q
        z = inv_diag * r
        rz_new = dot(r, z)
        d = z + (rz_new / rz) * d
        rz = rz_new
        its += 1
    return x, its


def iteration_flops(n: int, nnz: int) -> int:
    """One PCG iteration: the sparse product (2 nnz) and 12 n for the dots and updates."""
    return 2 * nnz + 12 * n


def iteration_bytes(n: int, nnz: int, itemsize: int) -> int:
    """One PCG iteration: the matrix (values plus 8-byte column indices) and about 10 vectors."""
    return nnz * (itemsize + 8) + 10 * n * itemsize


# --- the benchmark kernel ------------------------------------------------------------------


def _matrix(p: dict[str, Any], perm: np.ndarray) -> sps.csr_matrix:
    # Backward Euler for 1 hour: phi c_t V / dt on the diagonal (0.2, 1e-9 /Pa, 10 m cells).
    storage = np.full(perm.size, 0.2 * 1e-9 * 10.0 * 10.0 * 10.0 / 3600.0)
    return assemble(np.asarray(perm, np.float64), 10.0, 10.0, 1e-3, storage)


def make_inputs(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A log-normal, correlated permeability field (m^2) and a random right-hand side."""
    n = p["size"]
    field = ndi.gaussian_filter(rng.standard_normal((n, n)), sigma=2.0)
    perm = 1e-13 * np.exp(field / max(float(field.std()), 1e-12))
    return perm.astype(p["dtype"]), rng.standard_normal(n * n).astype(p["dtype"])


def compute(ops: Ops, inputs: tuple[Any, ...], p: dict[str, Any]) -> Any:
    """Assemble the matrix (on the host), then ``iterations`` PCG iterations from zero."""
    perm, b = inputs
    a = _matrix(p, ops.to_host(perm))
    mat = to_device(ops, a, p["dtype"])
    inv_diag = ops.to_device((1.0 / a.diagonal()).astype(p["dtype"]))
    x = b * 0
    return pcg(ops, mat, inv_diag, b, x, 0.0, p["iterations"])[0]


def reference(inputs: tuple[np.ndarray, ...], p: dict[str, Any]) -> np.ndarray:
    """``scipy.sparse.linalg.cg`` in float64 with the same Jacobi preconditioner and count."""
    perm, b = inputs
    a = _matrix(p, perm)
    m = sps.diags(1.0 / a.diagonal())
    x, _ = spla.cg(a, b.astype(np.float64), rtol=0.0, atol=0.0, maxiter=p["iterations"], M=m)
    return x


def compare(result: np.ndarray, ref: np.ndarray, inputs: tuple, p: dict[str, Any]) -> float:
    """Max error relative to the largest reference value."""
    return max_rel_error(result, ref)


def flops(p: dict[str, Any]) -> int:
    """``iterations * (2 nnz + 12 n)`` with ``n = size^2`` cells and ``nnz = 5n - 4 size``."""
    n = p["size"] ** 2
    return p["iterations"] * iteration_flops(n, 5 * n - 4 * p["size"])


def nbytes(p: dict[str, Any]) -> int:
    """``iterations * (nnz (itemsize + 8) + 10 n itemsize)``."""
    n = p["size"] ** 2
    return p["iterations"] * iteration_bytes(
        n, 5 * n - 4 * p["size"], np.dtype(p["dtype"]).itemsize
    )


def tolerance(p: dict[str, Any]) -> float:
    """``1e-3`` in float32 (CG recurrences amplify rounding), ``1e-8`` in float64."""
    return 1e-3 if p["dtype"] == "float32" else 1e-8


def _validate(p: dict[str, Any]) -> None:
    positive("pressure", p, "size", "iterations")


KERNEL = Kernel(
    name="pressure",
    summary="Jacobi-PCG iterations on a 2D heterogeneous reservoir pressure matrix",
    defaults={"size": 512, "iterations": 50},
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

"""Devices and array backends: resolve ``device``/``backend``, move arrays, synchronise.

A kernel's ``compute`` is written once against the small ``Ops`` surface below; NumPy
(CPU only) and PyTorch (``cpu`` or ``cuda``) implement it. PyTorch is imported lazily, so
everything on the NumPy path works without it.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from tessera.errors import SpecError
from tessera.kernels._base import BACKENDS
from tessera.kernels.filters import reflect_indices, separable_numpy

logger = logging.getLogger(__name__)

_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class Target:
    """Where a kernel runs: a normalised device (``cpu`` or ``cuda:N``) and a backend."""

    device: str
    backend: str

    @property
    def is_accelerator(self) -> bool:
        """True when data must be copied to a device's own memory."""
        return self.device != "cpu"


def import_torch() -> ModuleType:
    """Import PyTorch or raise a ``SpecError`` saying how to get it."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise SpecError(
            f"the torch backend needs PyTorch, which is not installed ({exc})",
            "install the extra with `pip install 'tessera[torch]'`, or use backend=numpy on device=cpu",
        ) from exc


def resolve_target(device: str | None, backend: str | None) -> Target:
    """Normalise a device string and choose the backend.

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` means ``cpu``.
        backend: ``numpy`` or ``torch``; ``None`` means numpy on the CPU, torch on CUDA.

    Returns:
        The target; for CUDA it has been checked to exist.

    Raises:
        SpecError: an unknown device or backend, numpy on CUDA, or CUDA that is not there.
    """
    match = _DEVICE.match(str(device or "cpu").strip().lower())
    if not match:
        raise SpecError(
            f"unknown device {device!r}",
            "use device 'cpu', 'cuda' or 'cuda:N' (N = GPU index)",
        )
    kind, index = match.group(1), match.group(2)
    norm = "cpu" if kind == "cpu" else f"cuda:{int(index or 0)}"
    chosen = backend or ("numpy" if kind == "cpu" else "torch")
    if chosen not in BACKENDS:
        raise SpecError(
            f"unknown backend {backend!r}",
            f"use backend one of: {', '.join(BACKENDS)}",
        )
    if chosen == "numpy" and kind == "cuda":
        raise SpecError(
            f"backend numpy cannot run on {norm}",
            "use backend=torch for CUDA devices, or device=cpu for numpy",
        )
    if kind == "cuda":
        _check_cuda(int(index or 0))
    return Target(norm, chosen)


def _check_cuda(index: int) -> None:
    torch = import_torch()
    if not torch.cuda.is_available():
        raise SpecError(
            f"device cuda:{index} was asked for but CUDA is not available here "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})",
            "run on a machine with an NVIDIA GPU and a CUDA build of PyTorch, or use device=cpu",
        )
    count = torch.cuda.device_count()
    if index >= count:
        raise SpecError(
            f"device cuda:{index} does not exist; this machine has {count} CUDA device(s)",
            f"use an index from 0 to {count - 1}",
        )


def _ieee_float32(torch: ModuleType) -> None:
    """Turn TF32 off for cuDNN convolutions and cuBLAS matmuls (process-wide).

    cuDNN convolutions default to TF32 on Ampere and later, whose 10-bit mantissa would put
    float32 results ~1e-3 off the reference; kernels are measured at full float32 precision.
    """
    cudnn_conv = getattr(torch.backends.cudnn, "conv", None)
    if cudnn_conv is not None and hasattr(cudnn_conv, "fp32_precision"):
        cudnn_conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    else:  # PyTorch before the fp32_precision API
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def make_ops(target: Target, threads: int | None = None) -> Ops:
    """The ``Ops`` implementation for a target."""
    if target.backend == "numpy":
        return NumpyOps(threads)
    return TorchOps(target.device, threads)


class Ops:
    """The array operations kernels are written against (NumPy implementation)."""

    name = "numpy"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def to_device(self, x: np.ndarray) -> Any:
        """Copy a host array to the device (no copy on the CPU)."""
        return x

    def to_host(self, x: Any) -> np.ndarray:
        """Copy a device array to host memory, waiting for it."""
        return np.asarray(x)

    def sync(self) -> None:
        """Wait until queued device work has finished."""

    def release(self) -> None:
        """Give cached device memory back after a run."""

    def separable(self, x: Any, passes: Sequence[tuple[int, np.ndarray]]) -> Any:
        """1-D correlations (SciPy ``mode='reflect'``) along the last two axes, in order."""
        return separable_numpy(x, passes, self.threads)

    def amax(self, x: Any, axes: tuple[int, ...]) -> Any:
        """Maximum over axes, keeping them as size 1."""
        return x.max(axis=axes, keepdims=True)

    def floor_index(self, x: Any, high: int) -> Any:
        """``clip(floor(x), 0, high)`` as int64."""
        return np.clip(np.floor(x), 0, high).astype(np.int64)

    def bincount(self, x: Any, length: int) -> Any:
        """Counts of each integer in ``x`` (flattened), ``length`` bins."""
        return np.bincount(x.reshape(-1), minlength=length)

    def const(self, values: Sequence[float], like: Any) -> Any:
        """A small constant vector on the device, with ``like``'s dtype."""
        return np.asarray(values, dtype=like.dtype)

    def cast(self, x: Any, like: Any) -> Any:
        """``x`` converted to ``like``'s dtype."""
        return x.astype(like.dtype)

    def stack(self, arrays: Sequence[Any]) -> Any:
        """Stack equal-shaped arrays along a new first axis."""
        return np.stack(arrays)


NumpyOps = Ops


class TorchOps(Ops):
    """PyTorch implementation; the same code runs on ``cpu`` and ``cuda:N``."""

    name = "torch"

    def __init__(self, device: str, threads: int | None = None) -> None:
        super().__init__(threads)
        self.torch = import_torch()
        self.device = self.torch.device(device)
        self.cuda = self.device.type == "cuda"
        if threads and not self.cuda:
            self.torch.set_num_threads(threads)
        if self.cuda:
            _ieee_float32(self.torch)

    def to_device(self, x: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(x))
        return t.to(self.device) if self.cuda else t

    def to_host(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def release(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)
            self.torch.cuda.empty_cache()

    def separable(self, x: Any, passes: Sequence[tuple[int, np.ndarray]]) -> Any:
        f = self.torch.nn.functional
        shape = x.shape
        out = x.reshape(-1, 1, shape[-2], shape[-1])
        for axis, w in passes:
            along_rows = axis % x.ndim == x.ndim - 2
            radius = len(w) // 2
            dim = 2 if along_rows else 3
            idx = reflect_indices(out.shape[dim], radius)
            padded = out.index_select(dim, self.torch.as_tensor(idx, device=self.device))
            taps = self.torch.as_tensor(w, dtype=x.dtype, device=self.device)
            weight = taps.reshape(1, 1, -1, 1) if along_rows else taps.reshape(1, 1, 1, -1)
            out = f.conv2d(padded, weight)
        return out.reshape(shape)

    def amax(self, x: Any, axes: tuple[int, ...]) -> Any:
        return x.amax(dim=axes, keepdim=True)

    def floor_index(self, x: Any, high: int) -> Any:
        return self.torch.floor(x).clamp(0, high).long()

    def bincount(self, x: Any, length: int) -> Any:
        return self.torch.bincount(x.reshape(-1), minlength=length)

    def const(self, values: Sequence[float], like: Any) -> Any:
        return self.torch.tensor(values, dtype=like.dtype, device=self.device)

    def cast(self, x: Any, like: Any) -> Any:
        return x.to(like.dtype)

    def stack(self, arrays: Sequence[Any]) -> Any:
        return self.torch.stack(list(arrays))

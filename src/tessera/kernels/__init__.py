"""Built-in compute kernels (matmul, image, blur) and ``run_job``, their worker entry point.

Each kernel has one code path for NumPy (CPU) and PyTorch (``cpu``/``cuda``), a float64
reference, and formulas for its FLOPs and the minimum bytes it moves. See docs/kernels.md.
"""

from __future__ import annotations

from tessera.kernels._base import COMMON_DEFAULTS, Kernel
from tessera.kernels.backends import Target, resolve_target
from tessera.kernels.peak import measure_peak
from tessera.kernels.registry import REGISTRY, get, names
from tessera.kernels.runner import run_job

__all__ = [
    "COMMON_DEFAULTS",
    "REGISTRY",
    "Kernel",
    "Target",
    "get",
    "measure_peak",
    "names",
    "resolve_target",
    "run_job",
]

"""Benchmark cases and the ``seed``, ``sweep``, ``domain`` and ``full`` suites that list them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tessera.errors import SpecError

logger = logging.getLogger(__name__)

SUITES = ("seed", "sweep", "domain", "full")
#: Blur size and sigma for the seed's "Gaussian Blur" row (the seed does not state them).
SEED_BLUR_SIZE = 4096
SEED_BLUR_SIGMA = 3.0
#: Sizes swept per kernel to find where the GPU overtakes the CPU.
SWEEP_SIZES: Mapping[str, tuple[int, ...]] = {
    "matmul": (128, 256, 512, 1024, 2048, 4096, 8192),
    "image": (256, 512, 1024, 2048, 4096),
    "blur": (256, 512, 1024, 2048, 4096, 8192),
}
#: Sizes are rounded to this multiple after scaling (image needs even sizes).
_MULTIPLE = 16


@dataclass(frozen=True)
class Case:
    """One benchmark case: a kernel with its own parameters, run once per device.

    Attributes:
        label: the row name in reports (``Matrix 1000x1000``).
        kernel: registry name.
        params: kernel parameters only (no device, repeat or check).
        suite: ``seed`` or ``sweep``.
    """

    label: str
    kernel: str
    params: Mapping[str, Any] = field(default_factory=dict)
    suite: str = "seed"


def scaled(size: int, scale: float) -> int:
    """``size * scale`` rounded to a multiple of 16, at least 16."""
    return max(_MULTIPLE, int(round(size * scale / _MULTIPLE)) * _MULTIPLE)


def seed_cases(scale: float = 1.0) -> list[Case]:
    """The seed benchmark's nine rows, with every size multiplied by ``scale``."""
    cases = []
    for n in (1000, 5000, 8000, 10000):
        m = n if scale == 1.0 else scaled(n, scale)
        cases.append(Case(f"Matrix {m}x{m}", "matmul", {"n": m}))
    for size in (2048, 4096):
        s = scaled(size, scale)
        for batch in (1, 2):
            cases.append(
                Case(f"Image {s}x{s} (batch {batch})", "image", {"size": s, "batch": batch})
            )
    s = scaled(SEED_BLUR_SIZE, scale)
    cases.append(Case(f"Gaussian blur {s}x{s}", "blur", {"size": s, "sigma": SEED_BLUR_SIGMA}))
    return cases


def sweep_cases(scale: float = 1.0) -> list[Case]:
    """For each kernel, its sweep sizes times ``scale`` (duplicates after rounding dropped)."""
    cases = []
    for kernel, sizes in SWEEP_SIZES.items():
        for size in sorted({scaled(s, scale) for s in sizes}):
            key = "n" if kernel == "matmul" else "size"
            cases.append(Case(f"{kernel} {size}", kernel, {key: size}, suite="sweep"))
    return cases


def domain_cases(scale: float = 1.0) -> list[Case]:
    """The domain kernels at their benchmark sizes: the seismic stencil, Monte Carlo paths and
    the reservoir pressure solver's iterations."""
    s = scaled(512, scale)
    paths = max(1000, int(1_000_000 * scale))
    return [
        Case(f"Acoustic wave {s}x{s} (200 steps)", "wave", {"size": s, "steps": 200}, "domain"),
        Case(f"Monte Carlo option ({paths} paths)", "mc_option", {"paths": paths}, "domain"),
        Case(f"Reservoir PCG {s}x{s} (50 iterations)", "pressure", {"size": s}, "domain"),
    ]


def build_cases(suite: str = "seed", scale: float = 1.0) -> list[Case]:
    """The cases of a suite.

    Args:
        suite: ``seed`` (the seed's rows), ``sweep`` (sizes per kernel), ``domain`` (the
            domain kernels: wave stencil, Monte Carlo) or ``full`` (all three).
        scale: factor on every size, e.g. 0.25 for a quick run on a small machine.

    Raises:
        SpecError: unknown suite or a scale that is not positive.
    """
    if suite not in SUITES:
        raise SpecError(f"unknown suite {suite!r}", f"use one of: {', '.join(SUITES)}")
    if not scale > 0:
        raise SpecError(f"scale must be positive, got {scale}", "give a scale such as 0.25 or 1")
    cases: list[Case] = []
    if suite in ("seed", "full"):
        cases += seed_cases(scale)
    if suite in ("sweep", "full"):
        cases += sweep_cases(scale)
    if suite in ("domain", "full"):
        cases += domain_cases(scale)
    return cases
